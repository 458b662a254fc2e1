"""Suite-wide hygiene (no asyncio task may outlive its test) and the shared kube-apiserver.

The kube-apiserver fixtures are session-scoped and defined once here, so every test directory
shares one server instead of each importing its own copy of the fixture.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.kube import kube_apiserver, kubectl

__all__ = ["kube_apiserver", "kubectl"]


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
