"""Measuring the event store and the command handler without teaching them about metrics.

``MeteredEventStore`` is an ``EventStore`` that delegates to another one and records append
latency, concurrency conflicts and dead letters. ``MeteredCommandHandler`` is a
``CommandHandler`` that counts every command by outcome. The composition root swaps them in
where it builds the real ones, so the NATS adapter, the projections and the handler stay free
of Prometheus, and a test store or handler can be measured the same way.

``track_projection_lag`` keeps ``metalstream_projection_lag_events`` current for running
projections. Lag is counted in log positions: for a projection that reads one aggregate type it
includes later events of other types until its next event arrives, so read it as an upper bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import structlog

from core.aggregates.base import AggregateDefinition
from core.errors import ConcurrencyConflict, DomainError, StoreUnavailable
from core.events.base import NewEvent, RecordedEvent
from core.ids import AggregateKey
from core.ports import AggregateHistory, EventStore, Revision, Subscription
from metalstream.commanding import CommandContext, CommandHandler, Outcome
from metalstream.observability.metrics import CommandOutcome, Metrics
from projections.running import ProjectionRunner

S = TypeVar("S")
C = TypeVar("C")

log = structlog.get_logger("metalstream.observability")


class MeteredEventStore:
    """An ``EventStore`` that measures the one it wraps."""

    def __init__(self, store: EventStore, metrics: Metrics) -> None:
        self.inner = store
        self._metrics = metrics

    async def append(self, key: AggregateKey, events: Sequence[NewEvent], *, expected: Revision) -> Revision:
        """Append through the wrapped store; time it, and count a conflict before re-raising it."""
        started = time.perf_counter()
        try:
            revision = await self.inner.append(key, events, expected=expected)
        except ConcurrencyConflict:
            self._metrics.observe_append(key.type, time.perf_counter() - started)
            self._metrics.count_append_conflict(key.type)
            raise
        self._metrics.observe_append(key.type, time.perf_counter() - started)
        return revision

    async def load(
        self, key: AggregateKey, *, up_to_position: int | None = None, after: Revision | None = None
    ) -> AggregateHistory:
        return await self.inner.load(key, up_to_position=up_to_position, after=after)

    def read_all(
        self, *, after_position: int = 0, aggregate_type: str | None = None, follow: bool = False
    ) -> AsyncIterator[RecordedEvent]:
        return self.inner.read_all(
            after_position=after_position, aggregate_type=aggregate_type, follow=follow
        )

    def subscribe(
        self, name: str, *, aggregate_type: str | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        return self.inner.subscribe(name, aggregate_type=aggregate_type)

    async def dead_letter(self, record: RecordedEvent, *, reader: str, reason: str) -> None:
        """Dead-letter through the wrapped store, then count it for ``reader``."""
        await self.inner.dead_letter(record, reader=reader, reason=reason)
        self._metrics.count_dead_letter(reader)

    async def last_position(self) -> int:
        return await self.inner.last_position()


class MeteredCommandHandler(CommandHandler[S, C]):
    """A ``CommandHandler`` that counts each command in ``metalstream_commands_total``.

    The ``command`` label is the command's class name (``ApplySpec``, ``RecordFailure``, ...), a
    small fixed set per aggregate type. Cancellation is not an outcome and is not counted.
    """

    def __init__(
        self, store: EventStore, definition: AggregateDefinition[S, C], *, metrics: Metrics, **options: Any
    ) -> None:
        super().__init__(store, definition, **options)
        self._metrics = metrics

    async def handle(
        self, aggregate_id: str, command: C, context: CommandContext, *, confirm_unchanged: bool = False
    ) -> Outcome[S]:
        aggregate, name = self.definition.type, type(command).__name__
        try:
            outcome = await super().handle(
                aggregate_id, command, context, confirm_unchanged=confirm_unchanged
            )
        except ConcurrencyConflict:
            self._metrics.count_command(aggregate, name, CommandOutcome.CONFLICT)
            raise
        except StoreUnavailable:
            self._metrics.count_command(aggregate, name, CommandOutcome.UNAVAILABLE)
            raise
        except DomainError:
            self._metrics.count_command(aggregate, name, CommandOutcome.REJECTED)
            raise
        except Exception:
            self._metrics.count_command(aggregate, name, CommandOutcome.FAILED)
            raise
        result = CommandOutcome.RECORDED if outcome.events else CommandOutcome.UNCHANGED
        self._metrics.count_command(aggregate, name, result)
        return outcome


async def track_projection_lag(
    metrics: Metrics,
    store: EventStore,
    runners: Iterable[ProjectionRunner],
    *,
    interval: float = 5.0,
    request_timeout: float = 5.0,
) -> None:
    """Every ``interval`` seconds, set each runner's lag behind the newest event; until cancelled.

    One child of the process's TaskGroup. A store that does not answer within ``request_timeout`` leaves
    the gauges at their last values (the readiness checks report the outage, not this loop).
    """
    watched = list(runners)
    while True:
        try:
            async with asyncio.timeout(request_timeout):
                newest = await store.last_position()
        except (StoreUnavailable, TimeoutError) as exc:
            log.debug("projection lag not updated: event store did not answer", error=type(exc).__name__)
        else:
            for runner in watched:
                metrics.set_projection_lag(runner.projection.name, newest - runner.position)
        await asyncio.sleep(interval)


__all__ = ["MeteredCommandHandler", "MeteredEventStore", "track_projection_lag"]
