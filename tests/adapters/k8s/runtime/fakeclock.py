"""A clock and sleep for the token bucket that move only when the bucket sleeps."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Starts at 0; ``sleep`` records the delay and advances the clock by it instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
