from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.errors import StoreUnavailable
from core.events.base import RecordedEvent
from core.events.host_values import ProvisioningState
from core.ids import AggregateKey
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.registry import CODECS
from projections.hosts_view import HostsView
from projections.running import ProjectionRunner
from tests.fakes.memory_checkpoints import MemoryCheckpointStore
from tests.fakes.memory_eventstore import MemoryEventStore
from tests.projections.records import spec

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
USER = CommandContext(actor="test")


async def _create(handler: CommandHandler[Any, cmd.HostCommand], name: str) -> None:
    command = cmd.ApplySpec(
        namespace="default", name=name, uid=f"uid-{name}", generation=1, spec=spec(), now=NOW
    )
    await handler.handle(f"default/{name}", command, USER)


async def test_catch_up_folds_every_host_and_saves_a_checkpoint() -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    for name in ("a", "b", "c"):
        await _create(handler, name)
    checkpoints = MemoryCheckpointStore()
    runner = ProjectionRunner(HostsView(), store, checkpoints)
    await runner.restore()
    await runner.catch_up()
    assert runner.caught_up.is_set()
    assert runner.position == await store.last_position()
    assert checkpoints.saved["hosts-view"].position == runner.position

    restarted_view = HostsView()
    restarted = ProjectionRunner(restarted_view, store, checkpoints)
    await restarted.restore()
    assert restarted.position == runner.position
    assert len(restarted_view) == 3


async def test_unknown_and_corrupt_events_are_dead_lettered_and_skipped() -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    await _create(handler, "a")
    key = AggregateKey(type="host", id="default/a")
    await store.inject(
        key, b'{"type":"host.from_the_future","x":1}', event_type="host.from_the_future", event_id="u1"
    )
    await store.inject(key, b"{not json", event_type="host.created", event_id="u2")
    await _create(handler, "b")
    runner = ProjectionRunner(HostsView(), store, MemoryCheckpointStore())
    await runner.catch_up()
    assert runner.dead_lettered == 2
    assert [d.reason.split(":")[0] for d in store.dead_letters] == [
        "unknown event type 'host.from_the_future'",
        "undecodable",
    ]
    view = runner.projection
    assert isinstance(view, HostsView)
    assert view.get("default/b") is not None, "the projection kept going after the bad messages"
    assert runner.position == await store.last_position()


class _Exploding(HostsView):
    def apply(self, record: RecordedEvent) -> None:
        if record.envelope.aggregate_id == "default/boom":
            msg = "bug in the fold"
            raise RuntimeError(msg)
        super().apply(record)


async def test_a_failing_fold_dead_letters_that_event_only() -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    await _create(handler, "boom")
    await _create(handler, "fine")
    view = _Exploding()
    runner = ProjectionRunner(view, store, MemoryCheckpointStore())
    await runner.catch_up()
    assert runner.dead_lettered >= 1
    assert all("projection failed: RuntimeError" in d.reason for d in store.dead_letters)
    assert view.get("default/fine") is not None


class _Flaky(MemoryEventStore):
    """Fails the first live read, as a store restarting would."""

    failures = 1

    async def read_all(
        self, *, after_position: int = 0, aggregate_type: str | None = None, follow: bool = False
    ) -> AsyncIterator[RecordedEvent]:
        if follow and self.failures:
            self.failures -= 1
            msg = "server restarting"
            raise StoreUnavailable(msg)
        async for record in super().read_all(
            after_position=after_position, aggregate_type=aggregate_type, follow=follow
        ):
            yield record


async def test_run_follows_live_events_and_resumes_after_the_store_goes_away() -> None:
    store = _Flaky(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    await _create(handler, "a")
    view = HostsView()
    runner = ProjectionRunner(view, store, MemoryCheckpointStore(), reconnect_delay=0.01)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(runner.run(), name="projection")
        await asyncio.wait_for(runner.caught_up.wait(), 5)
        await _create(handler, "b")
        await handler.handle("default/a", cmd.RecordRegistration(provisioning_id="n1", now=NOW), USER)
        await asyncio.wait_for(runner.wait_for(await store.last_position()), 5)
        task.cancel()
    assert store.failures == 0
    record = view.get("default/a")
    assert record is not None
    assert record.state.provisioning_state is ProvisioningState.INSPECTING
    assert view.get("default/b") is not None


@pytest.mark.parametrize("checkpoint_every", [1, 1000])
async def test_checkpoints_are_written_by_count_or_at_catch_up(checkpoint_every: int) -> None:
    store = MemoryEventStore(CODECS)
    handler = CommandHandler(store, hosts.DEFINITION)
    checkpoints = MemoryCheckpointStore()
    runner = ProjectionRunner(HostsView(), store, checkpoints, checkpoint_every=checkpoint_every)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(runner.run(), name="projection")
        await asyncio.wait_for(runner.caught_up.wait(), 5)
        for name in ("a", "b"):
            await _create(handler, name)
        await asyncio.wait_for(runner.wait_for(await store.last_position()), 5)
        task.cancel()
    saved = checkpoints.saved.get("hosts-view")
    if checkpoint_every == 1:
        assert saved is not None
        assert saved.position == runner.position
    else:
        assert saved is None, "nothing was folded at catch-up time and the count was not reached"
