"""The JetStream event store passes the event-store contract against a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import msgspec
import pytest
from nats.aio.client import Client

from adapters.nats import wire
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
        envelope = wire.WireEnvelope(
            event_id=f"raw-{self._injected}",
            aggregate_type=key.type,
            aggregate_id=key.id,
            version=history.revision.version + 1,
            event_type=event_type,
            schema_version=schema_version,
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
            actor="test:inject",
            correlation_id="inject",
        )
        # Spliced by hand, so a corrupt payload makes a corrupt message, as a broken writer would.
        body = b'{"envelope":' + msgspec.json.encode(envelope) + b',"event":' + data + b"}"
        headers = {wire.MSG_ID: envelope.event_id}
        ack = await self._nc.jetstream().publish(self.jetstream.layout.aggregate(key), body, headers=headers)
        return ack.seq

    async def stored(self, position: int) -> bytes:
        message = await self._nc.jetstream().get_msg(self.jetstream.settings.stream, position)
        assert message.data is not None
        return message.data

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
