"""A keyed work queue: each object's key is reconciled by one worker at a time.

Informers report *that* an object changed, often several times in quick succession; a controller
only needs to reconcile it once with its latest state, and must never reconcile the same object
in two workers at once (two BMC commands for one host would race). So the queue holds keys, not
events, with client-go's rules:

* a key added while it waits is not added twice (adds coalesce);
* a key added while a worker processes it is processed again afterwards, by one worker, never in
  parallel with the running one;
* a failed key is retried after a per-key exponential back-off (capped); success forgets its
  failure count;
* ``requeue_after(key, seconds)`` adds a key later (polling an external system); the earliest
  requested time wins.

``run`` owns the workers and the timer that releases delayed keys, all in one ``TaskGroup``;
cancelling ``run`` cancels them and returns nothing behind. Waiting keys stay in the queue, so
``run`` can be started again. Nothing polls: workers wait on an ``asyncio.Queue`` and the timer
sleeps until the earliest delayed key is due or an earlier one arrives.

Wiring with an informer (the handler only enqueues; the reconciler reads the informer's cache)::

    queue = WorkQueue(reconcile, workers=4, name="hosts")
    hosts = Informer(conn, BAREMETALHOSTS, handler=queue.add)
    async with asyncio.TaskGroup() as group:
        group.create_task(hosts.run(), name="k8s.hosts.informer")
        await hosts.synced.wait()  # reconcile against a complete cache
        group.create_task(queue.run(), name="k8s.hosts.queue")
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NoReturn

import structlog

from adapters.k8s import errors

log = structlog.get_logger("metalstream.k8s.workqueue")

Process = Callable[[str], Awaitable[None]]
"""Reconciles the object with this key; raising means "retry later with back-off"."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry delays that double per failure in a row: ``initial``, ``2*initial``, ... up to ``maximum``."""

    initial: float = 0.05
    """Seconds before the first retry."""
    maximum: float = 300.0
    """Upper bound of the delay, in seconds."""
    factor: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum or self.factor < 1:
            msg = (
                f"work queue back-off initial={self.initial!r}, maximum={self.maximum!r}, "
                f"factor={self.factor!r} is invalid: set 0 < initial <= maximum and factor >= 1"
            )
            raise ValueError(msg)

    def delay(self, failures: int) -> float:
        """The delay before retrying after ``failures`` failures in a row (``failures >= 1``)."""
        exponent = max(0, failures - 1)
        # Cap the exponent so a long outage cannot overflow the float.
        return min(self.maximum, self.initial * self.factor ** min(exponent, 64))


class WorkQueue:
    """Keys waiting to be processed by ``workers`` concurrent workers; see the module docstring."""

    def __init__(
        self, process: Process, *, workers: int = 2, backoff: Backoff | None = None, name: str = "workqueue"
    ) -> None:
        if workers < 1:
            msg = f"work queue {name!r}: workers={workers!r} is invalid: set it to at least 1"
            raise ValueError(msg)
        self.name = name
        self.workers = workers
        self.backoff = backoff or Backoff()
        self._process = process
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._dirty: set[str] = set()
        """Keys that need processing: each is in ``_ready`` unless a worker has it right now."""
        self._active: set[str] = set()
        self._failures: dict[str, int] = {}
        self._due: dict[str, float] = {}
        self._timers: list[tuple[float, int, str]] = []
        self._sequence = 0
        self._timer_changed = asyncio.Event()

    def add(self, key: str) -> None:
        """Process ``key`` soon (once, however often it is added before a worker takes it)."""
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._active:
            self._ready.put_nowait(key)

    def requeue_after(self, key: str, seconds: float) -> None:
        """Add ``key`` after ``seconds``; if it is already due earlier, keep the earlier time."""
        if seconds <= 0:
            self.add(key)
            return
        due = time.monotonic() + seconds
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        self._sequence += 1
        heapq.heappush(self._timers, (due, self._sequence, key))
        self._timer_changed.set()

    def failures(self, key: str) -> int:
        """Failures of ``key`` in a row so far (0 after a success)."""
        return self._failures.get(key, 0)

    def forget(self, key: str) -> None:
        """Drop ``key``'s failure count and any delayed add (it does not stop a pending add)."""
        self._failures.pop(key, None)
        self._due.pop(key, None)

    @property
    def processing(self) -> frozenset[str]:
        """The keys workers are processing right now."""
        return frozenset(self._active)

    @property
    def idle(self) -> bool:
        """Nothing to do now: no key waiting, none being processed (delayed keys aside)."""
        return not self._dirty and not self._active

    @property
    def delayed(self) -> int:
        """How many keys wait for a ``requeue_after`` time."""
        return len(self._due)

    def __len__(self) -> int:
        """Keys waiting for a worker."""
        return self._ready.qsize()

    async def run(self) -> NoReturn:
        """Run the workers and the delay timer until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._timer(), name=f"{self.name}.timer")
            for number in range(self.workers):
                group.create_task(self._worker(), name=f"{self.name}.worker{number}")
        msg = f"work queue {self.name!r} stopped without being cancelled"  # the tasks never return
        raise RuntimeError(msg)

    async def _worker(self) -> None:
        while True:
            key = await self._ready.get()
            self._dirty.discard(key)
            self._active.add(key)
            try:
                await self._process(key)
            except Exception as error:  # one failing key must not stop the worker
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = self.backoff.delay(failures)
                log.warning(
                    "processing failed, retrying",
                    queue=self.name,
                    key=key,
                    failures=failures,
                    retry_in=round(delay, 3),
                    error=f"{type(error).__name__}: {error}",
                    # A refusal or outage explains itself; anything else is a bug worth a traceback.
                    exc_info=not isinstance(error, errors.KubeError),
                )
                self.requeue_after(key, delay)
            else:
                self._failures.pop(key, None)
            finally:
                self._active.discard(key)
                if key in self._dirty:
                    self._ready.put_nowait(key)

    async def _timer(self) -> None:
        while True:
            self._timer_changed.clear()
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                due, _, key = heapq.heappop(self._timers)
                if self._due.get(key) == due:
                    del self._due[key]
                    self.add(key)
            wait = self._timers[0][0] - now if self._timers else None
            try:
                async with asyncio.timeout(wait):
                    await self._timer_changed.wait()
            except TimeoutError:
                pass
