"""Crash and outage safety: nothing is deployed twice, nothing is lost."""

from __future__ import annotations

import asyncio

from adapters.ironic.client import IronicClient
from core.events.host_values import Image
from metalstream.devstack.ironic import IronicHarness
from tests.adapters.ironic.conftest import endpoint_for, provision_transitions
from tests.adapters.ironic.spy import SpyClient
from tests.adapters.ironic.world import PS, World, fake_spec

IMAGE = Image(url="http://127.0.0.1:1/os.qcow2", checksum="4" * 64, checksum_type="sha256")


async def test_provisioner_killed_mid_deploy_converges_without_a_second_deploy(
    client: IronicClient, ironic: IronicHarness
) -> None:
    world = World(client)
    async with SpyClient(endpoint_for(ironic), hang_after_deploy=True) as doomed:
        async with world.running(world.provisioner(doomed)):
            host = await world.apply("crash-0", fake_spec(online=True, image=IMAGE))
            async with asyncio.timeout(30):
                await doomed.deploy_started.wait()
        # The loop was cancelled with the deploy started and nothing recorded about it.
        assert (await world.state(host)).provisioning_state is PS.PROVISIONING
    async with SpyClient(endpoint_for(ironic)) as survivor, world.running(world.provisioner(survivor)):
        provisioned = await world.wait_state(host, PS.PROVISIONED)
        assert "active" not in survivor.targets
    node_uuid = provisioned.provisioning_id or ""
    assert provision_transitions(ironic.log_path, node_uuid).count(("available", "deploying")) == 1
    assert "ErrorRecorded" not in await world.event_types(host)


async def test_ironic_losing_its_database_gets_provisioned_hosts_adopted_not_redeployed(
    client: IronicClient, ironic: IronicHarness
) -> None:
    world = World(client)
    async with SpyClient(endpoint_for(ironic, timeout=2.0, connect_timeout=1.0)) as spy:
        async with world.running(world.provisioner(spy)):
            host = await world.apply("adopt-0", fake_spec(online=True, image=IMAGE))
            before = await world.wait_state(host, PS.PROVISIONED)
            old_node = before.provisioning_id or ""
            await world.wait_for(host, lambda s: s.powered_on, what="powered on")
            spy.targets.clear()

            await ironic.restart(wipe_db=True, graceful=False)  # Ironic comes back empty

            after = await world.wait_for(
                host,
                lambda s: s.provisioning_id not in (None, old_node) and not s.needs_adoption,
                deadline=90,
                what="re-registered and adopted",
            )
        assert after.provisioning_state is PS.PROVISIONED
        assert after.error_type is None
        assert "active" not in spy.targets
        assert "adopt" in spy.targets
    new_node = after.provisioning_id or ""
    changes = provision_transitions(ironic.log_path, new_node)
    assert ("adopting", "active") in changes
    assert not any(new == "deploying" for _, new in changes)
    types = await world.event_types(host)
    assert types.count("ProvisioningAttemptStarted") == 1
    assert types[-3:].count("Adopted") == 1 or "Adopted" in types
    assert "ErrorRecorded" not in types
