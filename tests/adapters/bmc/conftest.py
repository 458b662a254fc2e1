"""Real BMC emulators for the adapter tests, started once per test module.

Modules that use them run their tests in a module-scoped event loop
(``pytestmark = pytest.mark.asyncio(loop_scope="module")``) because the emulator processes are
owned by asyncio subprocess transports of the loop that started them.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import pytest_asyncio
from aiohttp import web

from adapters.bmc import addresses
from adapters.bmc.credentials import Credentials
from adapters.bmc.ipmi import IpmiClient
from adapters.bmc.redfish import RedfishClient
from metalstream.devstack.ipmi_sim import BmcSpec, IpmiSimulator
from metalstream.devstack.sushy import FakeNic, FakeSystem, SushyEmulator

USER: Final = "admin"
PASSWORD: Final = "Redfish-pw-7f3a9c"
"""Distinctive so that a leak into logs or messages can be searched for."""
HOSTS: Final = 16


def fake_system(i: int, *, power_state: str = "Off") -> FakeSystem:
    return FakeSystem(
        uuid=f"11111111-0000-0000-0000-{i:012d}",
        name=f"bmh-{i}",
        power_state="On" if power_state == "On" else "Off",
        nics=(FakeNic(mac=f"52:54:00:00:{i // 256:02x}:{i % 256:02x}", ip=f"192.0.2.{10 + i}"),),
        cpus=2 + i,
        cpu_model=f"Fake CPU model {i}",
        memory_gb=8 * (i + 1),
        disk_gb=50 + i,
        bios_version=f"2.{i}.0",
    )


def ipmi_password(i: int) -> str:
    return f"Ipmi-pw-{i:02d}-e81d"


def free_port(kind: socket.SocketKind) -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_until(
    predicate: Callable[[], Awaitable[bool]], *, deadline: float, interval: float = 0.2
) -> float:
    """Poll ``predicate`` until it holds; return the seconds it took. Fails after ``deadline`` s."""
    started = time.monotonic()
    async with asyncio.timeout(deadline):
        while not await predicate():  # noqa: ASYNC110 - polling remote state; nothing to wait on
            await asyncio.sleep(interval)
    return time.monotonic() - started


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sushy() -> AsyncIterator[SushyEmulator]:
    """Sushy-tools with basic auth and 16 systems; power changes land within about a second."""
    systems = [fake_system(i, power_state="On" if i % 2 else "Off") for i in range(HOSTS)]
    async with SushyEmulator(systems, users={USER: PASSWORD}, power_delay=(0, 1)) as emulator:
        yield emulator


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def ipmi_sim() -> AsyncIterator[IpmiSimulator]:
    """Sixteen instant BMCs ``ipmi-<i>`` and one ``slow`` BMC that applies power changes after 1 s."""
    bmcs = [BmcSpec(name=f"ipmi-{i}", username=USER, password=ipmi_password(i)) for i in range(HOSTS)]
    bmcs.append(BmcSpec(name="slow", username=USER, password=ipmi_password(99), power_delay=1.0))
    async with IpmiSimulator(bmcs) as simulator:
        yield simulator


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def iso_server() -> AsyncIterator[str]:
    """An HTTP server with one small ISO image; yields its URL."""

    async def image(_: web.Request) -> web.Response:
        return web.Response(body=b"\0" * 4096, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/images/boot.iso", image)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/images/boot.iso"
    finally:
        await runner.cleanup()


def redfish_client(
    emulator: SushyEmulator,
    system: FakeSystem,
    *,
    username: str = USER,
    password: str = PASSWORD,
    **options: Any,
) -> RedfishClient:
    """A client built the way the host worker builds it: from the BMC address and a Secret."""
    access = addresses.parse(emulator.address(system))
    return RedfishClient.for_access(access, Credentials(username, password), **options)


def ipmi_client(
    simulator: IpmiSimulator,
    name: str,
    *,
    username: str = USER,
    password: str | None = None,
    query: str = "",
    **options: Any,
) -> IpmiClient:
    endpoint = simulator.endpoint(name)
    index = 99 if name == "slow" else int(name.rpartition("-")[2])
    access = addresses.parse(f"ipmi://{endpoint.host}:{endpoint.port}{query}")
    creds = Credentials(username, ipmi_password(index) if password is None else password)
    return IpmiClient.for_access(access, creds, **options)
