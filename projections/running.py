"""Keeping a read model up to date: checkpoint, catch up, follow, and never stop on bad data.

A projection is a pure fold with a snapshot. The runner restores the last checkpoint, reads the
log from the position it covers, and then follows new events, saving a checkpoint every so many
events or seconds. A message it cannot understand (an event type from a newer version, corrupt
bytes) or that makes the fold fail is recorded: logged, counted and copied to the dead-letter
log; then the runner moves on, so one bad message cannot stall every host's status. If the
store goes away the runner waits and resumes from the last position it folded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from core.errors import StoreUnavailable
from core.events.base import RecordedEvent, UndecodableEvent, UnknownEvent
from core.ports import Checkpoint, CheckpointStore, EventStore

log = structlog.get_logger("metalstream.projections")


class Projection(Protocol):
    """A read model folded from the log."""

    name: str
    aggregate_type: str | None

    def apply(self, record: RecordedEvent) -> None: ...

    def snapshot(self) -> bytes: ...

    def restore(self, snapshot: bytes) -> None: ...


class NoCheckpoints:
    """A checkpoint store that keeps nothing: the projection is rebuilt from the log at every start.

    For views that are cheap to rebuild and private to one process (a controller's own copy of
    the hosts view), where a shared checkpoint would only add writes.
    """

    async def load(self, name: str) -> Checkpoint | None:
        return None

    async def save(self, name: str, checkpoint: Checkpoint) -> None:
        return None


class ProjectionRunner:
    """Drives one projection from its checkpoint to the live end of the log."""

    def __init__(
        self,
        projection: Projection,
        store: EventStore,
        checkpoints: CheckpointStore,
        *,
        checkpoint_every: int = 5_000,
        checkpoint_interval: float = 10.0,
        reconnect_delay: float = 1.0,
        on_applied: Callable[[RecordedEvent], None] | None = None,
    ) -> None:
        self.projection = projection
        self._store = store
        self._checkpoints = checkpoints
        self._checkpoint_every = checkpoint_every
        self._checkpoint_interval = checkpoint_interval
        self._reconnect_delay = reconnect_delay
        self._on_applied = on_applied
        self.position = 0
        """The last log position folded into the projection."""
        self.applied = 0
        self.dead_lettered = 0
        self.caught_up = asyncio.Event()
        """Set once the projection has folded everything stored when it started."""
        self._saved_position = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._unsaved = 0
        self._last_save = time.monotonic()

    async def wait_for(self, position: int) -> None:
        """Return once everything up to ``position`` is folded (read-your-writes for callers)."""
        if self.position >= position:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((position, waiter))
        await waiter

    def _wake(self) -> None:
        still: list[tuple[int, asyncio.Future[None]]] = []
        for position, waiter in self._waiters:
            if position <= self.position:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                still.append((position, waiter))
        self._waiters = still

    async def restore(self) -> None:
        """Load the newest checkpoint, if any."""
        checkpoint = await self._checkpoints.load(self.projection.name)
        if checkpoint is not None:
            self.projection.restore(checkpoint.snapshot)
            self.position = self._saved_position = checkpoint.position
            log.info("projection restored", projection=self.projection.name, position=self.position)

    async def catch_up(self) -> None:
        """Fold every event stored now (after the restored checkpoint)."""
        async for record in self._store.read_all(
            after_position=self.position, aggregate_type=self.projection.aggregate_type
        ):
            await self._fold(record)
        self.caught_up.set()
        await self.save()

    async def run(self) -> None:
        """Restore, catch up, then follow the log forever (surviving store outages)."""
        await self.restore()
        while True:
            try:
                if not self.caught_up.is_set():
                    await self.catch_up()
                async for record in self._store.read_all(
                    after_position=self.position, aggregate_type=self.projection.aggregate_type, follow=True
                ):
                    await self._fold(record)
                    if self._due():
                        await self.save()
            except StoreUnavailable as exc:
                log.warning(
                    "event store unavailable; projection will resume",
                    projection=self.projection.name,
                    position=self.position,
                    error=str(exc),
                )
                await asyncio.sleep(self._reconnect_delay)

    def _due(self) -> bool:
        return self._unsaved >= self._checkpoint_every or (
            self._unsaved > 0 and time.monotonic() - self._last_save >= self._checkpoint_interval
        )

    async def save(self) -> None:
        """Write a checkpoint if anything was folded since the last one."""
        if self.position == self._saved_position:
            return
        await self._checkpoints.save(
            self.projection.name, Checkpoint(position=self.position, snapshot=self.projection.snapshot())
        )
        self._saved_position = self.position
        self._unsaved = 0
        self._last_save = time.monotonic()

    async def _fold(self, record: RecordedEvent) -> None:
        position = record.envelope.position
        if position <= self.position:
            return  # redelivered after a reconnect
        event = record.event
        if isinstance(event, UnknownEvent | UndecodableEvent):
            reason = (
                f"unknown event type {event.type!r}"
                if isinstance(event, UnknownEvent)
                else f"undecodable: {event.reason}"
            )
            await self._dead_letter(record, reason)
        else:
            try:
                self.projection.apply(record)
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the read model
                await self._dead_letter(record, f"projection failed: {type(exc).__name__}: {exc}")
            else:
                self.applied += 1
                if self._on_applied is not None:
                    self._on_applied(record)
        self.position = position
        self._unsaved += 1
        if self._waiters:
            self._wake()

    async def _dead_letter(self, record: RecordedEvent, reason: str) -> None:
        self.dead_lettered += 1
        log.warning(
            "event skipped and dead-lettered",
            projection=self.projection.name,
            position=record.envelope.position,
            aggregate=f"{record.envelope.aggregate_type}:{record.envelope.aggregate_id}",
            event_type=record.envelope.event_type,
            reason=reason,
        )
        await self._store.dead_letter(record, reader=self.projection.name, reason=reason)
