"""The ``EventStore`` contract, run against every implementation.

A test module subclasses ``EventStoreContract`` and provides a ``harness`` fixture: the store under
test plus the few things the port cannot do (write raw bytes as a newer or broken writer would,
read back the bytes stored for an event, reopen the store as a restarted process would, read the
dead-letter log). The in-memory fake and the JetStream adapter pass the same tests, so the fake
cannot drift from the real store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple, Protocol

import pytest

from core.errors import ConcurrencyConflict
from core.events.base import RecordedEvent, UndecodableEvent, UnknownEvent
from core.ids import AggregateKey
from core.ports import NEW, EventStore, Revision
from tests.contracts.events import (
    OCCURRED,
    GadgetCreated,
    WidgetCreated,
    WidgetIncremented,
    WidgetRenamed,
    gadget,
    new,
    widget,
)


class DeadLetterView(NamedTuple):
    reader: str
    reason: str
    original_position: int
    data: bytes


class StoreHarness(Protocol):
    """The store under test and the hooks the contract needs around it."""

    store: EventStore

    async def inject(
        self, key: AggregateKey, data: bytes, *, event_type: str, schema_version: int = 1
    ) -> int:
        """Store raw payload bytes as the next event of ``key``; return its position."""
        ...

    async def stored(self, position: int) -> bytes:
        """The bytes stored for the event at ``position`` (what a dead letter must keep)."""
        ...

    async def reopen(self) -> EventStore:
        """Another store instance over the same data (a restarted process)."""
        ...

    async def dead_letters(self) -> list[DeadLetterView]:
        """The dead-letter log, oldest first."""
        ...


@asynccontextmanager
async def iterating(source: AsyncIterable[RecordedEvent]) -> AsyncIterator[AsyncIterator[RecordedEvent]]:
    """Iterate ``source`` and close its iterator on exit, even after a ``break``."""
    iterator = aiter(source)
    try:
        yield iterator
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


async def collect(source: AsyncIterable[RecordedEvent], *, limit: int | None = None) -> list[RecordedEvent]:
    """Read ``source`` to its end (or ``limit`` items) and close it."""
    out: list[RecordedEvent] = []
    async with iterating(source) as records:
        async for record in records:
            out.append(record)
            if limit is not None and len(out) >= limit:
                break
    return out


def positions(records: list[RecordedEvent]) -> list[int]:
    return [r.envelope.position for r in records]


class EventStoreContract:
    """Behaviour every ``EventStore`` must have. Subclasses provide the ``harness`` fixture."""

    @pytest.fixture
    def harness(self) -> StoreHarness:
        raise NotImplementedError

    @pytest.fixture
    def store(self, harness: StoreHarness) -> EventStore:
        return harness.store

    # -- append and load ---------------------------------------------------------------------

    async def test_round_trip_keeps_payloads_and_envelope(self, store: EventStore) -> None:
        created, renamed = new(WidgetCreated(name="w1")), new(WidgetRenamed(name="w2"), causation_id="cmd-1")
        key = widget("w.1")
        revision = await store.append(key, [created, renamed], expected=NEW)
        history = await store.load(key)
        assert [r.event for r in history.events] == [created.event, renamed.event]
        first, second = (r.envelope for r in history.events)
        assert (first.event_id, second.event_id) == (created.meta.event_id, renamed.meta.event_id)
        assert (first.aggregate_type, first.aggregate_id) == ("widget", "default/w.1")
        assert (first.version, second.version) == (1, 2)
        assert second.position == first.position + 1 == revision.position
        assert (first.event_type, second.event_type) == ("widget.created", "widget.renamed")
        assert (first.schema_version, second.schema_version) == (1, 2)
        assert first.occurred_at == OCCURRED
        assert first.actor == "test:contract"
        assert first.correlation_id == created.meta.correlation_id
        assert (first.causation_id, second.causation_id) == (None, "cmd-1")
        assert history.revision == revision == Revision(version=2, position=second.position)

    async def test_versions_count_per_aggregate_and_positions_are_global(self, store: EventStore) -> None:
        a, b = widget("a"), widget("b")
        a1 = await store.append(a, [new(WidgetCreated(name="a"))], expected=NEW)
        b1 = await store.append(b, [new(WidgetCreated(name="b"))], expected=NEW)
        a3 = await store.append(a, [new(WidgetIncremented()), new(WidgetIncremented(by=2))], expected=a1)
        assert (a1.version, b1.version, a3.version) == (1, 1, 3)
        assert a1.position < b1.position < a3.position
        assert a3.position - b1.position == 2
        history = await store.load(a)
        assert history.revision == a3
        assert [r.envelope.version for r in history.events] == [1, 2, 3]
        assert await store.last_position() == a3.position

    async def test_an_aggregate_without_events_loads_empty_at_the_new_revision(
        self, store: EventStore
    ) -> None:
        history = await store.load(widget("nobody"))
        assert history.events == []
        assert history.revision == NEW
        assert await store.last_position() == 0

    async def test_empty_append_changes_nothing(self, store: EventStore) -> None:
        assert await store.append(widget("a"), [], expected=NEW) == NEW
        assert await store.last_position() == 0

    async def test_events_of_another_aggregate_type_are_refused(self, store: EventStore) -> None:
        with pytest.raises(ValueError, match="not an event of aggregate type"):
            await store.append(widget("a"), [new(GadgetCreated(colour="red"))], expected=NEW)
        with pytest.raises(ValueError, match="no codec"):
            await store.append(
                AggregateKey(type="sprocket", id="x"), [new(WidgetCreated(name="x"))], expected=NEW
            )

    # -- optimistic concurrency ---------------------------------------------------------------

    async def test_creating_an_existing_aggregate_conflicts(self, store: EventStore) -> None:
        key = widget("a")
        first = await store.append(key, [new(WidgetCreated(name="one"))], expected=NEW)
        with pytest.raises(ConcurrencyConflict) as raised:
            await store.append(key, [new(WidgetCreated(name="two"))], expected=NEW)
        assert (raised.value.expected, raised.value.actual) == (0, first.position)
        assert [r.event for r in (await store.load(key)).events] == [WidgetCreated(name="one")]

    async def test_appending_at_a_stale_revision_conflicts(self, store: EventStore) -> None:
        key = widget("a")
        r1 = await store.append(key, [new(WidgetCreated(name="a"))], expected=NEW)
        r2 = await store.append(key, [new(WidgetIncremented())], expected=r1)
        with pytest.raises(ConcurrencyConflict) as raised:
            await store.append(key, [new(WidgetIncremented(by=5))], expected=r1)
        assert (raised.value.expected, raised.value.actual) == (r1.position, r2.position)
        assert (await store.load(key)).revision == r2

    async def test_a_conflicting_batch_stores_nothing(self, store: EventStore) -> None:
        key = widget("a")
        r1 = await store.append(key, [new(WidgetCreated(name="a"))], expected=NEW)
        batch = [new(WidgetIncremented()), new(WidgetIncremented()), new(WidgetRenamed(name="b"))]
        with pytest.raises(ConcurrencyConflict):
            await store.append(key, batch, expected=NEW)
        assert (await store.load(key)).revision == r1
        assert await store.last_position() == r1.position

    async def test_a_batch_is_stored_contiguously_with_consecutive_versions(self, store: EventStore) -> None:
        key = widget("a")
        await store.append(widget("other"), [new(WidgetCreated(name="o"))], expected=NEW)
        batch = [new(WidgetCreated(name="a")), new(WidgetIncremented()), new(WidgetRenamed(name="b"))]
        revision = await store.append(key, batch, expected=NEW)
        history = await store.load(key)
        assert [r.envelope.version for r in history.events] == [1, 2, 3]
        assert positions(history.events) == [revision.position - 2, revision.position - 1, revision.position]

    async def test_retrying_a_stored_append_returns_its_revision(self, store: EventStore) -> None:
        key = widget("a")
        event = new(WidgetCreated(name="a"))
        first = await store.append(key, [event], expected=NEW)
        assert await store.append(key, [event], expected=NEW) == first
        assert len((await store.load(key)).events) == 1

    async def test_retrying_a_stored_batch_returns_its_revision(self, store: EventStore) -> None:
        key = widget("a")
        r1 = await store.append(key, [new(WidgetCreated(name="a"))], expected=NEW)
        batch = [new(WidgetIncremented()), new(WidgetIncremented(by=2)), new(WidgetRenamed(name="b"))]
        stored = await store.append(key, batch, expected=r1)
        assert await store.append(key, batch, expected=r1) == stored
        assert (await store.load(key)).revision == stored

    async def test_a_retry_is_recognised_after_others_appended(self, store: EventStore) -> None:
        key = widget("a")
        event = new(WidgetCreated(name="a"))
        mine = await store.append(key, [event], expected=NEW)
        await store.append(key, [new(WidgetIncremented())], expected=mine)
        assert await store.append(key, [event], expected=NEW) == mine

    async def test_concurrent_writers_with_reload_and_retry_lose_no_update(self, store: EventStore) -> None:
        key = widget("counter")
        await store.append(key, [new(WidgetCreated(name="counter"))], expected=NEW)
        writers, increments = 8, 25

        async def writer() -> None:
            for _ in range(increments):
                while True:
                    history = await store.load(key)
                    try:
                        await store.append(key, [new(WidgetIncremented())], expected=history.revision)
                    except ConcurrencyConflict:
                        continue
                    break

        async with asyncio.TaskGroup() as group:
            for number in range(writers):
                group.create_task(writer(), name=f"writer-{number}")
        history = await store.load(key)
        increments_seen = [r.event for r in history.events if isinstance(r.event, WidgetIncremented)]
        assert len(increments_seen) == writers * increments
        assert [r.envelope.version for r in history.events] == list(range(1, writers * increments + 2))

    # -- reading -------------------------------------------------------------------------------

    async def test_load_up_to_a_position(self, store: EventStore) -> None:
        a = widget("a")
        r1 = await store.append(a, [new(WidgetCreated(name="a"))], expected=NEW)
        r2 = await store.append(a, [new(WidgetIncremented())], expected=r1)
        other = await store.append(widget("b"), [new(WidgetCreated(name="b"))], expected=NEW)
        await store.append(a, [new(WidgetIncremented())], expected=r2)
        history = await store.load(a, up_to_position=other.position)
        assert positions(history.events) == [r1.position, r2.position]
        assert history.revision == r2
        assert (await store.load(a, up_to_position=r1.position)).revision == r1
        assert (await store.load(a, up_to_position=0)).revision == NEW

    async def test_load_after_a_revision_reads_only_what_came_since(self, store: EventStore) -> None:
        a = widget("a")
        r1 = await store.append(a, [new(WidgetCreated(name="a"))], expected=NEW)
        await store.append(widget("b"), [new(WidgetCreated(name="b"))], expected=NEW)
        r2 = await store.append(a, [new(WidgetIncremented(by=2)), new(WidgetIncremented(by=3))], expected=r1)
        since = await store.load(a, after=r1)
        assert [r.event for r in since.events] == [WidgetIncremented(by=2), WidgetIncremented(by=3)]
        assert [r.envelope.version for r in since.events] == [2, 3]
        assert since.revision == r2 == (await store.load(a)).revision
        nothing = await store.load(a, after=r2)
        assert (nothing.events, nothing.revision) == ([], r2)
        assert (await store.load(a, after=NEW)).revision == r2
        r3 = await store.append(a, [new(WidgetIncremented())], expected=since.revision)
        assert r3.version == 4, "a revision read incrementally appends like a full one"

    async def test_read_all_returns_the_log_in_order_after_a_position(self, store: EventStore) -> None:
        written: list[int] = []
        for name in ("a", "b", "c"):
            revision = await store.append(
                widget(name), [new(WidgetCreated(name=name)), new(WidgetIncremented())], expected=NEW
            )
            written += [revision.position - 1, revision.position]
        everything = await collect(store.read_all())
        assert positions(everything) == written
        assert [r.envelope.aggregate_id for r in everything[:2]] == ["default/a", "default/a"]
        assert positions(await collect(store.read_all(after_position=written[3]))) == written[4:]
        assert await collect(store.read_all(after_position=written[-1])) == []

    async def test_read_all_filters_by_aggregate_type(self, store: EventStore) -> None:
        w = await store.append(widget("w"), [new(WidgetCreated(name="w"))], expected=NEW)
        g = await store.append(gadget("g"), [new(GadgetCreated(colour="red"))], expected=NEW)
        w2 = await store.append(widget("w"), [new(WidgetIncremented())], expected=w)
        assert positions(await collect(store.read_all(aggregate_type="widget"))) == [w.position, w2.position]
        assert positions(await collect(store.read_all(aggregate_type="gadget"))) == [g.position]
        assert await collect(store.read_all(aggregate_type="gadget", after_position=g.position)) == []
        assert await collect(store.read_all(aggregate_type="sprocket")) == []

    async def test_read_all_without_follow_ends_at_the_position_it_started_at(
        self, store: EventStore
    ) -> None:
        first = await store.append(widget("a"), [new(WidgetCreated(name="a"))], expected=NEW)
        seen: list[int] = []
        async with iterating(store.read_all()) as records:
            async for record in records:
                seen.append(record.envelope.position)
                await store.append(widget("late"), [new(WidgetCreated(name="late"))], expected=NEW)
        assert seen == [first.position]

    async def test_follow_delivers_events_appended_later(self, store: EventStore) -> None:
        before = await store.append(widget("a"), [new(WidgetCreated(name="a"))], expected=NEW)
        received: list[RecordedEvent] = []
        started = asyncio.Event()

        async def follow() -> None:
            async with iterating(store.read_all(after_position=0, follow=True)) as records:
                async for record in records:
                    received.append(record)
                    started.set()
                    if len(received) == 3:
                        return

        async with asyncio.timeout(10), asyncio.TaskGroup() as group:
            group.create_task(follow(), name="follower")
            await started.wait()
            r2 = await store.append(widget("a"), [new(WidgetIncremented())], expected=before)
            r3 = await store.append(gadget("g"), [new(GadgetCreated(colour="blue"))], expected=NEW)
        assert positions(received) == [before.position, r2.position, r3.position]

    # -- subscriptions -------------------------------------------------------------------------

    async def test_subscription_resumes_at_the_first_unacked_event_after_reopening(
        self, harness: StoreHarness
    ) -> None:
        store = harness.store
        revision = NEW
        for number in range(5):
            event = WidgetCreated(name="a") if number == 0 else WidgetIncremented()
            revision = await store.append(widget("a"), [new(event)], expected=revision)
        first: list[int] = []
        async with store.subscribe("projector") as subscription:
            assert await subscription.pending() == 5
            async with iterating(subscription) as records:
                async for record in records:
                    first.append(record.envelope.position)
                    if len(first) <= 2:
                        await subscription.ack(record)
                    if len(first) == 3:
                        break
        reopened = await harness.reopen()
        again: list[int] = []
        async with reopened.subscribe("projector") as subscription, asyncio.timeout(10):
            async with iterating(subscription) as records:
                async for record in records:
                    again.append(record.envelope.position)
                    await subscription.ack(record)
                    if len(again) == 3:
                        break
            assert await subscription.pending() == 0
        assert again == [*first[2:], revision.position - 1, revision.position]

    async def test_subscription_filters_by_type_and_sees_new_events(self, store: EventStore) -> None:
        await store.append(widget("w"), [new(WidgetCreated(name="w"))], expected=NEW)
        g1 = await store.append(gadget("g1"), [new(GadgetCreated(colour="red"))], expected=NEW)
        seen: list[int] = []
        later: list[int] = []
        async with (
            store.subscribe("gadgets", aggregate_type="gadget") as subscription,
            asyncio.timeout(10),
            iterating(subscription) as records,
        ):
            async for record in records:
                seen.append(record.envelope.position)
                await subscription.ack(record)
                if len(seen) == 1:
                    await store.append(widget("w2"), [new(WidgetCreated(name="w2"))], expected=NEW)
                    g2 = await store.append(gadget("g2"), [new(GadgetCreated(colour="blue"))], expected=NEW)
                    later.append(g2.position)
                if len(seen) == 2:
                    break
        assert seen == [g1.position, *later]

    # -- events this build cannot understand ---------------------------------------------------

    async def test_an_unknown_event_type_is_returned_as_unknown(self, harness: StoreHarness) -> None:
        key = widget("a")
        data = b'{"type":"widget.exploded","force":9}'
        position = await harness.inject(key, data, event_type="widget.exploded")
        (record,) = (await harness.store.load(key)).events
        assert record.event == UnknownEvent(type="widget.exploded", data=data)
        assert record.envelope.position == position
        (read,) = await collect(harness.store.read_all())
        assert read.event == record.event

    async def test_a_corrupt_payload_is_returned_as_undecodable(self, harness: StoreHarness) -> None:
        key = widget("a")
        position = await harness.inject(key, b"{not json", event_type="widget.created")
        (record,) = (await harness.store.load(key)).events
        (read,) = await collect(harness.store.read_all())
        assert isinstance(read.event, UndecodableEvent)
        for found in (record, read):
            assert isinstance(found.event, UndecodableEvent)
            # The payload, or the whole stored message when the payload cannot be told apart.
            assert b"{not json" in found.event.data
            assert found.event.data == read.event.data
            assert (found.envelope.position, found.envelope.aggregate_id) == (position, key.id)

    async def test_a_payload_of_the_wrong_shape_is_undecodable_with_its_bytes(
        self, harness: StoreHarness
    ) -> None:
        key = widget("a")
        data = b'{"type":"widget.created","name":5}'
        position = await harness.inject(key, data, event_type="widget.created")
        (record,) = (await harness.store.load(key)).events
        (read,) = await collect(harness.store.read_all())
        for found in (record, read):
            assert isinstance(found.event, UndecodableEvent)
            assert found.event.data == data
            assert "name" in found.event.reason
            assert found.envelope.position == position
            assert found.envelope.event_type == "widget.created"

    async def test_an_unknown_aggregate_type_is_returned_as_unknown(self, harness: StoreHarness) -> None:
        key = AggregateKey(type="sprocket", id="default/s")
        await harness.inject(key, b'{"type":"sprocket.made"}', event_type="sprocket.made")
        (record,) = (await harness.store.load(key)).events
        assert record.event == UnknownEvent(type="sprocket.made", data=b'{"type":"sprocket.made"}')

    async def test_an_old_schema_version_is_upcast_on_read(self, harness: StoreHarness) -> None:
        key = widget("a")
        await harness.inject(key, b'{"type":"widget.renamed","title":"old"}', event_type="widget.renamed")
        (record,) = (await harness.store.load(key)).events
        assert record.event == WidgetRenamed(name="old")
        assert record.envelope.schema_version == 1
        (read,) = await collect(harness.store.read_all())
        assert read.event == WidgetRenamed(name="old")

    async def test_dead_letter_keeps_the_original_bytes_reader_and_reason(
        self, harness: StoreHarness
    ) -> None:
        store = harness.store
        await store.append(widget("fine"), [new(WidgetCreated(name="fine"))], expected=NEW)
        position = await harness.inject(widget("a"), b"{not json", event_type="widget.created")
        (record,) = [r for r in await collect(store.read_all()) if r.envelope.position == position]
        await store.dead_letter(record, reader="hosts-view", reason="undecodable:\nbad json")
        await store.dead_letter(record, reader="hosts-view", reason="undecodable:\nbad json")
        await store.dead_letter(record, reader="audit", reason="skipped")
        stored = await harness.stored(position)
        assert b"{not json" in stored
        assert await harness.dead_letters() == [
            DeadLetterView("hosts-view", "undecodable: bad json", position, stored),
            DeadLetterView("audit", "skipped", position, stored),
        ]
