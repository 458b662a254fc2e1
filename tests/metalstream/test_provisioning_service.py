"""How the wired provisioner feeds its loop, on the in-memory store (no Ironic is called)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from adapters.ironic.client import IronicClient, IronicEndpoint
from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.aggregates.host_state import HostState
from core.errors import CommandRejected
from core.events.host_values import BMCDetails, HostSpec, ProvisioningState
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.provisioning.drivers import BmcDriverMapping
from metalstream.provisioning.observations import ACTOR, HandlerCommandSender
from metalstream.provisioning.running import ProvisionerService
from metalstream.provisioning.static_secrets import StaticHostSecrets
from metalstream.registry import CODECS
from tests.fakes.memory_eventstore import MemoryEventStore

PS = ProvisioningState
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
USER = CommandContext(actor="k8s:alice")
SPEC = HostSpec(bmc=BMCDetails(address="ipmi://192.0.2.1", credentials_name="bmc"))


class RecordingLoop:
    """Stands in for ``ProvisionerLoop``: remembers what it was fed."""

    def __init__(self, *, returns: bool = False) -> None:
        self.fed: list[tuple[str, PS]] = []
        self.forgotten: list[str] = []
        self.reconciles = 0
        self._returns = returns

    def update(self, state: HostState) -> None:
        self.fed.append((state.id, state.provisioning_state))

    def forget(self, host_id: str) -> None:
        self.forgotten.append(host_id)

    async def run(self) -> None:
        if not self._returns:
            await asyncio.Event().wait()


def create(name: str, generation: int = 1, spec: HostSpec = SPEC) -> cmd.ApplySpec:
    return cmd.ApplySpec(namespace="ns", name=name, uid=name, generation=generation, spec=spec, now=NOW)


def service_for(store: MemoryEventStore, loop: RecordingLoop) -> ProvisionerService:
    service = ProvisionerService(
        store=store,
        client=IronicClient(IronicEndpoint(url="http://127.0.0.1:9")),  # never opened
        secrets=StaticHostSecrets(),
        drivers=BmcDriverMapping(),
    )
    service.loop = loop  # type: ignore[assignment]
    return service


@contextlib.asynccontextmanager
async def running(service: ProvisionerService) -> AsyncIterator[None]:
    async with asyncio.TaskGroup() as group:
        task = group.create_task(service.run(), name="provisioner")
        async with asyncio.timeout(5):
            await service.ready.wait()
        yield
        task.cancel()


async def settle(service: ProvisionerService, store: MemoryEventStore) -> None:
    async with asyncio.timeout(5):
        await service.runner.wait_for(await store.last_position())


async def test_every_existing_host_is_fed_once_after_catching_up() -> None:
    store = MemoryEventStore(CODECS)
    user = CommandHandler(store, hosts.DEFINITION)
    for name in ("a", "b"):
        await user.handle(f"ns/{name}", create(name), USER)
    await user.handle("ns/a", cmd.RecordRegistration(provisioning_id="node-a", now=NOW), USER)
    loop = RecordingLoop()
    service = service_for(store, loop)
    async with running(service):
        assert loop.fed == [("ns/a", PS.INSPECTING), ("ns/b", PS.REGISTERING)]
        await user.handle("ns/b", cmd.RecordRegistration(provisioning_id="node-b", now=NOW), USER)
        await settle(service, store)
        assert loop.fed[2:] == [("ns/b", PS.REGISTERING), ("ns/b", PS.INSPECTING)]
    assert not service.ready.is_set()


async def test_observations_are_fed_at_once_and_not_again_when_their_events_come_back() -> None:
    store = MemoryEventStore(CODECS)
    user = CommandHandler(store, hosts.DEFINITION)
    await user.handle("ns/a", create("a"), USER)
    loop = RecordingLoop()
    service = service_for(store, loop)
    async with running(service):
        await service.commands.send("ns/a", cmd.RecordRegistration(provisioning_id="node-a", now=NOW))
        assert loop.fed == [("ns/a", PS.REGISTERING), ("ns/a", PS.INSPECTING)]
        await settle(service, store)
        assert loop.fed == [("ns/a", PS.REGISTERING), ("ns/a", PS.INSPECTING)]
    history = await user.history("ns/a")
    assert history[-1].envelope.actor == ACTOR


async def test_another_writer_makes_the_handler_forget_its_copy() -> None:
    store = MemoryEventStore(CODECS)
    user = CommandHandler(store, hosts.DEFINITION)
    await user.handle("ns/a", create("a"), USER)
    loop = RecordingLoop()
    service = service_for(store, loop)
    async with running(service):
        await service.commands.send("ns/a", cmd.RecordRegistration(provisioning_id="node-a", now=NOW))
        assert service.handler.cached("ns/a") is not None
        await user.handle("ns/a", cmd.RequestDeletion(now=NOW), USER)
        await settle(service, store)
        assert service.handler.cached("ns/a") is None
        assert loop.fed[-1] == ("ns/a", PS.DELETING)  # never powered on: straight to deleting


async def test_a_deleted_host_is_forgotten() -> None:
    store = MemoryEventStore(CODECS)
    user = CommandHandler(store, hosts.DEFINITION)
    await user.handle("ns/a", create("a"), USER)
    loop = RecordingLoop()
    service = service_for(store, loop)
    async with running(service):
        await user.handle("ns/a", cmd.RequestDeletion(now=NOW), USER)
        await service.commands.send("ns/a", cmd.RecordNodeDeleted(now=NOW))
        await settle(service, store)
    assert loop.forgotten == ["ns/a"]
    assert loop.fed[-1] == ("ns/a", PS.DELETING)


async def test_a_stale_observation_is_rejected_and_feeds_nothing() -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    await handler.handle("ns/a", create("a"), USER)
    recorded: list[str] = []
    sender = HandlerCommandSender(handler, on_recorded=lambda host, _outcome: recorded.append(host))
    with pytest.raises(CommandRejected, match="observation-out-of-state"):
        await sender.send("ns/a", cmd.RecordProvisioned(now=NOW))
    await sender.send("ns/a", cmd.RecordRegistrationLost(reason="nothing to lose", now=NOW))
    assert recorded == []


async def test_a_child_that_stops_stops_the_provisioner() -> None:
    service = service_for(MemoryEventStore(CODECS), RecordingLoop(returns=True))
    with pytest.raises(ExceptionGroup) as raised:
        async with asyncio.timeout(5):
            await service.run()
    assert raised.group_contains(RuntimeError, match="the provisioner loop stopped unexpectedly")
