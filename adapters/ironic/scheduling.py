"""Runs the provisioner for many hosts: one at a time per host, several hosts in parallel.

The loop is fed the newest state of each host (``update``, or an async iterable given to
``run``) and keeps, per host, when it is next due: right away after a state change, or when the
provisioner's requeue time comes. Workers take due hosts; a host is never handed to two workers
at once, and a state change that arrives while its host is being reconciled makes it due again
as soon as that reconcile ends. Everything runs inside ``run()`` under one ``TaskGroup``: no task
outlives it, and cancelling it stops the workers.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncIterable, Callable
from typing import Final, Protocol

import structlog

from adapters.ironic.provisioning import ReconcileResult
from core.aggregates.host_state import HostState

log = structlog.get_logger("metalstream.ironic.scheduling")

DEFAULT_CONCURRENCY: Final = 8
"""Like BMO's controller concurrency (min(NumCPU, 8))."""
ERROR_REQUEUE: Final = 10.0


class Reconciler(Protocol):
    async def reconcile(self, state: HostState) -> ReconcileResult: ...


class ProvisionerLoop:
    """Schedules ``reconciler.reconcile`` per host. Call ``run()`` once, inside a TaskGroup."""

    def __init__(
        self,
        reconciler: Reconciler,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reconciler = reconciler
        self._concurrency = max(1, concurrency)
        self._clock = clock
        self._states: dict[str, HostState] = {}
        self._due: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._in_flight: set[str] = set()
        self._changed: set[str] = set()
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._wakeup = asyncio.Event()
        self.reconciles = 0
        """Reconciles run so far (a metric)."""

    # -- feeding ---------------------------------------------------------------------------------

    def update(self, state: HostState) -> None:
        """Record a host's newest state and make it due now (non-blocking; any task may call it)."""
        host_id = state.id
        if state.deleted or not state.exists:
            self._states.pop(host_id, None)
            self._due.pop(host_id, None)
            return
        self._states[host_id] = state
        if host_id in self._in_flight:
            self._changed.add(host_id)
        else:
            self._schedule(host_id, 0.0)

    def wake(self, host_id: str) -> None:
        """Make a known host due now without a new state (e.g. the capacity it waits for is free)."""
        if host_id not in self._states:
            return
        if host_id in self._in_flight:
            self._changed.add(host_id)
        else:
            self._schedule(host_id, 0.0)

    def forget(self, host_id: str) -> None:
        self._states.pop(host_id, None)
        self._due.pop(host_id, None)

    @property
    def hosts(self) -> int:
        return len(self._states)

    def _schedule(self, host_id: str, delay: float) -> None:
        when = self._clock() + delay
        current = self._due.get(host_id)
        if current is not None and current <= when:
            return
        self._due[host_id] = when
        heapq.heappush(self._heap, (when, host_id))
        self._wakeup.set()

    # -- running ---------------------------------------------------------------------------------

    async def run(self, updates: AsyncIterable[HostState] | None = None) -> None:
        """Reconcile hosts until cancelled."""
        async with asyncio.TaskGroup() as group:
            if updates is not None:
                group.create_task(self._consume(updates), name="provisioner.updates")
            group.create_task(self._dispatch(), name="provisioner.dispatch")
            for i in range(self._concurrency):
                group.create_task(self._work(), name=f"provisioner.worker-{i}")

    async def _consume(self, updates: AsyncIterable[HostState]) -> None:
        async for state in updates:
            self.update(state)

    async def _dispatch(self) -> None:
        """Move due hosts to the ready queue; sleep until the next one is due or a change arrives."""
        while True:
            self._wakeup.clear()
            now = self._clock()
            while self._heap and self._heap[0][0] <= now:
                when, host_id = heapq.heappop(self._heap)
                if self._due.get(host_id) != when:
                    continue  # superseded by an earlier schedule, or forgotten
                del self._due[host_id]
                self._ready.put_nowait(host_id)
            delay = self._heap[0][0] - now if self._heap else None
            try:
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
            except TimeoutError:
                pass

    async def _work(self) -> None:
        while True:
            host_id = await self._ready.get()
            state = self._states.get(host_id)
            if state is None or host_id in self._in_flight:
                continue
            self._in_flight.add(host_id)
            self._changed.discard(host_id)
            try:
                result = await self._reconcile(state)
            finally:
                self._in_flight.discard(host_id)
            if host_id not in self._states:
                continue
            if host_id in self._changed:
                self._changed.discard(host_id)
                self._schedule(host_id, 0.0)
            elif result.requeue_after is not None:
                self._schedule(host_id, result.requeue_after)

    async def _reconcile(self, state: HostState) -> ReconcileResult:
        self.reconciles += 1
        try:
            return await self._reconciler.reconcile(state)
        except Exception:
            log.exception("reconcile failed unexpectedly", host=state.id)
            return ReconcileResult(ERROR_REQUEUE)
