"""A real standalone Ironic for the adapter tests, started once per test session.

The harness manages the Ironic process with ``subprocess`` (not an asyncio transport), so it is
started here in a helper thread with its own short-lived event loop and can then be used,
restarted and stopped from any test's event loop. Tests keep to their own nodes (unique names),
so they can share one Ironic.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, TypeVar

import pytest
import pytest_asyncio
from aiohttp import web

from adapters.ironic import wire
from adapters.ironic.client import IronicClient, IronicEndpoint
from metalstream.devstack.ironic import IronicHarness

T = TypeVar("T")

TEST_IRONIC_CONFIG: Final[Mapping[str, Mapping[str, str]]] = {
    "conductor": {
        "check_provision_state_interval": "1",
        "deploy_callback_timeout": "60",
        "clean_callback_timeout": "60",
        "sync_power_state_interval": "2",
    },
}


INTEGRATION_TIMEOUT: Final = 600
"""Seconds per test here: the first one may build Ironic's venv (about 45 s, more on a slow link)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        uses_ironic = "ironic" in getattr(item, "fixturenames", ())
        if uses_ironic and here in item.path.parents and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(INTEGRATION_TIMEOUT))


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion in a fresh event loop on a helper thread (for sync fixtures)."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ironic-harness") as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def ironic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IronicHarness]:
    """One Ironic (noauth, plain HTTP) for the whole session."""
    harness = IronicHarness(
        state_dir=tmp_path_factory.mktemp("ironic"), extra_config=TEST_IRONIC_CONFIG, start_timeout=120
    )
    started = time.monotonic()
    run_in_thread(harness.start())
    harness_start_seconds = time.monotonic() - started
    print(f"\nironic started in {harness_start_seconds:.1f}s: {harness.timings}")
    try:
        yield harness
    finally:
        run_in_thread(harness.stop())


def endpoint_for(harness: IronicHarness, **options: Any) -> IronicEndpoint:
    defaults: dict[str, Any] = {"timeout": 15.0, "locked_retry_delay": 0.2, "locked_retry_attempts": 25}
    defaults.update(options)
    return IronicEndpoint(url=harness.url, **defaults)


@pytest_asyncio.fixture
async def client(ironic: IronicHarness) -> AsyncIterator[IronicClient]:
    async with IronicClient(endpoint_for(ironic)) as c:
        yield c


def unique(prefix: str = "node") -> str:
    return f"test~{prefix}-{uuid.uuid4().hex[:8]}"


def unique_mac() -> str:
    raw = uuid.uuid4().bytes[:5]
    return "52:" + ":".join(f"{b:02x}" for b in raw)


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, deadline: float, interval: float = 0.1
) -> float:
    """Poll ``predicate`` until it holds; return the seconds it took."""
    started = time.monotonic()
    async with asyncio.timeout(deadline):
        while not await predicate():  # noqa: ASYNC110 - polling remote state; nothing to wait on
            await asyncio.sleep(interval)
    return time.monotonic() - started


async def wait_for_state(
    client: IronicClient,
    ident: str,
    state: str,
    *,
    deadline: float = 30.0,
    interval: float = 0.1,
    settled: bool = True,
) -> wire.Node:
    """Poll a node until it reaches ``state`` (with no target left if ``settled``); fail on *failed."""
    found: list[wire.Node] = []

    async def reached() -> bool:
        node = await client.get_node(ident)
        found[:] = [node]
        if node.state.endswith("failed") and node.state != state:
            msg = f"node {ident} went to {node.state!r}: {node.last_error}"
            raise AssertionError(msg)
        return node.state == state and (not settled or node.target_provision_state is None)

    try:
        await wait_until(reached, deadline=deadline, interval=interval)
    except TimeoutError:
        last = found[0] if found else None
        shown = f"{last.state!r} (target {last.target_provision_state!r})" if last else "unknown"
        msg = f"node {ident} did not reach {state!r} within {deadline}s; last state {shown}"
        raise AssertionError(msg) from None
    return found[0]


def provision_transitions(log_path: Path, node_uuid: str) -> list[tuple[str, str]]:
    """``(from, to)`` provision-state changes of a node, read from Ironic's log."""
    marker = f'Node {node_uuid} moved to provision state "'
    changes: list[tuple[str, str]] = []
    for line in log_path.read_text(errors="replace").splitlines():
        start = line.find(marker)
        if start < 0:
            continue
        rest = line[start + len(marker) :]
        new, _, rest = rest.partition('"')
        _, _, rest = rest.partition('from state "')
        old, _, _ = rest.partition('"')
        changes.append((old, new))
    return changes


# --- a scriptable HTTP server for faults the real Ironic cannot produce on demand ------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FaultServer:
    """An aiohttp app on 127.0.0.1:0 answering like Ironic, with scripted answers per route."""

    def __init__(self) -> None:
        self.max_version = "1.115"
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.scripts: dict[tuple[str, str], list[Handler]] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None

    def script(self, method: str, path: str, *handlers: Handler) -> None:
        """Answer the next requests to ``method path`` with ``handlers``, in order."""
        self.scripts.setdefault((method, path), []).extend(handlers)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.headers)))
        queue = self.scripts.get((request.method, request.path))
        if queue:
            return await queue.pop(0)(request)
        if request.path == "/":
            version = {"id": "v1", "version": self.max_version, "min_version": "1.1", "status": "CURRENT"}
            return web.json_response({"default_version": version, "versions": [version]})
        return ironic_error(404, f"no script for {request.method} {request.path}")

    async def __aenter__(self) -> FaultServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def ironic_error(status: int, message: str) -> web.Response:
    """An error response shaped like Ironic's (the fault is a JSON string inside JSON)."""
    import json

    fault = json.dumps({"faultcode": "Client", "faultstring": message, "debuginfo": None})
    return web.json_response({"error_message": fault}, status=status)


@pytest_asyncio.fixture
async def fault_server() -> AsyncIterator[FaultServer]:
    async with FaultServer() as server:
        yield server
