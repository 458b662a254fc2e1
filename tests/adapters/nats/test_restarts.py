"""The store across nats-server crashes and restarts: nothing acknowledged is lost, readers resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from adapters.nats.eventstore import JetStreamEventStore
from core.errors import StoreUnavailable
from core.events.base import NewEvent, RecordedEvent
from core.ids import AggregateKey
from core.ports import NEW, AggregateHistory, Revision, Subscription
from metalstream.devstack.nats import NatsServer
from tests.contracts.events import WidgetCreated, WidgetIncremented, new, widget
from tests.contracts.eventstore import iterating


async def append_when_back(
    store: JetStreamEventStore, key: AggregateKey, events: list[NewEvent], expected: Revision
) -> Revision:
    """Append, retrying while the client reconnects (a retry of a stored append is safe)."""
    async with asyncio.timeout(15):
        while True:
            try:
                return await store.append(key, events, expected=expected)
            except StoreUnavailable:
                await asyncio.sleep(0.05)


async def load_when_back(store: JetStreamEventStore, key: AggregateKey) -> AggregateHistory:
    async with asyncio.timeout(15):
        while True:
            try:
                return await store.load(key)
            except StoreUnavailable:
                await asyncio.sleep(0.05)


async def take(
    records: AsyncIterator[RecordedEvent], count: int, *, acking: Subscription | None = None
) -> list[int]:
    seen: list[int] = []
    async with asyncio.timeout(15):
        async for record in records:
            seen.append(record.envelope.position)
            if acking is not None:
                await acking.ack(record)
            if len(seen) == count:
                break
    return seen


async def test_every_acknowledged_event_survives_a_sigkill(
    nats_server: NatsServer, jetstream_store: JetStreamEventStore
) -> None:
    acknowledged: dict[AggregateKey, Revision] = {}
    for number in range(40):
        key = widget(f"w{number % 8}")
        events = [new(WidgetIncremented(by=i)) for i in range(1 + number % 3)]
        if key not in acknowledged:
            events = [new(WidgetCreated(name=key.id)), *events]
        acknowledged[key] = await jetstream_store.append(key, events, expected=acknowledged.get(key, NEW))

    await nats_server.kill()
    await nats_server.start()

    for key, revision in acknowledged.items():
        history = await load_when_back(jetstream_store, key)
        assert history.revision == revision
        assert [r.envelope.version for r in history.events] == list(range(1, revision.version + 1))


async def test_a_durable_subscription_keeps_delivering_after_a_server_restart(
    nats_server: NatsServer, jetstream_store: JetStreamEventStore
) -> None:
    store = jetstream_store
    key = widget("w")
    revision = await store.append(key, [new(WidgetCreated(name="w")), new(WidgetIncremented())], expected=NEW)
    async with store.subscribe("survivor") as subscription, iterating(subscription) as records:
        before = await take(records, 2, acking=subscription)
        await nats_server.kill()  # no "server shutdown" status: only missed heartbeats tell
        await nats_server.start()
        later = await append_when_back(
            store, key, [new(WidgetIncremented()), new(WidgetIncremented())], revision
        )
        after: list[int] = []
        while later.position not in after:
            after += await take(records, 1, acking=subscription)
    assert before == [revision.position - 1, revision.position]
    # Acks sent just before a SIGKILL may not have been stored: those events come again first.
    redelivered = [position for position in after if position <= revision.position]
    assert after == [*redelivered, later.position - 1, later.position]
    assert set(redelivered) <= set(before)


async def test_following_the_log_continues_after_a_server_restart(
    nats_server: NatsServer, jetstream_store: JetStreamEventStore
) -> None:
    store = jetstream_store
    key = widget("w")
    first = await store.append(key, [new(WidgetCreated(name="w"))], expected=NEW)
    async with iterating(store.read_all(follow=True)) as records:
        assert await take(records, 1) == [first.position]
        await nats_server.stop()
        await nats_server.start()
        second = await append_when_back(store, key, [new(WidgetIncremented())], first)
        assert await take(records, 1) == [second.position]
