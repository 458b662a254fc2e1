"""What the connection says about its own end: nothing when we close it, a warning when it is lost."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adapters.nats import connecting
from metalstream.devstack.nats import NatsServer
from tests.adapters.nats.conftest import until_connected

LOGGER = "metalstream.nats"


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


async def test_closing_the_connection_is_not_a_warning(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    client = await connecting.connect([nats_server.url])
    await client.close()
    assert client.is_closed
    assert warnings(caplog) == []


async def test_a_lost_connection_is_still_a_warning(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    client = await connecting.connect([nats_server.url])
    try:
        await nats_server.kill()
        await nats_server.start()
        await until_connected(client)
    finally:
        await client.close()
    assert "disconnected from NATS; reconnecting" in warnings(caplog)


async def test_giving_up_reconnecting_is_a_warning(
    nats_server: NatsServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    client = await connecting.connect([nats_server.url], max_reconnect_attempts=1)
    await nats_server.stop()
    async with asyncio.timeout(30):  # a failure bound: one reconnection attempt a second
        while not client.is_closed:  # noqa: ASYNC110 - nats-py offers nothing to wait on here
            await asyncio.sleep(0.05)
    assert any(m.startswith("NATS connection closed: NoServersError") for m in warnings(caplog))
