"""Waiting for a condition that nothing signals (a scraped value, a remote server's state)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

POLL = 0.02


async def eventually(condition: Callable[[], bool | Awaitable[bool]], *, limit: float = 10.0) -> None:
    """Return once ``condition()`` holds; fail the test with a TimeoutError after ``limit`` seconds."""
    async with asyncio.timeout(limit):
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(POLL)
