"""A stand-in for a test run or ``metalstream dev``: starts one harness, reports, then waits to be killed.

Run as ``python -m tests.metalstream.devstack.orphan_parent <scenario> <state dir>``. It starts
what the scenario names, prints one JSON line ``{"pids": [...], "groups": [...], "echo": ...}``
(the children's pids, the process groups they lead, and for ``thread`` what the child echoed) and
then sleeps until the test SIGKILLs it, so nothing of its own clean-up can run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from metalstream.devstack import processes
from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.kube import KubeApiServer
from metalstream.devstack.nats import NatsServer

_THREAD_GONE_POLL = 0.01


async def _nats(state: Path) -> None:
    server = NatsServer(state / "nats")
    await server.start()
    await _report_and_wait({"pids": [server.pid], "groups": []})


async def _kube(state: Path) -> None:
    server = KubeApiServer(state / "kube", durable=False)
    await server.start()
    await _report_and_wait({"pids": list(server.pids), "groups": []})


async def _report_and_wait(report: dict[str, Any]) -> None:
    """Asyncio children are the loop's: stay in it (a closed transport kills its process)."""
    _report(report)
    await asyncio.Event().wait()  # until killed


def _report(report: dict[str, Any]) -> None:
    print(json.dumps(report), flush=True)


def _in_a_thread_of_its_own(coroutine: Any) -> Any:
    """Run ``coroutine`` in a fresh loop on a helper thread; return once that thread has ended.

    It has ended for the operating system too, with the loop's executor threads: ``join()``
    returns a little before that, and the parent-death signal is sent only then.
    """
    before = _thread_ids()
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(coroutine)), name="short-lived")
    thread.start()
    thread.join()
    while _thread_ids() - before - {t.native_id for t in threading.enumerate()}:
        time.sleep(_THREAD_GONE_POLL)
    return result[0]


def _thread_ids() -> set[int | None]:
    return {int(task.name) for task in Path("/proc/self/task").iterdir()}


def _ironic(state: Path) -> None:
    harness = IronicHarness(state_dir=state / "ironic", ipmitool=False, start_timeout=120)
    _in_a_thread_of_its_own(harness.start())  # as the Ironic test fixtures start it
    _report({"pids": [harness.pid], "groups": [harness.pid]})


_ECHO_TWICE_THEN_STAY = (
    "import sys, time\nfor _ in range(2): print(sys.stdin.readline(), end='', flush=True)\ntime.sleep(3600)"
)
"""A child that answers twice and then ignores its stdin, so only the parent-death signal ends it."""


async def _start_echo() -> subprocess.Popen[bytes]:
    child = await processes.popen(
        [sys.executable, "-c", _ECHO_TWICE_THEN_STAY], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    # An answer shows the launcher has asked for the signal and become the child, while the
    # thread that started it is still alive.
    answer = await asyncio.to_thread(_echo, child, "started\n")
    assert answer == "started\n", answer
    return child


def _echo(child: subprocess.Popen[bytes], text: str) -> str:
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write(text.encode())
    child.stdin.flush()
    return child.stdout.readline().decode()


def _thread() -> None:
    child: subprocess.Popen[bytes] = _in_a_thread_of_its_own(_start_echo())
    _report({"pids": [child.pid], "groups": [], "echo": _echo(child, "still here\n")})


def _workers() -> None:
    # A shell whose background child would outlive it: only the group's guard can end that one.
    shell: subprocess.Popen[bytes] = asyncio.run(
        processes.popen(
            ["sh", "-c", "sleep 3600 & echo forked; wait"],
            group=True,
            start_new_session=True,
            stdout=subprocess.PIPE,
        )
    )
    assert shell.stdout is not None
    assert shell.stdout.readline() == b"forked\n"  # the worker is there
    _report({"pids": [shell.pid], "groups": [shell.pid]})


def main(scenario: str, state: Path) -> None:
    if scenario == "nats":
        asyncio.run(_nats(state))
    elif scenario == "kube":
        asyncio.run(_kube(state))
    elif scenario == "ironic":
        _ironic(state)
    elif scenario == "thread":
        _thread()
    elif scenario == "workers":
        _workers()
    else:
        msg = f"unknown scenario {scenario!r}"
        raise SystemExit(msg)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
