"""The in-memory event store passes the event-store contract."""

from __future__ import annotations

import pytest

from core.ids import AggregateKey
from core.ports import EventStore
from tests.contracts.events import CODECS
from tests.contracts.eventstore import DeadLetterView, EventStoreContract
from tests.fakes.memory_eventstore import MemoryEventStore


class MemoryHarness:
    def __init__(self) -> None:
        self.memory = MemoryEventStore(CODECS)
        self.store: EventStore = self.memory
        self._injected = 0

    async def inject(
        self, key: AggregateKey, data: bytes, *, event_type: str, schema_version: int = 1
    ) -> int:
        self._injected += 1
        return await self.memory.inject(
            key, data, event_type=event_type, schema_version=schema_version, event_id=f"raw-{self._injected}"
        )

    async def stored(self, position: int) -> bytes:
        return self.memory.stored_bytes(position)

    async def reopen(self) -> EventStore:
        return self.memory

    async def dead_letters(self) -> list[DeadLetterView]:
        return [
            DeadLetterView(d.reader, d.reason, d.original_position, d.data) for d in self.memory.dead_letters
        ]


class TestMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def harness(self) -> MemoryHarness:
        return MemoryHarness()
