"""Stopping a child process the same way everywhere: politely, then for sure.

Every harness (nats-server, sushy-tools, the IPMI simulator, Ironic) owns one child process and
must not leave it behind. Stopping closes its stdin (the emulators exit when their parent's pipe
closes, even if the parent dies), sends SIGTERM, waits a bounded time and then SIGKILLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal


async def stop(process: asyncio.subprocess.Process | None, *, grace: float = 5.0) -> None:
    """Terminate ``process`` (SIGTERM, then SIGKILL after ``grace`` seconds) and reap it."""
    if process is None:
        return
    if process.stdin is not None:
        process.stdin.close()
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(grace):
            await process.wait()
    except TimeoutError:
        await kill(process)


async def kill(process: asyncio.subprocess.Process | None) -> None:
    """SIGKILL ``process`` and reap it: no chance to flush anything, like a crash."""
    if process is None or process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
