from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.ironic import wire
from adapters.ironic.client import IronicClient
from adapters.ironic.errors import IronicNotFound
from adapters.ironic.provisioning import ReconcileResult
from core.aggregates.host_state import HostState
from core.events.host_values import Image
from tests.adapters.ironic.conftest import unique, wait_for_state
from tests.adapters.ironic.world import FAST, PS, World, fake_spec

IMAGE = Image(url="http://127.0.0.1:1/os.qcow2", checksum="5" * 32)


class Holding:
    """Lets the provisioner act except while the host is in ``hold`` (the test's chosen state)."""

    def __init__(self, world: World, hold: PS) -> None:
        self._inner = world.provisioner()
        self.hold = hold

    async def reconcile(self, state: HostState) -> ReconcileResult:
        if state.provisioning_state is self.hold:
            return ReconcileResult(0.05)
        return await self._inner.reconcile(state)


@pytest.mark.parametrize(
    ("state", "with_image"),
    [
        pytest.param(PS.REGISTERING, False, id="registering"),
        pytest.param(PS.INSPECTING, False, id="inspecting"),
        pytest.param(PS.PREPARING, False, id="preparing"),
        pytest.param(PS.AVAILABLE, False, id="available"),
        pytest.param(PS.PROVISIONING, True, id="provisioning"),
        pytest.param(PS.PROVISIONED, True, id="provisioned"),
    ],
)
async def test_host_is_deleted_from_any_state(client: IronicClient, state: PS, with_image: bool) -> None:
    world = World(client)
    holding = Holding(world, state)
    async with world.running(holding):  # type: ignore[arg-type]
        spec = fake_spec(online=True, image=IMAGE if with_image else None)
        host = await world.apply(f"del-{state.value.replace(' ', '-')}", spec)
        reached = await world.wait_state(host, state)
        holding.hold = PS.NONE
        await world.delete(host)
        gone = await world.wait_for(host, lambda s: s.deleted, what="deleted")
    assert gone.provisioning_id is None
    node_id = reached.provisioning_id
    if node_id is not None:
        with pytest.raises(IronicNotFound):
            await client.get_node(node_id)
    with pytest.raises(IronicNotFound):
        await client.get_node(f"metal3~{reached.name}")


async def test_capacity_limit_delays_hosts_while_ironic_is_busy(client: IronicClient) -> None:
    blocker = await client.create_node(
        wire.NodeCreate(name=unique("busy"), driver="fake-hardware", deploy_interface="custom-agent")
    )
    await client.patch_node(blocker.uuid, [wire.PatchOp(op="add", path="/automated_clean", value=False)])
    await client.set_provision_state(blocker.uuid, "manage")
    await wait_for_state(client, blocker.uuid, "manageable")
    await client.set_provision_state(blocker.uuid, "provide")
    await wait_for_state(client, blocker.uuid, "available")
    steps = [wire.Step(interface="deploy", step="install_foo", priority=80, args={})]
    await client.set_provision_state(blocker.uuid, "active", deploy_steps=steps)
    await wait_for_state(client, blocker.uuid, "wait call-back", settled=False)

    world = World(client, settings=replace(FAST, provisioning_limit=1))
    try:
        async with world.running():
            host = await world.apply("queued-0", fake_spec())
            delayed = await world.wait_for(host, lambda s: s.delayed, what="delayed")
            assert delayed.provisioning_state is PS.INSPECTING
            await asyncio.sleep(0.5)
            assert (await world.state(host)).provisioning_state is PS.INSPECTING

            await client.set_provision_state(blocker.uuid, "deleted")
            ready = await world.wait_state(host, PS.AVAILABLE)
            assert not ready.delayed
        types = await world.event_types(host)
        assert types.count("Delayed") == 1
        assert types.count("Undelayed") + types.count("ProvisioningStateChanged") >= 1
    finally:
        await wait_for_state(client, blocker.uuid, "available")
        await client.delete_node(blocker.uuid)
