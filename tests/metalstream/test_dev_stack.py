"""``metalstream dev`` (what ``make run`` runs) driven as a user would: in the background, then Ctrl-C.

The command starts every real component and the control plane, provisions two hosts (one Redfish,
one IPMI), and must then be usable with ``kubectl`` and the audit CLI; Ctrl-C must leave no
process behind; a second run on the same state directory must resume without provisioning again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest

from metalstream.devrun import ALL_PROVISIONED
from metalstream.devstack.kube import find_kubectl
from tests.adapters.ironic.conftest import provision_transitions

pytestmark = pytest.mark.timeout(600)

HOSTS: Final = ("default/dev-0", "default/dev-1")
PROVISION_LIMIT: Final = 240.0
STOP_LIMIT: Final = 60.0
BIN: Final = Path(sys.executable).parent
ENV: Final = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


class DevRun:
    """One ``metalstream dev`` process and the text it has printed so far."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.output = ""

    async def read_until(self, text: str, *, limit: float) -> str:
        """Read output lines until one contains ``text``; fail showing the output otherwise."""
        stream = self.process.stdout
        assert stream is not None
        try:
            async with asyncio.timeout(limit):
                while text not in self.output:
                    line = await stream.readline()
                    if not line:
                        pytest.fail(f"metalstream dev exited before {text!r}:\n{self.output}")
                    self.output += line.decode(errors="replace")
        except TimeoutError:
            pytest.fail(f"no {text!r} within {limit:g}s:\n{self.output}")
        return self.output

    def value(self, pattern: str) -> str:
        found = re.search(pattern, self.output)
        assert found is not None, f"{pattern!r} not in:\n{self.output}"
        return found.group(1)

    async def interrupt(self) -> int:
        """Ctrl-C, then wait for the exit (reading the rest of the output)."""
        self.process.send_signal(signal.SIGINT)
        async with asyncio.timeout(STOP_LIMIT):
            rest, _ = await self.process.communicate()
        self.output += rest.decode(errors="replace")
        assert self.process.returncode is not None
        return self.process.returncode


@contextlib.asynccontextmanager
async def dev(state_dir: Path, cwd: Path) -> AsyncIterator[DevRun]:
    process = await asyncio.create_subprocess_exec(
        str(BIN / "metalstream"),
        "dev",
        "--hosts",
        "2",
        "--state-dir",
        str(state_dir),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=cwd,
        env=ENV,
    )
    run = DevRun(process)
    try:
        yield run
    finally:
        if process.returncode is None:  # the test failed half-way: stop it all the same
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                async with asyncio.timeout(STOP_LIMIT):
                    await process.communicate()
            except TimeoutError:
                process.kill()
                await process.wait()


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of ``pid`` from /proc, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rpartition(")")[2].split()
    return int(fields[1]), fields[19]


def descendants(root: int) -> dict[int, str]:
    """Every process below ``root``, with its start time (so a reused pid is not mistaken for it)."""
    table = {
        int(entry.name): _stat(int(entry.name)) for entry in Path("/proc").iterdir() if entry.name.isdigit()
    }
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, stat in table.items():
            if stat is not None and stat[0] == parent and pid not in found:
                found[pid] = stat[1]
                frontier.append(pid)
    return found


def still_running(processes: dict[int, str]) -> list[int]:
    return [
        pid for pid, started in processes.items() if (stat := _stat(pid)) is not None and stat[1] == started
    ]


async def output_of(*argv: str, env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env or ENV
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, f"{argv}: {err.decode(errors='replace')}"
    return out.decode()


async def history(nats_url: str, host: str) -> tuple[list[str], dict[str, Any]]:
    """The host's event types and its current state, from ``metalstream history --json``."""
    text = await output_of(str(BIN / "metalstream"), "--nats-url", nats_url, "history", host, "--json")
    found = json.loads(text)
    return [event["envelope"]["eventType"] for event in found["events"]], found["state"]


async def until_ready(base_url: str) -> None:
    """Poll the control plane's ``/readyz`` until it has caught up (informers listed, views current)."""
    last = "no answer"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        try:
            async with asyncio.timeout(60):
                while True:
                    with contextlib.suppress(aiohttp.ClientError):
                        async with session.get(f"{base_url}/readyz") as response:
                            if response.status == 200:
                                return
                            last = f"HTTP {response.status}: {await response.text()}"
                    await asyncio.sleep(0.2)
        except TimeoutError:
            pytest.fail(f"{base_url}/readyz not ready within 60s ({last})")


async def test_make_run_provisions_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"

    async with dev(state_dir, tmp_path) as first:
        await first.read_until(ALL_PROVISIONED, limit=PROVISION_LIMIT)
        await first.read_until("Logs:", limit=30)
        kubeconfig = first.value(r"export KUBECONFIG=(\S+)")
        listing = await output_of(
            find_kubectl(), "get", "bmh", "-A", "--no-headers", env={**ENV, "KUBECONFIG": kubeconfig}
        )
        states = {f"{line.split()[0]}/{line.split()[1]}": line.split()[2] for line in listing.splitlines()}
        assert states == dict.fromkeys(HOSTS, "provisioned"), listing
        # The spare host was provisioned by the example Metal3Machine, with an address from the IPPool.
        consumers = {f"{line.split()[0]}/{line.split()[1]}": line.split()[3] for line in listing.splitlines()}
        assert consumers[HOSTS[0]] == "dev-machine-0", listing
        assert f"host {HOSTS[0]}, metal3://{HOSTS[0]}/dev-machine-0" in first.output
        addresses = await output_of(
            find_kubectl(),
            "get",
            "ipaddresses.ipam.metal3.io",
            "-A",
            "--no-headers",
            env={**ENV, "KUBECONFIG": kubeconfig},
        )
        assert len(addresses.splitlines()) == 1, addresses
        recorded = json.loads((state_dir / "pids.json").read_text())
        children = descendants(first.process.pid)
        assert {"nats-server", "kube", "ironic", "sushy-tools", "ipmi-simulator"} <= recorded.keys()
        assert {pid for pids in recorded.values() for pid in pids} <= children.keys()
        assert len(children) >= 7  # nats, etcd, kube-apiserver, sushy-tools, IPMI, Ironic and its worker
        code = await first.interrupt()
    assert code == 130, first.output
    assert still_running(children) == [], first.output
    assert not (state_dir / "pids.json").exists()

    async with dev(state_dir, tmp_path) as second:
        await second.read_until(ALL_PROVISIONED, limit=PROVISION_LIMIT)
        await second.read_until("Logs:", limit=30)
        assert "(resuming)" in second.output
        nats_url = second.value(r"--nats-url (\S+)")
        await until_ready(second.value(r"curl (http://\S+)/metrics"))
        for host in HOSTS:
            types, state = await history(nats_url, host)
            assert types.count("host.provisioning_completed") == 1, (host, types)
            assert state["provisioning_state"] == "provisioned", (host, state)
            deploys = provision_transitions(state_dir / "ironic" / "ironic.log", state["provisioning_id"])
            assert deploys.count(("available", "deploying")) == 1, (host, deploys)
        children = descendants(second.process.pid)
        code = await second.interrupt()
    assert code == 130, second.output
    assert still_running(children) == [], second.output
