"""The ports: what the domain needs from the outside world, as structural Protocols.

Adapters implement these without importing ``core`` types they do not need, and the composition
root plugs them together. Every implementation of ``EventStore`` must pass the shared contract
suite in ``tests/contracts/eventstore.py``; the in-memory one exists so that suite, and fast unit
tests, can also run without a server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import msgspec

from core.events.base import NewEvent, RecordedEvent
from core.ids import AggregateKey


class Revision(msgspec.Struct, frozen=True, kw_only=True):
    """How far an aggregate's history goes: the optimistic-concurrency token for the next append."""

    version: int = 0
    """Number of events in the aggregate (its per-aggregate sequence of the last event)."""
    position: int = 0
    """Global store position of the aggregate's last event; 0 when it has none."""


NEW = Revision()
"""The revision of an aggregate that has no events yet."""


class AggregateHistory(msgspec.Struct, frozen=True, kw_only=True):
    """One aggregate's events in order, and the revision they bring it to."""

    events: list[RecordedEvent]
    revision: Revision


class Subscription(Protocol):
    """A durable, checkpointed reader of the whole log, for projections and process managers.

    Iteration yields every event after the subscription's checkpoint, then waits for new ones,
    forever. The checkpoint is the first event not yet acknowledged; an un-acked event is
    delivered again when the subscription is opened again. One reader per subscription name.
    Events that cannot be decoded are yielded too (as ``UnknownEvent``/``UndecodableEvent``),
    so the reader can dead-letter them and move on.
    """

    def __aiter__(self) -> AsyncIterator[RecordedEvent]: ...

    async def ack(self, record: RecordedEvent) -> None:
        """Mark ``record`` as handled."""
        ...

    async def pending(self) -> int:
        """How many events are stored after the last delivered one (consumer lag)."""
        ...


class EventStore(Protocol):
    """Append-only storage of events, one ordered history per aggregate, one global order."""

    async def append(self, key: AggregateKey, events: Sequence[NewEvent], *, expected: Revision) -> Revision:
        """Append ``events`` atomically if the aggregate is still at ``expected``.

        Raises ``core.errors.ConcurrencyConflict`` when another writer got there first. A retry
        of an append that was already stored (same event ids, same expected revision) returns
        the revision it produced instead of failing.
        """
        ...

    async def load(
        self, key: AggregateKey, *, up_to_position: int | None = None, after: Revision | None = None
    ) -> AggregateHistory:
        """Read one aggregate's events, optionally only those at or before a global position.

        With ``after`` (a revision this aggregate had), only the events appended since are read and
        the returned revision counts on from it: a writer that lost a race catches up on what the
        winner wrote instead of reading the whole history again.
        """
        ...

    def read_all(
        self,
        *,
        after_position: int = 0,
        aggregate_type: str | None = None,
        follow: bool = False,
    ) -> AsyncIterator[RecordedEvent]:
        """Read the global log in order.

        Without ``follow`` the read ends at the newest position present when iteration starts;
        with it, it waits for new events forever. Events this build cannot decode are yielded as
        ``UnknownEvent``/``UndecodableEvent`` rather than raised. Close an iterator you leave
        early (``contextlib.aclosing``) so the store can release its consumer at once.
        """
        ...

    def subscribe(
        self, name: str, *, aggregate_type: str | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """Open (creating if needed) the durable subscription called ``name``."""
        ...

    async def dead_letter(self, record: RecordedEvent, *, reader: str, reason: str) -> None:
        """Copy an event a reader could not handle to the dead-letter log, with the reason.

        The copy keeps the bytes exactly as stored; dead-lettering the same event twice for the
        same reader stores it once.
        """
        ...

    async def last_position(self) -> int:
        """The global position of the newest event, 0 for an empty store."""
        ...


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A projection's saved progress: the last position it folded and its state then."""

    position: int
    snapshot: bytes = b""


class CheckpointStore(Protocol):
    """Durable storage for projection checkpoints (one per projection name)."""

    async def load(self, name: str) -> Checkpoint | None:
        """The newest checkpoint saved under ``name``, or None."""
        ...

    async def save(self, name: str, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint saved under ``name``."""
        ...
