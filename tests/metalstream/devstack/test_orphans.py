"""No harness child outlives the process that started it, even when that process is SIGKILLed.

Each test runs ``orphan_parent`` (a stand-in for a test run or ``metalstream dev``) as a real
process, lets it start real children, SIGKILLs it, and waits for the children to be gone. The
emulators' side of this (sushy-tools and the IPMI simulator) is tested with the BMC harnesses.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Final, Self

import pytest

from metalstream.devstack import processes

REPO: Final = Path(__file__).resolve().parents[3]
GONE_WITHIN: Final = 30.0
"""Seconds a child may take to go after its parent (a failure bound, not a speed claim)."""
START_WITHIN: Final = 300.0
"""Seconds the parent may take to start its children (Ironic's first start may build its venv)."""


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed child of a dead parent waits for init to reap it)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def group_members(group: int) -> list[int]:
    """Live processes in process group ``group`` (Ironic's master and the worker it forked)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and fields[0] != "Z" and int(fields[2]) == group:
                members.append(int(entry.name))
    return members


class Parent:
    """The ``orphan_parent`` process and what it reported; killed on leaving, whatever happened."""

    def __init__(self, scenario: str, state: Path) -> None:
        self._scenario = scenario
        self._state = state
        self._process: asyncio.subprocess.Process | None = None
        self.report: dict[str, Any] = {}

    async def __aenter__(self) -> Self:
        self._process = process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.metalstream.devstack.orphan_parent",
            self._scenario,
            str(self._state),
            cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        try:
            async with asyncio.timeout(START_WITHIN):
                line = await process.stdout.readline()
            assert line, f"the parent exited with {await process.wait()} before reporting its children"
            self.report = json.loads(line)
        except BaseException:
            await self.kill()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.kill()

    async def kill(self) -> None:
        """SIGKILL, like a test run or ``metalstream dev`` killed from outside."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()


async def kill_and_wait_for_children(parent: Parent) -> None:
    pids: list[int] = parent.report["pids"]
    groups: list[int] = parent.report["groups"]
    assert pids
    running_before = [pid for pid in pids if running(pid)]

    await parent.kill()

    assert running_before == pids, "a child was gone before its parent was killed"

    def left() -> list[int]:
        return [pid for pid in pids if running(pid)] + [p for g in groups for p in group_members(g)]

    try:
        async with asyncio.timeout(GONE_WITHIN):
            while left():  # noqa: ASYNC110 - other processes' lives; nothing to wait on
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"still running {GONE_WITHIN:g}s after their parent was killed: {left()}")


@pytest.mark.parametrize(
    "scenario",
    [
        pytest.param("nats", id="nats-server"),
        pytest.param("workers", id="a-child-and-the-workers-it-forked"),
        pytest.param("kube", id="etcd-and-kube-apiserver", marks=pytest.mark.timeout(600)),
        pytest.param("ironic", id="ironic-started-from-a-helper-thread", marks=pytest.mark.timeout(600)),
    ],
)
async def test_harness_children_die_with_a_killed_parent(scenario: str, tmp_path: Path) -> None:
    async with Parent(scenario, tmp_path) as parent:
        await kill_and_wait_for_children(parent)


async def test_a_child_forked_for_a_thread_outlives_the_thread_but_not_the_process(tmp_path: Path) -> None:
    # The parent starts the child from a short-lived thread's own loop, waits until the operating
    # system has forgotten that thread, and only then talks to the child: had the thread's end
    # killed it, it could not answer.
    async with Parent("thread", tmp_path) as parent:
        assert parent.report["echo"] == "still here\n"
        await kill_and_wait_for_children(parent)


def test_the_launcher_keeps_a_missing_binary_an_exception() -> None:
    with pytest.raises(FileNotFoundError):
        processes.tied_to_this_process(["/nonexistent/metalstream-binary"])


async def test_the_launcher_runs_nothing_for_a_parent_already_gone(tmp_path: Path) -> None:
    # Pretend the harness died before the launcher asked for the signal: the parent pid it is
    # given is not its parent, so it must not start the command (which would leave a marker).
    marker = tmp_path / "ran"
    command = processes.tied_to_this_process(["touch", str(marker)])
    pid_index = command.index("--") - 2
    command[pid_index] = "1" if command[pid_index] != "1" else "2"
    launcher = await asyncio.create_subprocess_exec(*command, stdin=asyncio.subprocess.DEVNULL)
    assert await launcher.wait() != 0
    assert not marker.exists()
