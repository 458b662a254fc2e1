"""BMC observations reach the host's event log through the command handler (real emulators)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from adapters.bmc import addresses, commanding, observing
from adapters.bmc.credentials import Credentials
from adapters.bmc.ports import PowerAction
from adapters.bmc.redfish import RedfishClient
from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.aggregates.host_state import HostState
from core.events.base import Event
from core.events.codec import encode
from core.events.host_values import BMCDetails, CredentialsRef, ErrorType, HostSpec
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.devstack.ipmi_sim import IpmiSimulator
from metalstream.devstack.sushy import SushyEmulator
from metalstream.registry import CODECS
from tests.adapters.bmc.conftest import PASSWORD, USER, free_port, ipmi_client, redfish_client, wait_until
from tests.fakes.memory_eventstore import MemoryEventStore

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
BMC = CommandContext(actor="bmc")


async def _host(handler: CommandHandler[HostState, cmd.HostCommand], address: str) -> str:
    host_id = "metal3/worker-0"
    spec = HostSpec(bmc=BMCDetails(address=address, credentials_name="worker-0-bmc"), online=True)
    await handler.handle(
        host_id,
        cmd.ApplySpec(namespace="metal3", name="worker-0", uid="u1", generation=1, spec=spec, now=NOW),
        CommandContext(actor="k8s"),
    )
    await handler.handle(
        host_id,
        cmd.ObserveCredentials(secret_name="worker-0-bmc", version="7", now=NOW),
        CommandContext(actor="k8s"),
    )
    return host_id


async def _record(
    handler: CommandHandler[HostState, cmd.HostCommand], host_id: str, seen: observing.Observation
) -> list[str]:
    recorded: list[str] = []
    for command in commanding.commands_for(seen, now=NOW, credentials_version="7"):
        outcome = await handler.handle(host_id, command, BMC)
        recorded += [type(e).__name__ for e in outcome.events]
    return recorded


async def test_redfish_access_and_power_become_host_events(sushy: SushyEmulator) -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    system = sushy.systems[0]
    host_id = await _host(handler, sushy.address(system))

    async with redfish_client(sushy, system) as client:
        recorded = await _record(handler, host_id, await observing.validate_access(host_id, client))
        state, _ = await handler.load(host_id)
        assert "BmcAccessValidated" in recorded
        assert state.good_credentials == CredentialsRef(name="worker-0-bmc", version="7")

        wanted = not state.powered_on
        await client.set_power(PowerAction.ON if wanted else PowerAction.OFF)
        await wait_until(lambda: _power_is(client, wanted), deadline=20)
        recorded = await _record(handler, host_id, await observing.observe_power(host_id, client))
        assert recorded == ["PowerObserved"]
        assert (await handler.load(host_id))[0].powered_on is wanted
        # Seeing the same power state again records nothing.
        assert await _record(handler, host_id, await observing.observe_power(host_id, client)) == []


async def test_wrong_password_is_a_registration_error_without_the_password(sushy: SushyEmulator) -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    system = sushy.systems[1]
    host_id = await _host(handler, sushy.address(system))
    wrong = "not-" + PASSWORD

    async with redfish_client(sushy, system, password=wrong) as client:
        seen = await observing.validate_access(host_id, client)
    assert isinstance(seen, observing.BmcFailed)
    assert await _record(handler, host_id, seen) == ["ErrorRecorded"]
    state, _ = await handler.load(host_id)
    assert state.error_type is ErrorType.REGISTRATION
    history = await handler.history(host_id)
    assert all(wrong.encode() not in encode(r.event) for r in history if isinstance(r.event, Event))
    assert wrong not in state.error_message

    async with redfish_client(sushy, system) as client:
        await _record(handler, host_id, await observing.validate_access(host_id, client))
    assert (await handler.load(host_id))[0].error_type is None


async def test_ipmi_access_is_recorded_and_an_unreachable_bmc_records_nothing(
    ipmi_sim: IpmiSimulator,
) -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    endpoint = ipmi_sim.endpoint("ipmi-0")
    host_id = await _host(handler, f"ipmi://{endpoint.host}:{endpoint.port}")
    async with ipmi_client(ipmi_sim, "ipmi-0") as client:
        recorded = await _record(handler, host_id, await observing.validate_access(host_id, client))
    assert "BmcAccessValidated" in recorded

    before = await store.last_position()
    port = free_port(socket.SOCK_STREAM)
    unreachable = RedfishClient.for_access(
        addresses.parse(f"redfish+http://127.0.0.1:{port}/redfish/v1/Systems/1"), Credentials(USER, PASSWORD)
    )
    async with unreachable:
        seen = await observing.validate_access(host_id, unreachable)
    assert isinstance(seen, observing.BmcFailed)
    assert seen.error_kind == "transient"
    assert await _record(handler, host_id, seen) == []
    assert await store.last_position() == before


async def _power_is(client: RedfishClient, wanted: bool) -> bool:
    return await client.get_power() is wanted
