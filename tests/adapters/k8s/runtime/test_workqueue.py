"""The keyed work queue, without a server: one worker per key, coalescing, delays, back-off, shutdown."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.k8s.workqueue import Backoff, WorkQueue
from tests.adapters.k8s.runtime.conftest import eventually, running


async def noop(key: str) -> None:
    return None


class Recorder:
    """A process function that records calls and checks that no key runs twice at once."""

    def __init__(self, steps: Callable[[str], int] = lambda key: 1) -> None:
        self.calls: list[str] = []
        self.active: set[str] = set()
        self.overlaps: list[str] = []
        self.max_parallel = 0
        self._steps = steps

    async def __call__(self, key: str) -> None:
        if key in self.active:
            self.overlaps.append(key)
        self.active.add(key)
        self.max_parallel = max(self.max_parallel, len(self.active))
        self.calls.append(key)
        try:
            for _ in range(self._steps(key)):
                await asyncio.sleep(0)
        finally:
            self.active.discard(key)


async def test_adds_before_a_worker_takes_the_key_coalesce() -> None:
    record = Recorder()
    queue = WorkQueue(record, workers=3)
    for _ in range(5):
        queue.add("ns/a")
    queue.add("ns/b")
    assert len(queue) == 2
    async with running(queue.run()):
        await eventually(lambda: queue.idle, what="queue drained")
    assert Counter(record.calls) == {"ns/a": 1, "ns/b": 1}


async def test_a_key_added_while_processing_runs_again_afterwards_not_in_parallel() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def process(key: str) -> None:
        calls.append(key)
        if len(calls) == 1:
            started.set()
            await release.wait()

    queue = WorkQueue(process, workers=4)
    queue.add("a")
    async with running(queue.run()):
        await started.wait()
        queue.add("a")
        queue.add("a")
        assert queue.processing == {"a"}
        assert len(queue) == 0, "the re-added key waits for the running one, not in the ready queue"
        release.set()
        await eventually(lambda: queue.idle, what="queue drained")
    assert calls == ["a", "a"]


@settings(max_examples=60, deadline=None)
@given(
    adds=st.lists(st.tuples(st.integers(0, 3), st.sampled_from("abcde")), min_size=1, max_size=40),
    workers=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_no_key_is_ever_processed_twice_at_once_and_every_add_is_seen(
    adds: list[tuple[int, str]], workers: int, seed: int
) -> None:
    rng = random.Random(seed)
    record = Recorder(steps=lambda key: rng.randint(0, 3))

    async def scenario() -> None:
        queue = WorkQueue(record, workers=workers)
        last_add: dict[str, int] = {}
        async with running(queue.run()):
            for pause, key in adds:
                for _ in range(pause):
                    await asyncio.sleep(0)
                last_add[key] = len(record.calls)  # calls started so far
                queue.add(key)
            await eventually(lambda: queue.idle, what="queue drained", within=10)
        # Each key's last add was followed by a processing run that started after it.
        for key, started_before in last_add.items():
            assert key in record.calls[started_before:], f"{key} added but not processed afterwards"

    asyncio.run(scenario())
    assert record.overlaps == []
    assert len(record.calls) <= len(adds), "adds coalesce, they never multiply"
    assert record.max_parallel <= workers


async def test_requeue_after_adds_the_key_later_and_the_earliest_time_wins() -> None:
    record = Recorder()
    queue = WorkQueue(record, workers=2)
    async with running(queue.run()):
        queue.requeue_after("late", 3600)
        queue.requeue_after("soon", 3600)
        queue.requeue_after("soon", 0.02)  # earlier: replaces the hour
        queue.add("now")
        await eventually(lambda: "soon" in record.calls, what="the delayed key was processed")
        assert queue.delayed == 1
        assert record.calls == ["now", "soon"]
        queue.requeue_after("late", 0)  # zero delay is an ordinary add
        await eventually(lambda: "late" in record.calls, what="the zero-delay key was processed")


async def test_failures_are_retried_with_a_growing_capped_backoff_and_forgotten_on_success() -> None:
    delays: list[float] = []
    outcomes = [False, False, False, False, True, False, True]

    class Recording(WorkQueue):
        def requeue_after(self, key: str, seconds: float) -> None:
            delays.append(seconds)
            super().requeue_after(key, min(seconds, 0.001))  # don't actually wait

    async def process(key: str) -> None:
        if not outcomes.pop(0):
            msg = "transient"
            raise RuntimeError(msg)

    queue = Recording(process, workers=1, backoff=Backoff(initial=1.0, maximum=5.0))
    queue.add("k")
    async with running(queue.run()):
        await eventually(lambda: len(outcomes) == 2, what="five attempts made")
        assert queue.failures("k") == 0, "success forgets the failures"
        queue.add("k")
        await eventually(lambda: not outcomes and queue.idle, what="the last attempts made")
    assert delays == [1.0, 2.0, 4.0, 5.0, 1.0]


def test_backoff_delays_double_up_to_the_maximum() -> None:
    backoff = Backoff(initial=0.5, maximum=10.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.delay(10_000) == 10.0


async def test_cancelling_run_stops_the_workers_and_keeps_waiting_keys() -> None:
    started = asyncio.Event()
    cancelled: list[str] = []

    async def process(key: str) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(key)
            raise

    queue = WorkQueue(process, workers=1)
    queue.add("busy")
    queue.add("waiting")
    task = asyncio.create_task(queue.run())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == ["busy"]
    assert queue.processing == frozenset()
    assert len(queue) == 1, "the waiting key stays queued for the next run"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: WorkQueue(noop, workers=0), id="no-workers"),
        pytest.param(lambda: Backoff(initial=0), id="zero-initial"),
        pytest.param(lambda: Backoff(initial=2, maximum=1), id="initial-above-maximum"),
    ],
)
def test_nonsense_settings_are_refused(make: Callable[[], Awaitable[None] | object]) -> None:
    with pytest.raises(ValueError, match="invalid"):
        make()
