"""The command handler: load an aggregate, decide, append, and retry on a concurrent write.

One generic loop serves every aggregate type. Commands for one aggregate are serialised inside
this process by a per-aggregate lock, so concurrent callers (the Kubernetes watcher, the
provisioner, a CLI) queue instead of racing; optimistic concurrency in the store stays the guard
across processes, and a conflict reads what the other writer appended, decides again and retries.

Live aggregates are cached with their revision. A cached state can only be stale if another
process appended meanwhile; then the append conflicts (or, for a command the stale state would
reject, the rejection is checked against a fresh read), the entry is refreshed and the command is
decided again. So the cache never lets a decision, or a refusal, rest on an outdated state.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

import structlog

from core.aggregates.base import AggregateDefinition
from core.errors import ConcurrencyConflict, DomainError, StoreUnavailable
from core.events.base import Event, EventMetadata, NewEvent, RecordedEvent, UndecodableEvent, event_type_of
from core.ids import AggregateKey
from core.ports import NEW, EventStore, Revision

S = TypeVar("S")
C = TypeVar("C")

log = structlog.get_logger("metalstream.commanding")


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who is asking and why: becomes the envelope's actor, correlation and causation ids."""

    actor: str
    correlation_id: str | None = None
    causation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome(Generic[S]):
    """What handling one command did."""

    events: Sequence[Event]
    """The events recorded (empty when the command changed nothing)."""
    state: S
    revision: Revision


@dataclass(slots=True)
class _Entry(Generic[S]):
    state: S
    revision: Revision


class CommandHandler(Generic[S, C]):
    """Handles commands for one aggregate type against an event store."""

    def __init__(
        self,
        store: EventStore,
        definition: AggregateDefinition[S, C],
        *,
        cache_size: int = 10_000,
        max_attempts: int = 10,
        unavailable_retries: int = 2,
        clock: Callable[[], datetime] | None = None,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self._store = store
        self._definition = definition
        self._cache: OrderedDict[str, _Entry[S]] = OrderedDict()
        self._behind: set[str] = set()
        """Cached aggregates another writer has appended to (``forget``): caught up before use."""
        self._cache_size = cache_size
        self._locks: dict[str, asyncio.Lock] = {}
        self._max_attempts = max_attempts
        self._unavailable_retries = unavailable_retries
        self._clock = clock or (lambda: datetime.now(UTC))
        self._new_id = new_id or (lambda: uuid.uuid4().hex)
        self.conflicts = 0
        """Concurrency conflicts seen so far (a metric)."""

    @property
    def definition(self) -> AggregateDefinition[S, C]:
        return self._definition

    def _key(self, aggregate_id: str) -> AggregateKey:
        return AggregateKey(type=self._definition.type, id=aggregate_id)

    def _lock(self, aggregate_id: str) -> asyncio.Lock:
        lock = self._locks.get(aggregate_id)
        if lock is None:
            lock = self._locks[aggregate_id] = asyncio.Lock()
        return lock

    def _remember(self, aggregate_id: str, entry: _Entry[S]) -> None:
        current = self._cache.get(aggregate_id)
        if current is not None and current.revision.position > entry.revision.position:
            entry = current  # a read that finished after a newer append must not undo it
        else:
            self._behind.discard(aggregate_id)
        self._cache[aggregate_id] = entry
        self._cache.move_to_end(aggregate_id)
        while len(self._cache) > self._cache_size:
            evicted, _ = self._cache.popitem(last=False)
            self._behind.discard(evicted)
            lock = self._locks.get(evicted)
            if lock is not None and not lock.locked():
                del self._locks[evicted]

    async def _reload(self, aggregate_id: str, since: _Entry[S] | None = None) -> _Entry[S]:
        """The aggregate as stored: read in full, or only what was appended after ``since``.

        ``since`` is a state this handler folded from the store itself, so the events after its
        revision are exactly what it lacks; a writer that lost a race on a long history (a busy
        IP pool) then reads a few events instead of all of them.
        """
        history = await self._store.load(
            self._key(aggregate_id), after=since.revision if since is not None else None
        )
        for record in history.events:
            if isinstance(record.event, UndecodableEvent):
                log.warning(
                    "undecodable event in aggregate history; skipped",
                    aggregate=str(self._key(aggregate_id)),
                    position=record.envelope.position,
                    reason=record.event.reason,
                )
        start = since.state if since is not None else None
        state = self._definition.fold([r.event for r in history.events], start)
        entry = _Entry(state=state, revision=history.revision)
        self._remember(aggregate_id, entry)
        return entry

    async def load(self, aggregate_id: str) -> tuple[S, Revision]:
        """The current state and revision (from the cache when this process has it)."""
        entry = self._cache.get(aggregate_id)
        if entry is None or aggregate_id in self._behind:
            entry = await self._reload(aggregate_id, entry)
        else:
            self._cache.move_to_end(aggregate_id)
        return entry.state, entry.revision

    def cached(self, aggregate_id: str) -> tuple[S, Revision] | None:
        """The cached state without any I/O, or None (also when it is known to be behind)."""
        entry = self._cache.get(aggregate_id)
        return None if entry is None or aggregate_id in self._behind else (entry.state, entry.revision)

    async def history(self, aggregate_id: str, *, up_to_position: int | None = None) -> list[RecordedEvent]:
        """Every stored event of the aggregate (for audit), straight from the store."""
        loaded = await self._store.load(self._key(aggregate_id), up_to_position=up_to_position)
        return loaded.events

    async def handle(
        self, aggregate_id: str, command: C, context: CommandContext, *, confirm_unchanged: bool = False
    ) -> Outcome[S]:
        """Decide ``command`` against the aggregate and record the events it produces.

        Domain errors from ``decide`` propagate unchanged (nothing was recorded).

        ``confirm_unchanged``: when the command changes nothing on the cached state, check that
        against the store before answering. For answers that hand something out (an address
        already allocated to this claim), a cache behind another process's writes (the address
        released and given to someone else since) must not be believed. It costs a read, so it is
        only for such commands.
        """
        async with self._lock(aggregate_id):
            cached = self._cache.get(aggregate_id)
            fresh = cached is None or aggregate_id in self._behind
            entry = cached if cached is not None and not fresh else await self._reload(aggregate_id, cached)
            for _attempt in range(self._max_attempts):
                try:
                    events = list(self._definition.decide(entry.state, command))
                except DomainError:
                    if fresh:
                        raise
                    # The cached state may be behind another process's writes: a rejection
                    # only counts when the aggregate's current state rejects too.
                    entry, fresh = await self._reload(aggregate_id, entry), True
                    continue
                if not events:
                    if confirm_unchanged and not fresh:
                        entry, fresh = await self._reload(aggregate_id, entry), True
                        continue
                    return Outcome(events=(), state=entry.state, revision=entry.revision)
                new = self._wrap(events, context)
                try:
                    revision = await self._append(aggregate_id, new, entry.revision)
                except ConcurrencyConflict:
                    self.conflicts += 1
                    entry, fresh = await self._reload(aggregate_id, entry), True
                    continue
                state = entry.state
                for event in events:
                    state = self._definition.evolve(state, event)
                entry = _Entry(state=state, revision=revision)
                self._remember(aggregate_id, entry)
                # One line per recorded command, bound with what an operator searches by.
                log.info(
                    "command recorded",
                    aggregate=self._definition.type,
                    id=aggregate_id,
                    command=type(command).__name__,
                    actor=context.actor,
                    events=[event_type_of(e) for e in events],
                    event_ids=[n.meta.event_id for n in new],
                    version=revision.version,
                )
                return Outcome(events=events, state=state, revision=revision)
            log.error("gave up after repeated concurrent-write conflicts", aggregate=aggregate_id)
            raise ConcurrencyConflict(
                str(self._key(aggregate_id)), expected=entry.revision.position, actual=None
            )

    async def _append(self, aggregate_id: str, new: list[NewEvent], expected: Revision) -> Revision:
        """Append, re-sending the same events (same ids) if the store did not answer in time."""
        key = self._key(aggregate_id)
        for attempt in range(self._unavailable_retries + 1):
            try:
                return await self._store.append(key, new, expected=expected)
            except StoreUnavailable:
                self._cache.pop(aggregate_id, None)
                if attempt == self._unavailable_retries:
                    raise
                log.warning("event store did not answer; retrying the same append", aggregate=str(key))
        raise AssertionError  # pragma: no cover - the loop returns or raises

    def _wrap(self, events: list[Event], context: CommandContext) -> list[NewEvent]:
        now = self._clock()
        correlation = context.correlation_id or self._new_id()
        return [
            NewEvent(
                event=event,
                meta=EventMetadata(
                    event_id=self._new_id(),
                    occurred_at=now,
                    actor=context.actor,
                    correlation_id=correlation,
                    causation_id=context.causation_id,
                ),
            )
            for event in events
        ]

    def forget(self, aggregate_id: str) -> None:
        """Mark a cached aggregate as behind (another process appended to it).

        Its next use reads only the events after the cached revision and folds them on, instead
        of dropping the entry and reading the whole history again.
        """
        if aggregate_id in self._cache:
            self._behind.add(aggregate_id)


__all__ = ["NEW", "CommandContext", "CommandHandler", "Outcome"]
