"""The JetStream event store passes the event-store contract against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client

from adapters.nats import headers as hdr
from adapters.nats.eventstore import JetStreamEventStore
from core.ids import AggregateKey
from core.ports import EventStore
from tests.adapters.nats.conftest import SETTINGS, Connect
from tests.contracts.events import CODECS
from tests.contracts.eventstore import DeadLetterView, EventStoreContract


class JetStreamHarness:
    def __init__(self, store: JetStreamEventStore, nc: Client, connect: Connect) -> None:
        self.jetstream = store
        self.store: EventStore = store
        self._nc = nc
        self._connect = connect
        self._opened: list[JetStreamEventStore] = []
        self._injected = 0

    async def inject(
        self, key: AggregateKey, data: bytes, *, event_type: str, schema_version: int = 1
    ) -> int:
        self._injected += 1
        history = await self.jetstream.load(key)
        headers = {
            hdr.MSG_ID: f"raw-{self._injected}",
            hdr.EVENT_TYPE: event_type,
            hdr.SCHEMA_VERSION: str(schema_version),
            hdr.AGGREGATE_TYPE: key.type,
            hdr.AGGREGATE_ID: key.id,
            hdr.VERSION: str(history.revision.version + 1),
            hdr.OCCURRED_AT: "2026-01-01T00:00:00Z",
            hdr.ACTOR: "test:inject",
            hdr.CORRELATION_ID: "inject",
        }
        ack = await self._nc.jetstream().publish(self.jetstream.layout.aggregate(key), data, headers=headers)
        return ack.seq

    async def reopen(self) -> EventStore:
        store = await JetStreamEventStore.connect(await self._connect(), CODECS, settings=SETTINGS)
        self._opened.append(store)
        return store

    async def dead_letters(self) -> list[DeadLetterView]:
        return [
            DeadLetterView(d.reader, d.reason, d.original_position, d.data)
            for d in await self.jetstream.dead_letters()
        ]

    async def close(self) -> None:
        for store in self._opened:
            await store.close()


class TestJetStreamEventStore(EventStoreContract):
    @pytest.fixture
    async def harness(
        self, jetstream_store: JetStreamEventStore, nc: Client, connect: Connect
    ) -> AsyncIterator[JetStreamHarness]:
        harness = JetStreamHarness(jetstream_store, nc, connect)
        yield harness
        await harness.close()
