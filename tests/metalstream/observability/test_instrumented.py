from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters.nats.eventstore import JetStreamEventStore
from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.errors import AggregateNotFound, CommandRejected
from core.ids import AggregateKey
from metalstream.commanding import CommandContext
from metalstream.observability.instrumented import (
    MeteredCommandHandler,
    MeteredEventStore,
    track_projection_lag,
)
from metalstream.observability.metrics import Metrics
from projections.hosts_view import HostsView
from projections.running import ProjectionRunner
from tests.fakes.memory_checkpoints import MemoryCheckpointStore
from tests.metalstream.observability.polling import eventually
from tests.projections.records import spec

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
USER = CommandContext(actor="test")
HOST = "default/worker-0"


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _create(name: str = "worker-0", generation: int = 1) -> cmd.ApplySpec:
    return cmd.ApplySpec(
        namespace="default", name=name, uid="u1", generation=generation, spec=spec(), now=NOW
    )


async def test_commands_are_counted_by_outcome(nats_store: JetStreamEventStore) -> None:
    metrics = Metrics()
    handler = MeteredCommandHandler(MeteredEventStore(nats_store, metrics), hosts.DEFINITION, metrics=metrics)
    await handler.handle(HOST, _create(), USER)
    await handler.handle(HOST, _create(), USER)  # the same generation again changes nothing
    with pytest.raises(CommandRejected):
        await handler.handle(HOST, cmd.RecordProvisioned(now=NOW), USER)  # not provisioning
    with pytest.raises(AggregateNotFound):
        await handler.handle("default/nobody", cmd.Pause(now=NOW), USER)

    def count(command: str, outcome: str) -> float:
        return _value(
            metrics, "metalstream_commands_total", aggregate="host", command=command, outcome=outcome
        )

    assert count("ApplySpec", "recorded") == 1
    assert count("ApplySpec", "unchanged") == 1
    assert count("RecordProvisioned", "rejected") == 1
    assert count("Pause", "rejected") == 1
    assert _value(metrics, "metalstream_eventstore_append_seconds_count", aggregate="host") == 1


async def test_appends_are_timed_and_conflicts_counted(nats_store: JetStreamEventStore) -> None:
    metrics = Metrics()
    store = MeteredEventStore(nats_store, metrics)
    first = MeteredCommandHandler(store, hosts.DEFINITION, metrics=metrics)
    second = MeteredCommandHandler(store, hosts.DEFINITION, metrics=metrics)
    await first.handle(HOST, _create(), USER)
    await second.load(HOST)  # second caches the host as it is now
    await first.handle(HOST, _create(generation=2), USER)
    await second.handle(HOST, cmd.Pause(now=NOW), USER)  # decided on a stale copy: conflict, retry

    assert _value(metrics, "metalstream_eventstore_append_conflicts_total", aggregate="host") == 1
    assert _value(metrics, "metalstream_eventstore_append_seconds_count", aggregate="host") == 4
    assert _value(metrics, "metalstream_eventstore_append_seconds_sum", aggregate="host") > 0
    pause = {"aggregate": "host", "command": "Pause", "outcome": "recorded"}
    assert _value(metrics, "metalstream_commands_total", **pause) == 1
    history = await store.load(AggregateKey(type="host", id=HOST))
    assert history.revision.version == len(history.events)


async def test_dead_letters_are_counted_per_reader(nats_store: JetStreamEventStore) -> None:
    metrics = Metrics()
    store = MeteredEventStore(nats_store, metrics)
    handler = MeteredCommandHandler(store, hosts.DEFINITION, metrics=metrics)
    await handler.handle(HOST, _create(), USER)
    record = (await store.load(AggregateKey(type="host", id=HOST))).events[0]
    await store.dead_letter(record, reader="status-writer", reason="test")
    assert _value(metrics, "metalstream_dead_letters_total", reader="status-writer") == 1
    assert [d.reader for d in await nats_store.dead_letters()] == ["status-writer"]


async def test_projection_lag_follows_the_runner(nats_store: JetStreamEventStore) -> None:
    metrics = Metrics()
    store = MeteredEventStore(nats_store, metrics)
    handler = MeteredCommandHandler(store, hosts.DEFINITION, metrics=metrics)
    for name in ("a", "b", "c"):
        await handler.handle(f"default/{name}", _create(name), USER)
    newest = await store.last_position()
    runner = ProjectionRunner(HostsView(), store, MemoryCheckpointStore())

    def lag() -> float | None:
        return metrics.registry.get_sample_value(
            "metalstream_projection_lag_events", {"projection": "hosts-view"}
        )

    async with asyncio.TaskGroup() as group:
        tracker = group.create_task(track_projection_lag(metrics, store, [runner], interval=0.02))
        await eventually(lambda: lag() == newest)
        await runner.catch_up()
        await eventually(lambda: lag() == 0)
        tracker.cancel()
    assert newest > 0
