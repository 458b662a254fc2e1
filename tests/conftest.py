"""Suite-wide hygiene: a test must not leave asyncio tasks running behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def _no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks behind: a fire-and-forget task is a bug (style rule 16)."""
    yield
    current = asyncio.current_task()
    leftover = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    if leftover:
        # Give tasks that are finishing their cancellation one loop turn.
        await asyncio.sleep(0)
        leftover = [t for t in leftover if not t.done()]
    if leftover:
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in leftover))
        for task in leftover:
            task.cancel()
        pytest.fail(f"test left asyncio tasks running: {names}")
