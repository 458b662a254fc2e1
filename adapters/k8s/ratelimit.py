"""A token bucket that spaces out requests to the API server.

A controller that reacts to a burst of events (a relist after an outage, a thousand hosts changing
at once) would otherwise send requests as fast as the loop can, and the API server's priority and
fairness would start rejecting them with 429 for everybody. Like client-go, every request first
takes a token from a bucket that holds at most ``burst`` tokens and refills at ``rate`` per second.

The bucket works by *reservation*: ``acquire`` takes a token at once, even if that drives the count
below zero, and then sleeps exactly until that token will have been refilled. So waiters are
served in arrival order, each with a single sleep (no polling), and the bucket's state is just two
numbers. A waiter that is cancelled gives its token back.

The clock and the sleep are parameters so that tests can drive the bucket with a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
"""Seconds on a monotonic clock."""
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """At most ``burst`` requests at once, then ``rate`` per second on average."""

    def __init__(
        self, rate: float, burst: int, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        """A full bucket. ``rate`` must be positive and ``burst`` at least 1."""
        if not rate > 0:
            msg = f"rate limiter qps must be > 0 requests per second, got {rate!r}"
            raise ValueError(msg)
        if burst < 1:
            msg = f"rate limiter burst must be >= 1 request, got {burst!r}"
            raise ValueError(msg)
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self.acquired = 0
        """Tokens handed out so far."""
        self.waits = 0
        """How many of those had to wait."""
        self.waited = 0.0
        """Total seconds of waiting reserved by those (by the bucket's clock)."""

    @property
    def tokens(self) -> float:
        """Tokens available now; negative while callers are waiting for reserved ones."""
        self._refill()
        return self._tokens

    def reserve(self) -> float:
        """Take a token now and return how many seconds the caller must wait before using it."""
        self._refill()
        self._tokens -= 1.0
        self.acquired += 1
        if self._tokens >= 0:
            return 0.0
        delay = -self._tokens / self.rate
        self.waits += 1
        self.waited += delay
        return delay

    def refund(self) -> None:
        """Give back a reserved token that will not be used."""
        self._refill()
        self._tokens = min(float(self.burst), self._tokens + 1.0)

    async def acquire(self) -> float:
        """Wait for a token; return the seconds waited (0.0 when one was available)."""
        delay = self.reserve()
        if delay > 0:
            try:
                await self._sleep(delay)
            except asyncio.CancelledError:
                self.refund()
                raise
        return delay

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
