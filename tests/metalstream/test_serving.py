"""``metalstream run`` as an operator runs it: a process configured by flags and environment.

It is started as a real subprocess against a real nats-server, kube-apiserver and Ironic; it must
become ready on ``/readyz``, serve Metal3-named metrics, stop cleanly on SIGTERM, and fail early
with one clear line (and its own exit code) when a dependency cannot be used.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import aiohttp
import pytest

from adapters.k8s import objects
from adapters.k8s.connection import ConnectionSettings, connect
from adapters.k8s.leader import LEASES
from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.kube import KubeApiServer
from metalstream.devstack.nats import NatsServer

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180, func_only=True)]

METALSTREAM: Final = str(Path(sys.executable).with_name("metalstream"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALSTREAM_")}
    env.update({"METALSTREAM_LOG_FORMAT": "json", "METALSTREAM_OBSERVABILITY_HOST": "127.0.0.1"})
    env.update(values)
    return env


async def _run(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        METALSTREAM, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )


async def _finish(process: asyncio.subprocess.Process, limit: float = 30) -> tuple[int, str, str]:
    try:
        async with asyncio.timeout(limit):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"metalstream did not exit within {limit}s")
    return process.returncode or 0, out.decode(), err.decode()


async def test_run_becomes_ready_serves_metrics_and_stops_on_sigterm(
    kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    port = _free_port()
    async with NatsServer(tmp_path / "nats") as nats:
        env = _environment(METALSTREAM_NATS_URLS=nats.url, METALSTREAM_KUBE_INSTALL_CRDS="true")
        process = await _run(
            "run",
            "--kubeconfig",
            str(kube_apiserver.kubeconfig),
            "--ironic-url",
            ironic.url,
            "--health-port",
            str(port),
            env=env,
        )
        try:
            ready = False
            async with aiohttp.ClientSession() as http:
                for _ in range(600):
                    if process.returncode is not None:
                        break
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(
                            f"http://127.0.0.1:{port}/readyz", timeout=aiohttp.ClientTimeout(2)
                        ) as r:
                            if r.status == 200:
                                ready = True
                                break
                    await asyncio.sleep(0.1)
                assert ready, "metalstream run never became ready"
                async with http.get(
                    f"http://127.0.0.1:{port}/metrics", timeout=aiohttp.ClientTimeout(5)
                ) as r:
                    metrics = await r.text()
                async with http.get(
                    f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(5)
                ) as r:
                    assert r.status == 200
            assert "metalstream_eventstore_append_seconds" in metrics
            assert "metal3_host_error_total" in metrics
            process.send_signal(signal.SIGTERM)
            code, out, err = await _finish(process)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert code == 0, err
    assert '"control plane ready"' in out + err
    assert '"metalstream stopped"' in out + err


async def test_run_fails_in_one_line_when_nats_is_unreachable(kube_apiserver: KubeApiServer) -> None:
    env = _environment(
        METALSTREAM_NATS_URLS=f"nats://127.0.0.1:{_free_port()}", METALSTREAM_NATS_CONNECT_TIMEOUT="1"
    )
    process = await _run("run", "--kubeconfig", str(kube_apiserver.kubeconfig), env=env)
    code, _, err = await _finish(process)
    assert code == 3
    lines = [line for line in err.splitlines() if line.startswith("metalstream:")]
    assert len(lines) == 1
    assert "event store unavailable" in lines[0]
    assert "Traceback" not in err


async def test_run_names_an_unusable_kubeconfig(tmp_path: Path) -> None:
    async with NatsServer(tmp_path / "nats") as nats:
        env = _environment(METALSTREAM_NATS_URLS=nats.url)
        process = await _run("run", "--kubeconfig", str(tmp_path / "missing-kubeconfig"), env=env)
        code, _, err = await _finish(process)
    assert code == 2
    assert "missing-kubeconfig" in err
    assert "Traceback" not in err


class Instance:
    """A running ``metalstream run`` whose output is drained as it comes, so its pipes never fill."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.lines: list[str] = []

    async def drain(self) -> None:
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        async with asyncio.TaskGroup() as group:
            for stream in (self.process.stdout, self.process.stderr):
                group.create_task(self._collect(stream))

    async def _collect(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode())

    @property
    def output(self) -> str:
        return "".join(self.lines)

    async def status(self, http: aiohttp.ClientSession, path: str) -> tuple[int, str] | None:
        """The status and body of ``path`` on the health port, or ``None`` while nothing answers."""
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.get(f"http://127.0.0.1:{self.port}{path}", timeout=aiohttp.ClientTimeout(2)) as r:
                return r.status, await r.text()
        return None

    async def wait_for(self, condition: Callable[[], Awaitable[bool]], what: str, limit: float = 90) -> None:
        try:
            async with asyncio.timeout(limit):
                while not await condition():
                    if self.process.returncode is not None:
                        pytest.fail(
                            f"metalstream exited {self.process.returncode} before {what}:\n{self.output}"
                        )
                    await asyncio.sleep(0.1)
        except TimeoutError:
            pytest.fail(f"not within {limit:g}s: {what}\n{self.output}")

    async def exit_code(self, limit: float = 30) -> int:
        try:
            async with asyncio.timeout(limit):
                return await self.process.wait()
        except TimeoutError:
            pytest.fail(f"metalstream did not exit within {limit}s")


async def test_with_leader_election_one_instance_leads_and_a_standby_takes_over(
    kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    lease = f"lease-{uuid.uuid4().hex[:8]}"
    async with NatsServer(tmp_path / "nats") as nats, aiohttp.ClientSession() as http:
        env = _environment(
            METALSTREAM_NATS_URLS=nats.url,
            METALSTREAM_IRONIC_URL=ironic.url,
            METALSTREAM_KUBE_KUBECONFIG=str(kube_apiserver.kubeconfig),
            METALSTREAM_KUBE_INSTALL_CRDS="true",
            METALSTREAM_KUBE_LEADER_ELECTION="true",
            METALSTREAM_KUBE_LEADER_ELECTION_NAMESPACE="default",
            METALSTREAM_KUBE_LEADER_ELECTION_ID=lease,
            METALSTREAM_KUBE_LEADER_ELECTION_LEASE_DURATION="4",
            METALSTREAM_KUBE_LEADER_ELECTION_RENEW_DEADLINE="3",
            METALSTREAM_KUBE_LEADER_ELECTION_RETRY_PERIOD="0.5",
        )
        instances: list[Instance] = []

        async def start(group: asyncio.TaskGroup) -> Instance:
            port = _free_port()
            process = await _run("run", env=env | {"METALSTREAM_OBSERVABILITY_PORT": str(port)})
            instances.append(Instance(process, port))
            group.create_task(instances[-1].drain())
            return instances[-1]

        try:
            async with asyncio.TaskGroup() as group:
                first = await start(group)
                await first.wait_for(
                    lambda: _answers(first, http, "/readyz", 200), "the first one leads, ready"
                )
                second = await start(group)
                await second.wait_for(
                    lambda: _logged(second, '"waiting for leadership"'), "the second instance stands by"
                )
                assert await second.status(http, "/healthz") == (200, "ok\n")
                standby = await second.status(http, "/readyz?verbose")
                assert standby is not None
                assert standby[0] == 200, "a standby is ready to take over, so rollouts complete"
                assert "[+]control-plane ok" in standby[1]
                assert "nats" not in standby[1], "a standby runs no control plane"

                first.process.send_signal(signal.SIGTERM)
                assert await first.exit_code() == 0
                await second.wait_for(
                    lambda: _logged(second, '"control plane ready"'), "the standby takes over"
                )
                assert await second.status(http, "/readyz") == (200, "ok\n")

                async with connect(ConnectionSettings(kubeconfig=str(kube_apiserver.kubeconfig))) as conn:
                    intruder = {"holderIdentity": "intruder", "leaseDurationSeconds": 3600}
                    await objects.merge_patch(conn, LEASES, lease, {"spec": intruder}, namespace="default")
                assert await second.exit_code() == 6
        finally:
            for instance in instances:
                if instance.process.returncode is None:
                    instance.process.kill()
                    await instance.process.wait()
    assert '"became leader"' in first.output
    assert '"leadership released"' in first.output
    assert '"metalstream stopped"' in first.output
    assert '"became leader"' in second.output
    assert '"control plane ready"' in second.output
    failures = [line for line in second.lines if line.startswith("metalstream:")]
    assert len(failures) == 1
    assert "lost leadership" in failures[0]
    assert "held by intruder" in failures[0]
    assert "Traceback" not in second.output


async def _answers(instance: Instance, http: aiohttp.ClientSession, path: str, status: int) -> bool:
    answer = await instance.status(http, path)
    return answer is not None and answer[0] == status


async def _logged(instance: Instance, text: str) -> bool:
    return text in instance.output
