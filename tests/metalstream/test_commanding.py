from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
import structlog.testing

from core.aggregates import host_commands as cmd
from core.aggregates import hosts, ippools
from core.aggregates import ippool_commands as ipcmd
from core.errors import CommandRejected, ConcurrencyConflict, StoreUnavailable
from core.events.base import NewEvent
from core.events.host_values import ConsumerRef, ProvisioningState
from core.events.ippool_values import AddressRange, PoolSpec
from core.ids import AggregateKey
from core.ports import AggregateHistory, Revision
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.registry import CODECS
from tests.fakes.memory_eventstore import MemoryEventStore
from tests.projections.records import hosts_hardware, spec

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
USER = CommandContext(actor="k8s:alice", correlation_id="corr-1", causation_id="cause-1")
HOST = "default/worker-0"


def _create(generation: int = 1) -> cmd.ApplySpec:
    return cmd.ApplySpec(
        namespace="default", name="worker-0", uid="u1", generation=generation, spec=spec(), now=NOW
    )


class _CountingStore(MemoryEventStore):
    loads = 0
    events_read = 0

    async def load(
        self, key: AggregateKey, *, up_to_position: int | None = None, after: Revision | None = None
    ) -> AggregateHistory:
        self.loads += 1
        history = await super().load(key, up_to_position=up_to_position, after=after)
        self.events_read += len(history.events)
        return history


async def test_handle_records_events_with_the_callers_envelope() -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION, clock=lambda: NOW)
    outcome = await handler.handle(HOST, _create(), USER)
    assert outcome.state.provisioning_state is ProvisioningState.REGISTERING
    history = await handler.history(HOST)
    assert [r.envelope.version for r in history] == [1, 2]
    assert {r.envelope.actor for r in history} == {"k8s:alice"}
    assert {r.envelope.correlation_id for r in history} == {"corr-1"}
    assert {r.envelope.causation_id for r in history} == {"cause-1"}
    assert outcome.revision == Revision(version=2, position=history[-1].envelope.position)


async def test_a_command_that_changes_nothing_appends_nothing() -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    await handler.handle(HOST, _create(), USER)
    before = await store.last_position()
    outcome = await handler.handle(HOST, _create(), USER)
    assert outcome.events == ()
    assert await store.last_position() == before


async def test_a_rejected_command_records_nothing() -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    await handler.handle(HOST, _create(), USER)
    before = await store.last_position()
    with pytest.raises(CommandRejected) as rejected:
        await handler.handle(HOST, cmd.RecordProvisioned(now=NOW), USER)
    assert rejected.value.rule == "observation-out-of-state"
    assert await store.last_position() == before


async def test_cached_aggregates_are_not_read_again() -> None:
    store = _CountingStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    await handler.handle(HOST, _create(), USER)
    await handler.handle(HOST, cmd.RecordRegistration(provisioning_id="n1", now=NOW), USER)
    state, _ = await handler.load(HOST)
    assert store.loads == 1
    assert state.provisioning_state is ProvisioningState.INSPECTING


async def test_a_write_from_another_process_is_detected_and_the_command_decided_again() -> None:
    store = MemoryEventStore(CODECS)
    ours = CommandHandler(store, hosts.DEFINITION)
    theirs = CommandHandler(store, hosts.DEFINITION)
    await ours.handle(HOST, _create(), USER)
    await ours.load(HOST)  # cached at this revision
    await theirs.handle(HOST, cmd.RecordRegistration(provisioning_id="n1", now=NOW), USER)
    # Our cache is stale: the append conflicts, we reload and decide on the current state.
    outcome = await ours.handle(HOST, cmd.RecordPower(powered_on=True, now=NOW), USER)
    assert ours.conflicts == 1
    assert outcome.state.provisioning_id == "n1"
    assert outcome.state.powered_on


async def test_a_writer_that_lost_a_race_reads_only_what_the_winner_appended() -> None:
    store = _CountingStore(CODECS)
    ours = CommandHandler(store, hosts.DEFINITION)
    theirs = CommandHandler(store, hosts.DEFINITION)
    await ours.handle(HOST, _create(), USER)
    await theirs.handle(HOST, cmd.RecordRegistration(provisioning_id="n1", now=NOW), USER)
    for powered in (True, False, True, False):
        await theirs.handle(HOST, cmd.RecordPower(powered_on=powered, now=NOW), USER)
    written = len((await store.load(AggregateKey(type="host", id=HOST))).events)
    store.loads = store.events_read = 0
    outcome = await ours.handle(HOST, cmd.RecordPower(powered_on=True, now=NOW), USER)
    assert ours.conflicts == 1
    assert (store.loads, store.events_read) == (1, written - 2), "only the other writer's events"
    assert outcome.state.provisioning_id == "n1"
    assert outcome.state.powered_on
    full = hosts.DEFINITION.fold(
        [r.event for r in (await store.load(AggregateKey(type="host", id=HOST))).events]
    )
    assert outcome.state == full, "caught up incrementally, the state is the one a full read folds"


async def test_a_forgotten_aggregate_is_caught_up_on_its_next_use_not_read_again() -> None:
    store = _CountingStore(CODECS)
    ours = CommandHandler(store, hosts.DEFINITION)
    theirs = CommandHandler(store, hosts.DEFINITION)
    await ours.handle(HOST, _create(), USER)
    registered = await theirs.handle(HOST, cmd.RecordRegistration(provisioning_id="n1", now=NOW), USER)
    store.loads = store.events_read = 0
    ours.forget(HOST)  # a view saw the other writer's events
    state, revision = await ours.load(HOST)
    assert (store.loads, store.events_read) == (1, 2), "only the registration's two events"
    assert state.provisioning_id == "n1"
    assert revision == registered.revision
    await ours.load(HOST)
    assert store.loads == 1, "caught up: the cache serves again"
    outcome = await ours.handle(HOST, cmd.RecordPower(powered_on=True, now=NOW), USER)
    assert ours.conflicts == 0
    assert outcome.state.powered_on


async def test_a_refusal_based_on_a_stale_cache_is_checked_against_the_store() -> None:
    store = MemoryEventStore(CODECS)
    ours = CommandHandler(store, hosts.DEFINITION)
    theirs = CommandHandler(store, hosts.DEFINITION)
    await ours.handle(HOST, _create(), USER)
    await theirs.handle(HOST, cmd.RecordRegistration(provisioning_id="n1", now=NOW), USER)
    # Our cached host is still registering, where an inspection result would be refused.
    outcome = await ours.handle(HOST, cmd.RecordInspection(hardware=hosts_hardware(), now=NOW), USER)
    assert outcome.state.provisioning_state is ProvisioningState.PREPARING


async def test_two_machines_racing_for_one_host_cannot_both_win() -> None:
    store = MemoryEventStore(CODECS)
    handlers = [CommandHandler(store, hosts.DEFINITION) for _ in range(8)]
    await handlers[0].handle(HOST, _create(), USER)

    refusals: list[str] = []

    async def claim(i: int) -> bool:
        consumer = ConsumerRef(kind="Metal3Machine", namespace="default", name=f"m{i}")
        try:
            await handlers[i].handle(HOST, cmd.ClaimHost(consumer=consumer, now=NOW), USER)
        except CommandRejected as exc:
            refusals.append(exc.rule)
            return False
        return True

    wins = await asyncio.gather(*(claim(i) for i in range(8)))
    assert sum(wins) == 1
    assert refusals == ["one-consumer-per-host"] * 7
    state, _ = await CommandHandler(store, hosts.DEFINITION).load(HOST)
    assert state.consumer is not None
    assert state.consumer.name == f"m{wins.index(True)}"


class _Unanswered(MemoryEventStore):
    """Stores the append but loses the reply the first time, like a timeout after the write."""

    lost = 1
    attempts: list[list[str]]

    def __init__(self) -> None:
        super().__init__(CODECS)
        self.attempts = []

    async def append(self, key: AggregateKey, events: Sequence[NewEvent], *, expected: Revision) -> Revision:
        self.attempts.append([e.meta.event_id for e in events])
        revision = await super().append(key, events, expected=expected)
        if self.lost:
            self.lost -= 1
            msg = "no reply"
            raise StoreUnavailable(msg)
        return revision


async def test_an_unanswered_append_is_retried_with_the_same_ids_and_stored_once() -> None:
    store = _Unanswered()
    handler = CommandHandler(store, hosts.DEFINITION)
    outcome = await handler.handle(HOST, _create(), USER)
    assert store.attempts[0] == store.attempts[1]
    assert len(await handler.history(HOST)) == len(outcome.events) == 2


class _AlwaysConflicting(MemoryEventStore):
    async def append(self, key: AggregateKey, events: Sequence[NewEvent], *, expected: Revision) -> Revision:
        raise ConcurrencyConflict(str(key), expected=expected.position, actual=expected.position + 1)


async def test_endless_conflicts_give_up_with_a_conflict_error() -> None:
    handler = CommandHandler(_AlwaysConflicting(CODECS), hosts.DEFINITION, max_attempts=3)
    with pytest.raises(ConcurrencyConflict):
        await handler.handle(HOST, _create(), USER)
    assert handler.conflicts == 3


async def test_each_recorded_command_is_one_log_line_bound_with_host_and_event_ids() -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION, clock=lambda: NOW)
    with structlog.testing.capture_logs() as logs:
        await handler.handle(HOST, _create(), USER)
        await handler.handle(HOST, _create(), USER)  # changes nothing: no line
    recorded = [entry for entry in logs if entry["event"] == "command recorded"]
    assert len(recorded) == 1
    line = recorded[0]
    history = await handler.history(HOST)
    assert (line["aggregate"], line["id"], line["command"], line["actor"]) == (
        "host",
        HOST,
        "ApplySpec",
        "k8s:alice",
    )
    assert line["event_ids"] == [r.envelope.event_id for r in history]
    assert line["events"][0] == "host.created"
    assert line["version"] == history[-1].envelope.version


async def test_an_allocation_answered_from_a_stale_cache_is_confirmed_against_the_store() -> None:
    store = MemoryEventStore(CODECS)
    first = CommandHandler(store, ippools.DEFINITION, clock=lambda: NOW)
    second = CommandHandler(store, ippools.DEFINITION, clock=lambda: NOW)
    spec = PoolSpec(name_prefix="prov", pools=(AddressRange(start="192.0.2.10", end="192.0.2.10"),))
    create = ipcmd.ApplyPoolSpec(namespace="metal3", name="pool", uid="u1", generation=1, spec=spec)
    pool = "metal3/pool"
    await first.handle(pool, create, USER)
    given = await first.handle(pool, ipcmd.AllocateAddress(claim="a"), USER)
    assert given.state.indexes == {"a": "192.0.2.10"}
    # Another process releases the address and gives it to claim b; the first one's cache is old.
    await second.handle(pool, ipcmd.ReleaseAddress(claim="a"), USER)
    await second.handle(pool, ipcmd.AllocateAddress(claim="b"), USER)
    stale = await first.handle(pool, ipcmd.AllocateAddress(claim="a"), USER)
    assert stale.state.indexes == {"a": "192.0.2.10"}  # what an unconfirmed answer would claim
    with pytest.raises(CommandRejected, match="Exhausted IP Pools"):
        await first.handle(pool, ipcmd.AllocateAddress(claim="a"), USER, confirm_unchanged=True)
