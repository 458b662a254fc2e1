"""``core.ports.EventStore`` in memory, with the JetStream store's semantics.

It stores what JetStream stores (an envelope and the payload bytes) and decodes with the same
codecs on every read, so upcasting, unknown types and corrupt payloads behave the same way. The
shared contract suite (``tests/contracts/eventstore.py``) runs against both implementations.

Every operation yields to the event loop once, like a network round trip would, so concurrent
writers really interleave between their load and their append.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from core.errors import ConcurrencyConflict
from core.events import codec as event_codec
from core.events.base import (
    Envelope,
    NewEvent,
    RecordedEvent,
    UnknownEvent,
    event_type_of,
)
from core.events.codec import EventCodec
from core.ids import AggregateKey
from core.ports import AggregateHistory, Revision

MAX_EVENTS_PER_APPEND = 1_000


@dataclass(frozen=True, slots=True)
class _Stored:
    key: AggregateKey
    envelope: Envelope
    data: bytes


@dataclass(frozen=True, slots=True)
class MemoryDeadLetter:
    """One dead-lettered event."""

    reader: str
    reason: str
    original_position: int
    event_id: str
    data: bytes


@dataclass(slots=True)
class _Checkpoint:
    floor: int = 0
    """Every matching position up to here is acked."""
    acked: set[int] = field(default_factory=set)
    """Acked positions above the floor."""


class MemoryEventStore:
    """An event store in a list, for unit tests and the contract suite."""

    def __init__(self, codecs: Mapping[str, EventCodec]) -> None:
        self._codecs = dict(codecs)
        self._log: list[_Stored] = []
        self._by_key: dict[AggregateKey, list[int]] = {}
        self._ids: set[str] = set()
        self._changed = asyncio.Condition()
        self._checkpoints: dict[str, _Checkpoint] = {}
        self.dead_letters: list[MemoryDeadLetter] = []

    async def append(self, key: AggregateKey, events: Sequence[NewEvent], *, expected: Revision) -> Revision:
        await asyncio.sleep(0)
        if not events:
            return expected
        self._check(key, events)
        positions = self._by_key.get(key, [])
        current = positions[-1] if positions else 0
        if current != expected.position or any(new.meta.event_id in self._ids for new in events):
            stored = self._stored_revision(key, events, expected)
            if stored is not None:
                return stored
            actual = current if current != expected.position else None
            raise ConcurrencyConflict(str(key), expected=expected.position, actual=actual)
        for offset, new in enumerate(events, start=1):
            event = new.event
            envelope = Envelope(
                event_id=new.meta.event_id,
                aggregate_type=key.type,
                aggregate_id=key.id,
                version=expected.version + offset,
                position=len(self._log) + 1,
                event_type=event_type_of(event),
                schema_version=type(event).schema_version,
                occurred_at=_utc(new.meta.occurred_at),
                actor=new.meta.actor,
                correlation_id=new.meta.correlation_id,
                causation_id=new.meta.causation_id,
            )
            self._store(key, envelope, event_codec.encode(event))
        await self._notify()
        return Revision(version=expected.version + len(events), position=len(self._log))

    async def load(
        self, key: AggregateKey, *, up_to_position: int | None = None, after: Revision | None = None
    ) -> AggregateHistory:
        await asyncio.sleep(0)
        since = after or Revision()
        positions = [p for p in self._by_key.get(key, []) if p > since.position]
        if up_to_position is not None:
            positions = [p for p in positions if p <= up_to_position]
        events = [self._decode(self._log[p - 1]) for p in positions]
        revision = Revision(
            version=since.version + len(events), position=positions[-1] if positions else since.position
        )
        return AggregateHistory(events=events, revision=revision)

    async def read_all(
        self, *, after_position: int = 0, aggregate_type: str | None = None, follow: bool = False
    ) -> AsyncIterator[RecordedEvent]:
        await asyncio.sleep(0)
        end = None if follow else len(self._log)
        position = after_position
        while True:
            while position < len(self._log) and (end is None or position < end):
                stored = self._log[position]
                position += 1
                if aggregate_type is None or stored.key.type == aggregate_type:
                    yield self._decode(stored)
            if end is not None:
                return
            await self._wait_beyond(position)

    def subscribe(self, name: str, *, aggregate_type: str | None = None) -> MemorySubscription:
        checkpoint = self._checkpoints.setdefault(name, _Checkpoint())
        return MemorySubscription(self, checkpoint, aggregate_type)

    async def dead_letter(self, record: RecordedEvent, *, reader: str, reason: str) -> None:
        await asyncio.sleep(0)
        envelope = record.envelope
        if any(d.reader == reader and d.original_position == envelope.position for d in self.dead_letters):
            return  # JetStream dedupes the copy by "<reader>:<event id>"
        stored = self._log[envelope.position - 1]
        self.dead_letters.append(
            MemoryDeadLetter(
                reader=reader,
                reason=" ".join(reason.split())[:2_000] or "(no reason given)",
                original_position=envelope.position,
                event_id=envelope.event_id,
                data=stored.data,
            )
        )

    async def last_position(self) -> int:
        await asyncio.sleep(0)
        return len(self._log)

    async def inject(
        self, key: AggregateKey, data: bytes, *, event_type: str, schema_version: int = 1, event_id: str
    ) -> int:
        """Store raw payload bytes as the next event of ``key`` (what a newer or broken writer might do)."""
        positions = self._by_key.get(key, [])
        envelope = Envelope(
            event_id=event_id,
            aggregate_type=key.type,
            aggregate_id=key.id,
            version=len(positions) + 1,
            position=len(self._log) + 1,
            event_type=event_type,
            schema_version=schema_version,
            occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
            actor="test:inject",
            correlation_id="inject",
        )
        self._store(key, envelope, data)
        await self._notify()
        return envelope.position

    def stored_bytes(self, position: int) -> bytes:
        """The payload bytes stored at ``position`` (what a dead letter of it keeps)."""
        return self._log[position - 1].data

    def _check(self, key: AggregateKey, events: Sequence[NewEvent]) -> None:
        if len(events) > MAX_EVENTS_PER_APPEND:
            msg = f"{key}: at most {MAX_EVENTS_PER_APPEND} events per append"
            raise ValueError(msg)
        codec = self._codecs.get(key.type)
        if codec is None:
            msg = f"{key}: no codec registered for aggregate type {key.type!r}"
            raise ValueError(msg)
        for new in events:
            if not codec.knows(new.event):
                msg = f"{key}: {type(new.event).__name__} is not an event of aggregate type {key.type!r}"
                raise ValueError(msg)
        if len({new.meta.event_id for new in events}) != len(events):
            msg = f"{key}: event ids repeat within one append"
            raise ValueError(msg)

    def _stored_revision(
        self, key: AggregateKey, events: Sequence[NewEvent], expected: Revision
    ) -> Revision | None:
        later = [p for p in self._by_key.get(key, []) if p > expected.position][: len(events)]
        if [self._log[p - 1].envelope.event_id for p in later] != [new.meta.event_id for new in events]:
            return None
        return Revision(version=expected.version + len(events), position=later[-1])

    def _store(self, key: AggregateKey, envelope: Envelope, data: bytes) -> None:
        self._log.append(_Stored(key=key, envelope=envelope, data=data))
        self._by_key.setdefault(key, []).append(envelope.position)
        self._ids.add(envelope.event_id)

    async def _wait_beyond(self, size: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self._log) > size)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _decode(self, stored: _Stored) -> RecordedEvent:
        envelope = stored.envelope
        codec = self._codecs.get(envelope.aggregate_type)
        if codec is None:
            return RecordedEvent(
                envelope=envelope, event=UnknownEvent(type=envelope.event_type, data=stored.data)
            )
        event = codec.decode(stored.data, schema_version=envelope.schema_version)
        return RecordedEvent(envelope=envelope, event=event)

    def _matching(self, aggregate_type: str | None) -> list[int]:
        return [
            s.envelope.position for s in self._log if aggregate_type is None or s.key.type == aggregate_type
        ]

    def _size(self) -> int:
        return len(self._log)

    def _at(self, index: int) -> _Stored:
        return self._log[index]


class MemorySubscription:
    """A durable subscription whose checkpoint is its ack floor, like a JetStream consumer.

    Opening it starts after the floor (the last position before the first un-acked event), so
    un-acked events come back first and in log order; events acked out of order above the floor
    are delivered again too (at least once).
    """

    def __init__(self, store: MemoryEventStore, checkpoint: _Checkpoint, aggregate_type: str | None) -> None:
        self._store = store
        self._checkpoint = checkpoint
        self._aggregate_type = aggregate_type
        self._delivered_up_to = checkpoint.floor

    async def __aenter__(self) -> Self:
        await asyncio.sleep(0)
        self._delivered_up_to = self._checkpoint.floor
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.sleep(0)

    async def __aiter__(self) -> AsyncIterator[RecordedEvent]:
        store = self._store
        index = self._delivered_up_to
        while True:
            while index < store._size():
                stored = store._at(index)
                index += 1
                if self._aggregate_type is not None and stored.key.type != self._aggregate_type:
                    continue
                self._delivered_up_to = stored.envelope.position
                yield store._decode(stored)
            await store._wait_beyond(index)

    async def ack(self, record: RecordedEvent) -> None:
        await asyncio.sleep(0)
        position = record.envelope.position
        checkpoint = self._checkpoint
        if position <= checkpoint.floor or position > self._delivered_up_to:
            return
        checkpoint.acked.add(position)
        for candidate in self._store._matching(self._aggregate_type):
            if candidate <= checkpoint.floor:
                continue
            if candidate not in checkpoint.acked:
                break
            checkpoint.floor = candidate
            checkpoint.acked.discard(candidate)

    async def pending(self) -> int:
        await asyncio.sleep(0)
        return sum(1 for p in self._store._matching(self._aggregate_type) if p > self._delivered_up_to)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        msg = f"occurred_at must be timezone-aware (got naive {moment.isoformat()})"
        raise ValueError(msg)
    return moment.astimezone(UTC)
