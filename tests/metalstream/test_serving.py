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
from pathlib import Path
from typing import Final

import aiohttp
import pytest

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
