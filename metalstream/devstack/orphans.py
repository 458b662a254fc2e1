"""How a harness's child dies with the process that started it, however that process ends.

A test run or ``metalstream dev`` killed with SIGKILL gets no chance to stop its children, and a
nats-server, etcd, kube-apiserver or Ironic left behind keeps its ports, its files and its CPU
until someone finds it. So every long-lived child is tied to the process that started it:

* Every harness child is started through this file run as a script,
  ``python -I -S orphans.py <parent pid> <signal> -- <command...>``: it asks Linux for
  ``PR_SET_PDEATHSIG`` (the signal is sent to the child when its parent goes) and then replaces
  itself with the command, which keeps that setting (it is only cleared for a set-user-ID
  program). :mod:`metalstream.devstack.processes` builds that command line.
* Children we write ourselves (the IPMI simulator, the sushy-tools launcher) also call
  :func:`exit_with_parent`: they exit when their stdin reaches end of file. The harness holds
  the other end of that pipe, and the kernel closes it when the harness process ends, for
  whatever reason. This works on any system and does not care which thread started the child.
* A program that forks workers of its own (Ironic) gets ``--group``: the signal reaches only the
  program, and a worker may take its time to notice its master is gone (Ironic's conductor
  worker shuts down gracefully for up to a minute, holding the API port and the database). So
  before becoming the command the launcher leaves a guard process in the command's process group
  (the command must lead one: ``start_new_session``), which waits on a pidfd of the harness
  process and SIGKILLs the whole group when it ends. A normal stop signals the group, guard
  included, so the guard never outlives the command's group.

Why a launcher instead of ``preexec_fn``: ``preexec_fn`` runs Python between ``fork`` and
``exec``, which the ``subprocess`` documentation calls unsafe in a process with threads (a lock
held by another thread at the fork stays held forever in the child), and the harness processes
always have threads (asyncio's executor, the emulators' threads). A fresh interpreter that runs
this file has no such locks. It runs with ``-I -S`` (no ``PYTHON*`` variables, no site
packages), so it can import nothing but the standard library, and this file must stay so.

The race between starting and asking: if the parent dies before the ``prctl`` call, no signal
will ever come. So after the call the launcher compares ``getppid()`` with the pid it was given;
a different parent means the harness is already gone, and the command is not started at all.

One caveat of ``PR_SET_PDEATHSIG`` that the caller has to respect: the "parent" is the *thread*
that forked the child, not the process. A child forked by a worker thread is signalled when that
thread ends, even though the process lives on; see :mod:`metalstream.devstack.processes` for
which threads are safe to fork from.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Final

EXIT_WITH_PARENT_ENV: Final = "METALSTREAM_EXIT_WITH_PARENT"
"""Set to ``1`` by the harnesses: the child exits when its stdin (held by the parent) closes."""

USAGE: Final = "usage: python -I -S orphans.py <parent pid> <signal number> [--group] -- <command> [args...]"
_GROUP: Final = "--group"
_MAX_DESCRIPTORS: Final = 1 << 20
_POLL: Final = 1.0
_PR_SET_PDEATHSIG: Final = 1
_PARENT_GONE: Final = 1
_CANNOT_ASK: Final = 126
_CANNOT_RUN: Final = 127
_USAGE_ERROR: Final = 2
_RESTORED_SIGNALS: Final = ("SIGPIPE", "SIGXFZ", "SIGXFSZ")
"""Signals Python ignores at start-up; an ignored signal stays ignored across ``exec``."""


def exit_with_parent() -> None:
    """Exit as soon as stdin reaches EOF, i.e. when the parent process is gone, however it died."""

    def watch() -> None:
        sys.stdin.buffer.read()
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _ask_for_parent_death_signal(signum: int) -> int:
    """``prctl(PR_SET_PDEATHSIG, signum)``; 0 on success, else the errno."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    zero = ctypes.c_ulong(0)
    if libc.prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signum), zero, zero, zero) == 0:
        return 0
    return ctypes.get_errno() or -1


def _guard_the_group(parent: int) -> bool:
    """Leave a guard in this process group that SIGKILLs the group once ``parent`` has ended.

    False if the parent is already gone. The guard is a grandchild that its own parent leaves at
    once, so it is nobody's child in the group (the command we become never sees it as one).
    """
    try:
        watch: int | None = os.pidfd_open(parent)
    except (AttributeError, OSError):
        watch = None  # no pidfd (Linux before 5.3): the guard polls instead
    if os.getppid() != parent:  # the pidfd may name a newcomer with a reused pid: the parent is gone
        return False
    middle = os.fork()
    if middle:
        os.waitpid(middle, 0)
        if watch is not None:
            os.close(watch)
        return True
    if os.fork():
        os._exit(0)
    try:
        _hold_nothing_but(watch)
        _wait_for_exit(parent, watch)
    except BaseException:  # noqa: BLE001 - a guard that cannot watch must not kill anything
        os._exit(1)
    os.killpg(0, signal.SIGKILL)  # the whole group, this guard included
    os._exit(0)


def _hold_nothing_but(keep: int | None) -> None:
    """Standard streams on /dev/null, every other descriptor closed: a pipe's reader gets its EOF."""
    devnull = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):
        os.dup2(devnull, descriptor)
    if keep is None:
        os.closerange(3, _MAX_DESCRIPTORS)
    else:
        os.closerange(3, keep)
        os.closerange(keep + 1, _MAX_DESCRIPTORS)


def _wait_for_exit(pid: int, watch: int | None) -> None:
    if watch is not None:
        select.select([watch], [], [])  # a pidfd becomes readable when its process has ended
        return
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(_POLL)


def launch(argv: Sequence[str]) -> int:
    """Tie this process to its parent, then become the command; return an exit code only on failure."""
    group = len(argv) > 2 and argv[2] == _GROUP
    rest = list(argv[3:] if group else argv[2:])
    if len(rest) < 2 or rest[0] != "--" or not (argv[0].isdigit() and argv[1].isdigit()):
        print(USAGE, file=sys.stderr)
        return _USAGE_ERROR
    parent, signum, command = int(argv[0]), int(argv[1]), rest[1:]
    if group and os.getpgrp() != os.getpid():
        print(f"orphans: {_GROUP} needs a child that leads its own process group", file=sys.stderr)
        return _USAGE_ERROR
    failure = _ask_for_parent_death_signal(signum)
    if failure:
        print(f"orphans: prctl(PR_SET_PDEATHSIG) failed: {os.strerror(failure)}", file=sys.stderr)
        return _CANNOT_ASK
    if os.getppid() != parent:
        return _PARENT_GONE  # the harness died before we asked: nobody wants this command any more
    if group and not _guard_the_group(parent):
        return _PARENT_GONE
    for name in _RESTORED_SIGNALS:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    try:
        os.execvp(command[0], command)  # noqa: S606 - the harness's own argv, no shell
    except OSError as error:
        print(f"orphans: cannot run {command[0]}: {error.strerror}", file=sys.stderr)
    return _CANNOT_RUN


if __name__ == "__main__":
    sys.exit(launch(sys.argv[1:]))
