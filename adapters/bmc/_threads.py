"""Running the synchronous BMC libraries (sushy, pyghmi) off the event loop, with a time budget.

Both libraries block on network I/O. Each call goes to a worker thread and is awaited under
``asyncio.timeout``; when the budget runs out the caller gets ``BmcTimeout`` at once. The thread
itself cannot be interrupted, so the libraries are also configured with their own socket
timeouts, which bound how long an abandoned thread lingers.

The workers come from a dedicated pool rather than the loop's default executor: that one is small
(``min(32, cpus + 4)`` threads, 6 on a 2-core machine) and is shared with DNS resolution, so a
handful of unresponsive BMCs would otherwise stall unrelated ``getaddrinfo`` calls.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from adapters.bmc import errors

T = TypeVar("T")

DEFAULT_MAX_WORKERS = 64


class BlockingCalls:
    """A thread pool for blocking BMC calls, each awaited with a deadline."""

    def __init__(self, *, max_workers: int = DEFAULT_MAX_WORKERS) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="bmc-io")

    async def run(self, fn: Callable[[], T], *, budget: float, address: str, operation: str) -> T:
        """Run ``fn`` in a worker thread; raise ``BmcTimeout`` if it takes longer than ``budget`` s."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        future = loop.run_in_executor(self._executor, functools.partial(context.run, fn))
        deadline = asyncio.timeout(budget)
        try:
            async with deadline:
                return await future
        except TimeoutError as e:
            if not deadline.expired():
                raise
            raise errors.BmcTimeout(
                f"{operation} on BMC {address} did not finish within {budget:g}s",
                address=address,
                operation=operation,
            ) from e

    def shutdown(self) -> None:
        """Stop accepting work; running calls finish on their own library timeouts."""
        self._executor.shutdown(wait=False, cancel_futures=True)


@functools.cache
def shared() -> BlockingCalls:
    """The process-wide pool used when a client is not given one."""
    return BlockingCalls()
