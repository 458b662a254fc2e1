"""The wired provisioner end to end: a real nats-server, JetStream store, real Ironic and sushy-tools.

Hosts are declared through a command handler as the Kubernetes adapter will; ``run_provisioner``
runs in a TaskGroup; an independent hosts view (``HostWatcher``) is what the tests wait on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, Final

import msgspec
import pytest
import structlog

from adapters.ironic.client import IronicClient
from adapters.ironic.errors import IronicNotFound
from adapters.ironic.provisioning import ProvisionerSettings
from adapters.nats.eventstore import JetStreamEventStore
from core.events.host_values import ErrorType
from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.sushy import FakeNic, FakeSystem, SushyEmulator
from metalstream.provisioning.drivers import BmcDriverMapping
from metalstream.provisioning.observations import ACTOR
from metalstream.provisioning.running import run_provisioner
from metalstream.provisioning.static_secrets import StaticHostSecrets
from tests.adapters.ironic.conftest import endpoint_for, provision_transitions
from tests.adapters.ironic.spy import SpyClient
from tests.metalstream.fleet import (
    NAMESPACE,
    PASSWORD,
    PS,
    USER_NAME,
    HostWatcher,
    User,
    host_spec,
    provisioned_with,
    unique_mac,
)

pytestmark = pytest.mark.timeout(300)

FAST: Final = ProvisionerSettings(
    short_requeue=0.2, long_requeue=0.3, steady_requeue=1.0, jitter=0.0, transient_backoff_max=1.0
)
DRIVERS: Final = BmcDriverMapping(fake_deploy=True)
SYSTEM: Final = FakeSystem(
    uuid="44444444-0000-0000-0000-000000000001",
    name="e2e-rf",
    nics=(FakeNic(mac="52:54:00:44:00:01", ip="192.0.2.41"),),
    cpus=6,
    memory_gb=12,
)


@contextlib.asynccontextmanager
async def background(**work: Coroutine[Any, Any, None]) -> AsyncIterator[dict[str, asyncio.Task[None]]]:
    """Run ``work`` as children of a TaskGroup for the block's duration, then cancel them."""
    async with asyncio.TaskGroup() as group:
        tasks = {name: group.create_task(coro, name=name) for name, coro in work.items()}
        yield tasks
        for task in tasks.values():
            task.cancel()


def provisioner(
    store: JetStreamEventStore, client: IronicClient, secrets: StaticHostSecrets
) -> Coroutine[Any, Any, None]:
    return run_provisioner(
        store=store, client=client, secrets=secrets, drivers=DRIVERS, settings=FAST, concurrency=4
    )


async def event_types(user: User, host_id: str) -> list[str]:
    return [type(r.event).__name__ for r in await user.handler.history(host_id)]


async def test_hosts_are_provisioned_reprovisioned_and_deleted_through_jetstream_and_ironic(
    nats_store: JetStreamEventStore, client: IronicClient, ironic: IronicHarness
) -> None:
    secrets = StaticHostSecrets()
    user = User(nats_store, secrets)
    watcher = HostWatcher(nats_store)
    with structlog.testing.capture_logs() as logs:
        async with (
            SushyEmulator([SYSTEM], users={USER_NAME: PASSWORD}, power_delay=(0, 0)) as emulator,
            background(provisioner=provisioner(nats_store, client, secrets), watcher=watcher.runner.run()),
        ):
            addresses = {
                "fake-a": "fake-hardware://fake-a",
                "fake-b": "fake-hardware://fake-b",
                "redfish-0": emulator.address(SYSTEM),
            }
            macs = {name: unique_mac() for name in addresses} | {"redfish-0": SYSTEM.nics[0].mac}
            host_ids = [
                await user.apply(name, host_spec(address, image_number=1, mac=macs[name]))
                for name, address in addresses.items()
            ]
            await watcher.until(
                lambda view: all(
                    (r := view.get(h)) is not None and provisioned_with(1)(r.state) for h in host_ids
                ),
                deadline=90,
                what="all provisioned with image 1",
            )
            nodes = {h: (watcher.state(h) or pytest.fail(h)).provisioning_id or "" for h in host_ids}
            redfish = await client.get_node(nodes[f"{NAMESPACE}/redfish-0"])
            assert (redfish.driver, redfish.power_interface, redfish.deploy_interface) == (
                "fake-hardware",
                "redfish",
                "fake",
            )
            await watcher.until_host(
                f"{NAMESPACE}/redfish-0", lambda s: s.powered_on, deadline=30, what="powered on"
            )
            inspected = watcher.state(f"{NAMESPACE}/redfish-0")
            assert inspected is not None
            assert inspected.hardware is not None
            assert inspected.hardware.cpu.count == 6

            for name, address in addresses.items():
                await user.apply(name, host_spec(address, image_number=2, mac=macs[name]))
            await watcher.until(
                lambda view: all(
                    (r := view.get(h)) is not None and provisioned_with(2)(r.state) for h in host_ids
                ),
                deadline=90,
                what="all re-provisioned with image 2",
            )
            for host_id in host_ids:
                node = await client.get_node(nodes[host_id])
                assert node.instance_info["image_source"].endswith("os-2.qcow2")

            for host_id in host_ids:
                await user.delete(host_id)
            await watcher.until(
                lambda view: all(view.get(h) is None for h in host_ids), deadline=90, what="all deleted"
            )
            for node_uuid in nodes.values():
                with pytest.raises(IronicNotFound):
                    await client.get_node(node_uuid)

    for host_id in host_ids:
        assert provision_transitions(ironic.log_path, nodes[host_id]).count(("available", "deploying")) == 2
        history = await user.handler.history(host_id)
        types = [type(r.event).__name__ for r in history]
        assert types.count("ProvisioningCompleted") == 2, host_id
        assert "ErrorRecorded" not in types, host_id
        assert types[-1] == "HostDeleted"
        observed = {r.envelope.actor for r in history if type(r.event).__name__ == "ProvisioningCompleted"}
        assert observed == {ACTOR}
    stored = [
        msgspec.json.encode(record.event) + repr(record.envelope).encode()
        async for record in nats_store.read_all()
    ]
    assert not any(PASSWORD.encode() in item for item in stored)
    assert PASSWORD not in repr(logs)
    assert not [entry for entry in logs if entry["log_level"] == "error"]


async def test_a_provisioner_cancelled_mid_deploy_is_replaced_and_deploys_each_image_once(
    nats_store: JetStreamEventStore, ironic: IronicHarness
) -> None:
    secrets = StaticHostSecrets()
    user = User(nats_store, secrets)
    mac = unique_mac()
    host = await user.apply("restart-0", host_spec("fake-hardware://restart-0", image_number=1, mac=mac))
    node_uuid = ""
    for number in (1, 2):
        if number == 2:
            await user.apply("restart-0", host_spec("fake-hardware://restart-0", image_number=2, mac=mac))
        async with (
            SpyClient(endpoint_for(ironic), hang_after_deploy=True) as doomed,
            background(provisioner=provisioner(nats_store, doomed, secrets)),
        ):
            async with asyncio.timeout(60):
                await doomed.deploy_started.wait()
        # Cancelled with the deploy requested and nothing recorded about it.
        state, _ = await User(nats_store, secrets).handler.load(host)
        assert state.provisioning_state is PS.PROVISIONING

        watcher = HostWatcher(nats_store)
        async with (
            SpyClient(endpoint_for(ironic)) as survivor,
            background(provisioner=provisioner(nats_store, survivor, secrets), watcher=watcher.runner.run()),
        ):
            done = await watcher.until_host(
                host, provisioned_with(number), deadline=60, what=f"provisioned with image {number}"
            )
        assert "active" not in survivor.targets
        assert done.error_type is None
        node_uuid = done.provisioning_id or ""

    assert provision_transitions(ironic.log_path, node_uuid).count(("available", "deploying")) == 2
    types = await event_types(user, host)
    assert types.count("ProvisioningAttemptStarted") == 2
    assert types.count("ProvisioningCompleted") == 2
    assert "ErrorRecorded" not in types


async def test_an_unknown_bmc_type_is_a_registration_error_with_metal3s_message_until_fixed(
    nats_store: JetStreamEventStore, client: IronicClient
) -> None:
    secrets = StaticHostSecrets()
    user = User(nats_store, secrets)
    watcher = HostWatcher(nats_store)
    mac = unique_mac()
    async with background(provisioner=provisioner(nats_store, client, secrets), watcher=watcher.runner.run()):
        host = await user.apply(
            "typo-0", host_spec("redfsh://192.0.2.9/redfish/v1/Systems/1", image_number=None, mac=mac)
        )
        failed = await watcher.until_host(
            host, lambda s: s.error_type is ErrorType.REGISTRATION, deadline=30, what="a registration error"
        )
        assert (
            failed.error_message
            == "Unknown BMC type 'redfsh' for address redfsh://192.0.2.9/redfish/v1/Systems/1"
        )
        assert failed.provisioning_state is PS.REGISTERING

        await user.apply("typo-0", host_spec("fake-hardware://typo-0", image_number=None, mac=mac))
        ready = await watcher.until_host(
            host, lambda s: s.provisioning_state is PS.AVAILABLE, deadline=60, what="available"
        )
        assert ready.error_type is None
        await user.delete(host)
        await watcher.until(lambda view: view.get(host) is None, deadline=60, what="deleted")
