from __future__ import annotations

import pytest
from msgspec.structs import replace

from adapters.ironic.client import IronicClient
from adapters.ironic.errors import IronicNotFound
from core.aggregates import host_commands as cmd
from core.events.host_values import ErrorType, HardwareRAIDVolume, Image, RAIDConfig
from metalstream.devstack.ironic import IronicHarness
from tests.adapters.ironic.conftest import provision_transitions
from tests.adapters.ironic.world import PS, World, fake_spec

IMAGE_1 = Image(
    url="http://127.0.0.1:1/os-1.qcow2", checksum="1" * 64, checksum_type="sha256", format="qcow2"
)
IMAGE_2 = Image(url="http://127.0.0.1:1/os-2.raw", checksum="2" * 32, format="raw")


async def test_host_is_provisioned_reprovisioned_and_deleted(
    client: IronicClient, ironic: IronicHarness
) -> None:
    world = World(client)
    async with world.running():
        host = await world.apply("life-0", fake_spec(online=True))
        available = await world.wait_state(host, PS.AVAILABLE)
        assert available.provisioning_id is not None
        assert available.hardware is not None
        assert available.error_type is None
        node = await client.get_node(available.provisioning_id)
        assert node.name == "metal3~life-0"
        assert node.extra["metalstream_credentials"] == "1"
        assert [p.address for p in await client.list_ports(node.uuid)] == [available.spec.boot_mac_address]

        await world.apply(
            "life-0", fake_spec(online=True, image=IMAGE_1, boot_mac_address=available.spec.boot_mac_address)
        )
        provisioned = await world.wait_state(host, PS.PROVISIONED)
        assert provisioned.provisioned_image == IMAGE_1
        node = await client.get_node(node.uuid)
        assert node.state == "active"
        assert node.instance_info["image_source"] == IMAGE_1.url
        assert node.instance_info["image_os_hash_algo"] == "sha256"
        assert node.instance_uuid == provisioned.uid
        await world.wait_for(host, lambda s: s.powered_on, what="powered on")

        await world.declare(host, cmd.RequestReboot(now=world.now(), mode="soft"))
        rebooted = await world.wait_for(host, lambda s: not s.reboot_requests, what="rebooted")
        assert rebooted.powered_on
        reboot_events = [
            t for t in await world.event_types(host) if t in ("PowerObserved", "RebootCompleted")
        ]
        assert reboot_events[-3:] == ["PowerObserved", "PowerObserved", "RebootCompleted"]

        spec2 = fake_spec(online=True, image=IMAGE_2, boot_mac_address=available.spec.boot_mac_address)
        await world.apply("life-0", spec2)
        reprovisioned = await world.wait_for(
            host,
            lambda s: s.provisioning_state is PS.PROVISIONED and s.provisioned_image == IMAGE_2,
            what="provisioned with image 2",
        )
        node = await client.get_node(node.uuid)
        assert node.instance_info["image_source"] == IMAGE_2.url
        assert node.instance_info["image_checksum"] == IMAGE_2.checksum
        assert reprovisioned.error_count == 0

        await world.delete(host)
        gone = await world.wait_for(host, lambda s: s.deleted, what="deleted")
        assert gone.provisioning_id is None
        with pytest.raises(IronicNotFound):
            await client.get_node(node.uuid)

    changes = provision_transitions(ironic.log_path, node.uuid)
    assert changes.count(("available", "deploying")) == 2
    assert ("active", "deleting") in changes
    types = await world.event_types(host)
    assert types.count("ProvisioningCompleted") == 2
    assert types.count("DeprovisioningCompleted") == 2
    assert "ErrorRecorded" not in types


async def test_raid_is_requested_by_manual_cleaning_and_its_failure_is_a_preparation_error(
    client: IronicClient, ironic: IronicHarness
) -> None:
    """fake-hardware's RAID interface has no clean steps, so Ironic fails the manual cleaning."""
    raid = RAIDConfig(hardware_raid_volumes=(HardwareRAIDVolume(level="1", size_gibibytes=100, name="root"),))
    world = World(client)
    async with world.running():
        spec = fake_spec(raid=raid, inspection_mode="disabled")
        host = await world.apply("raid-0", spec)
        failed = await world.wait_for(host, lambda s: s.error_type is ErrorType.PREPARATION, what="an error")
        assert failed.provisioning_state is PS.PREPARING
        assert "node does not support this clean step" in failed.error_message
        assert "'step': 'delete_configuration'" in failed.error_message
        node = await client.get_node(failed.provisioning_id or "")
        assert node.extra["metalstream_preparation"]
        assert ("manageable", "cleaning") in provision_transitions(ironic.log_path, node.uuid)

        await world.apply("raid-0", replace(spec, raid=None))
        ready = await world.wait_state(host, PS.AVAILABLE)
        assert ready.error_type is None
