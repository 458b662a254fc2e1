"""The token bucket, on a fake clock: burst, steady rate, refill cap, FIFO reservations, refunds."""

from __future__ import annotations

import asyncio

import pytest

from adapters.k8s.ratelimit import TokenBucket
from tests.adapters.k8s.runtime.fakeclock import FakeClock


async def test_a_full_bucket_serves_a_burst_then_spaces_requests_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 5, clock=clock, sleep=clock.sleep)

    waits = [await bucket.acquire() for _ in range(8)]

    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.1, 0.1, 0.1])
    assert clock.now == pytest.approx(0.3)
    assert (bucket.acquired, bucket.waits) == (8, 3)
    assert bucket.waited == pytest.approx(0.3)


async def test_requests_over_a_period_never_exceed_burst_plus_rate_times_period() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4.0, 2, clock=clock, sleep=clock.sleep)
    for _ in range(41):
        await bucket.acquire()
    # 41 requests from a full bucket of 2 at 4/s take (41 - 2) / 4 seconds of (fake) time.
    assert clock.now == pytest.approx(39 / 4)


def test_idle_time_refills_only_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, 3, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert bucket.reserve() == 0.0
    assert bucket.tokens == 0.0
    clock.now += 1.5
    assert bucket.tokens == pytest.approx(1.5)
    clock.now += 3600
    assert bucket.tokens == 3.0


def test_concurrent_callers_get_successive_slots_in_arrival_order() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 1, clock=clock, sleep=clock.sleep)
    delays = [bucket.reserve() for _ in range(4)]
    assert delays == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert bucket.tokens == pytest.approx(-3.0)


async def test_a_cancelled_waiter_gives_its_token_back() -> None:
    clock = FakeClock()
    release = asyncio.Event()

    async def blocking_sleep(seconds: float) -> None:
        await release.wait()

    bucket = TokenBucket(1.0, 1, clock=clock, sleep=blocking_sleep)
    assert await bucket.acquire() == 0.0
    waiter = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0)
    assert bucket.tokens == -1.0
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.tokens == 0.0


@pytest.mark.parametrize(
    ("rate", "burst", "message"),
    [
        pytest.param(0.0, 1, "qps must be > 0", id="zero-rate"),
        pytest.param(-1.0, 1, "qps must be > 0", id="negative-rate"),
        pytest.param(1.0, 0, "burst must be >= 1", id="zero-burst"),
    ],
)
def test_nonsense_limits_are_refused_naming_the_setting(rate: float, burst: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TokenBucket(rate, burst)
