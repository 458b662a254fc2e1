"""Starting a harness's child so it cannot outlive us, and stopping it: politely, then for sure.

Every harness (nats-server, etcd and kube-apiserver, sushy-tools, the IPMI simulator, Ironic) owns
long-lived child processes and must not leave them behind, not even when the test run or
``metalstream dev`` is killed with SIGKILL and runs no clean-up at all.

Starting: :func:`start` (an asyncio subprocess) and :func:`popen` (a ``subprocess.Popen``) run the
command through the launcher in :mod:`metalstream.devstack.orphans`, which has Linux send the
child ``PARENT_DEATH_SIGNAL`` when its parent goes. SIGKILL, because a signal that can be handled
can also hang a shutdown, and every harness's state is built to survive a SIGKILL anyway
(nats-server syncs every write, etcd fsyncs its log, Ironic's sqlite is transactional).

That signal comes when the *thread* that forked the child ends, not the process. So:

* :func:`start` forks on the event loop's thread. In this project every loop that owns such a
  child runs on the main thread (pytest-asyncio's loops, ``asyncio.run`` in the CLI), and an
  asyncio child cannot be waited for from another loop anyway. A loop on a short-lived thread
  must not own a long-lived asyncio child.
* :func:`popen` forks on one spawner thread that lives as long as the process. That is what a
  harness whose ``Popen`` outlives the thread or loop that started it needs (Ironic is started
  from a helper thread's short-lived loop by the tests, and its ``Popen`` used to be created by
  the loop's executor, whose threads end with the loop).

A child that forks workers of its own (Ironic) is started with ``group=True``: a guard in its
process group SIGKILLs the group when this process ends, so the workers do not linger either.

Elsewhere than on Linux the command runs as it is (no launcher): nothing changes there.

Stopping closes the child's stdin (the emulators exit when their parent's pipe closes, even if the
parent dies), sends SIGTERM, waits a bounded time and then SIGKILLs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Final

from metalstream.devstack import orphans

PARENT_DEATH_SIGNAL: Final = signal.SIGKILL
"""What a child gets when the process that started it ends."""

_LINUX: Final = sys.platform.startswith("linux")


def tied_to_this_process(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, group: bool = False
) -> list[str]:
    """``argv`` run through the launcher that ties its life to this process (as is off Linux).

    ``group`` also kills the child's process group, i.e. the workers it forks, when this process
    ends; the child must then lead its own group (``start_new_session=True``).

    Raises ``FileNotFoundError`` for a command that cannot be found, as ``subprocess`` would, so
    a missing binary is still an exception here rather than an exit status of the launcher.
    """
    command = list(argv)
    if not _LINUX:
        return command
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    if shutil.which(command[0], path=search) is None:
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), command[0])
    launcher = [sys.executable, "-I", "-S", orphans.__file__, str(os.getpid()), str(int(PARENT_DEATH_SIGNAL))]
    return [*launcher, *(["--group"] if group else []), "--", *command]


async def start(*argv: str, **options: Any) -> asyncio.subprocess.Process:
    """``asyncio.create_subprocess_exec`` of a child that dies with this process.

    Forks on the loop's thread: the loop must run on a thread that lives as long as the child
    should (see the module docstring).
    """
    command = tied_to_this_process(argv, env=options.get("env"))
    return await asyncio.create_subprocess_exec(*command, **options)


_spawner: concurrent.futures.ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _spawner_thread() -> concurrent.futures.ThreadPoolExecutor:
    """One worker thread for the whole process; it ends only when the interpreter does."""
    global _spawner  # noqa: PLW0603 - one per process, created on first use
    with _spawner_lock:
        if _spawner is None:
            _spawner = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="metalstream-spawner")
        return _spawner


def _forget_spawner() -> None:
    """In a forked child the spawner's thread does not exist: make a new one when needed."""
    global _spawner, _spawner_lock
    _spawner, _spawner_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_spawner)


async def popen(argv: Sequence[str], *, group: bool = False, **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` of a child that dies with this process, not with the calling thread.

    The fork happens on the process-wide spawner thread, so the child may be started from any
    loop or thread and outlive it, and is polled, signalled and reaped from anywhere. ``group``
    (which needs ``start_new_session=True``) takes the child's own children along too.
    """
    if group and not options.get("start_new_session"):
        msg = "group=True needs start_new_session=True: the child must lead its own process group"
        raise ValueError(msg)
    command = tied_to_this_process(argv, env=options.get("env"), group=group)

    def fork() -> subprocess.Popen[bytes]:
        return subprocess.Popen(command, **options)

    return await asyncio.get_running_loop().run_in_executor(_spawner_thread(), fork)


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
