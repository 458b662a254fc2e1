from __future__ import annotations

import asyncio
from datetime import timedelta

from adapters.ironic import wire
from adapters.ironic.client import IronicClient
from core.events.host_values import BMCDetails, ErrorType, Image, SecretRef
from metalstream.devstack.ipmi_sim import BmcSpec, IpmiSimulator
from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.sushy import FakeNic, FakeSystem, SushyEmulator
from tests.adapters.ironic.conftest import provision_transitions, unique_mac
from tests.adapters.ironic.world import NAMESPACE, PS, World, fake_spec

RIGHT = "Right-pw-9f2e"
SYSTEM = FakeSystem(
    uuid="33333333-0000-0000-0000-000000000001",
    name="prov-rf",
    nics=(FakeNic(mac="52:54:00:33:00:01", ip="192.0.2.31"),),
    cpus=8,
    memory_gb=32,
)


def registration_failed(message_part: str):  # type: ignore[no-untyped-def]
    return lambda s: s.error_type is ErrorType.REGISTRATION and message_part in s.error_message


async def test_wrong_redfish_password_is_a_registration_error_until_the_secret_is_fixed(
    client: IronicClient,
) -> None:
    world = World(client)
    async with (
        SushyEmulator([SYSTEM], users={"admin": RIGHT}, power_delay=(0, 0)) as emulator,
        world.running(),
    ):
        spec = fake_spec(
            bmc=BMCDetails(address=emulator.address(SYSTEM), credentials_name="rf-secret"),
            boot_mac_address="52:54:00:33:00:01",
            inspection_mode="fast",
        )
        host = await world.apply("rf-0", spec, password="wrong-pw-1")
        failed = await world.wait_for(host, registration_failed("401"), deadline=60, what="a 401 error")
        assert failed.provisioning_state is PS.REGISTERING
        assert "Incorrect username or password" in failed.error_message
        assert "wrong-pw-1" not in failed.error_message
        print("registration error:", failed.error_message)

        await world.set_credentials(host, "rf-secret", RIGHT)
        ready = await world.wait_state(host, PS.AVAILABLE, deadline=90)
        assert ready.error_type is None
        assert ready.good_credentials is not None
        assert ready.hardware is not None
        assert ready.hardware.cpu.count == 8
        assert ready.hardware.ram_mebibytes == 32 * 1024
        assert [n.mac for n in ready.hardware.nics] == ["52:54:00:33:00:01"]

        await world.delete(host)
        await world.wait_for(host, lambda s: s.deleted, deadline=60, what="deleted")
    types = await world.event_types(host)
    assert types.count("ErrorRecorded") == 1
    assert "HardwareInspected" in types


async def test_wrong_ipmi_password_is_a_registration_error_until_the_secret_is_fixed(
    client: IronicClient,
) -> None:
    world = World(client)
    async with (
        IpmiSimulator([BmcSpec(name="ipmi-0", username="admin", password=RIGHT)]) as sim,
        world.running(),
    ):
        bmc = sim.endpoint("ipmi-0")
        spec = fake_spec(
            bmc=BMCDetails(address=f"ipmi://{bmc.host}:{bmc.port}", credentials_name="ipmi-secret")
        )
        host = await world.apply("ipmi-0", spec, password="wrong-pw-2")
        failed = await world.wait_for(host, registration_failed("IPMI call failed"), deadline=60)
        assert "wrong-pw-2" not in failed.error_message
        print("registration error:", failed.error_message)
        await world.set_credentials(host, "ipmi-secret", RIGHT)
        ready = await world.wait_state(host, PS.AVAILABLE, deadline=60)
        assert ready.error_type is None
        node = await client.get_node(ready.provisioning_id or "")
        assert (node.power_interface, node.deploy_interface) == ("ipmitool", "fake")


async def test_unknown_bmc_type_and_mac_conflict_are_registration_errors(client: IronicClient) -> None:
    world = World(client)
    mac = unique_mac()
    other = await client.create_node(wire.NodeCreate(name="other~owner", driver="fake-hardware"))
    await client.create_port(other.uuid, mac)
    try:
        async with world.running():
            bogus = await world.apply(
                "bogus-0", fake_spec(bmc=BMCDetails(address="bogus://x", credentials_name="s"))
            )
            await world.wait_for(bogus, registration_failed("Unknown BMC type 'bogus' for address bogus://x"))
            taken = await world.apply("taken-0", fake_spec(boot_mac_address=mac))
            state = await world.wait_for(
                taken, registration_failed("conflicts with existing node other~owner")
            )
            assert state.error_message == f"MAC address {mac} conflicts with existing node other~owner"
            await asyncio.sleep(0.5)
            assert (await world.state(taken)).error_count == 1
    finally:
        await client.delete_node(other.uuid)


async def test_deploy_failure_is_a_provisioning_error_retried_until_the_limit(
    client: IronicClient, ironic: IronicHarness
) -> None:
    world = World(client)
    image = Image(url="http://127.0.0.1:1/broken.qcow2", checksum="3" * 64, checksum_type="sha256")
    spec = fake_spec(
        bmc=BMCDetails(address="fake-direct://bmc", credentials_name="bmc-secret"),
        online=True,
        image=image,
        automated_cleaning_mode="disabled",
    )
    async with world.running():
        host = await world.apply("broken-0", spec, max_provisioning_retries=2)
        first = await world.wait_for(
            host,
            lambda s: s.provisioning_state is PS.PROVISIONING and s.provisioning_fail_count == 1,
            deadline=60,
            what="the second attempt waiting",
        )
        assert first.error_type is ErrorType.PROVISIONING
        assert first.error_message.startswith(
            f"Image provisioning failed (url: {image.url}, checksum: {image.checksum}): "
            "Failed to prepare to deploy: Validation of image href"
        )
        print("provisioning error:", first.error_message)
        await asyncio.sleep(1.0)  # the retry waits for retry_not_before (minutes away)
        node = await client.get_node(first.provisioning_id or "")
        assert node.state == "available"

        world.clock_offset = timedelta(hours=1)
        limited = await world.wait_for(
            host,
            lambda s: s.provisioning_state is PS.AVAILABLE and "retry limit (2) reached" in s.error_message,
            deadline=60,
            what="the retry limit",
        )
        assert limited.provisioning_fail_count == 2
        assert limited.error_message == (
            "provisioning failed 2 times, retry limit (2) reached; change image or reset "
            "provisioningFailCount to retry"
        )
        await asyncio.sleep(1.0)
    deploys = provision_transitions(ironic.log_path, node.uuid).count(("available", "deploying"))
    assert deploys == 2


async def test_a_missing_user_data_secret_is_a_provisioning_error_until_it_exists(
    client: IronicClient,
) -> None:
    world = World(client)
    image = Image(url="http://127.0.0.1:1/os.qcow2", checksum="4" * 64, checksum_type="sha256")
    spec = fake_spec(
        bmc=BMCDetails(address="fake://bmc", credentials_name="bmc-secret"),
        online=True,
        image=image,
        user_data=SecretRef(name="worker-user-data"),
        automated_cleaning_mode="disabled",
    )
    async with world.running():
        host = await world.apply("userdata-0", spec)
        failed = await world.wait_for(
            host, lambda s: s.error_type is ErrorType.PROVISIONING, deadline=60, what="a host data error"
        )
        assert "the userData Secret metal3/worker-user-data does not exist" in failed.error_message
        assert failed.provisioning_id is not None
        node = await client.get_node(failed.provisioning_id)
        assert node.state == "available"  # nothing was sent to Ironic without its config drive

        world.secrets.user[(NAMESPACE, "worker-user-data")] = "#cloud-config\n"
        world.clock_offset = timedelta(hours=1)  # past the retry backoff
        provisioned = await world.wait_state(host, PS.PROVISIONED, deadline=90)
        assert provisioned.error_type is None
