"""A real nats-server per test, a client on it, and the JetStream event store with test settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from metalstream.devstack.nats import NatsServer
from tests.contracts.events import CODECS

SETTINGS = StoreSettings(
    request_timeout=2.0,
    heartbeat=0.25,
    pull_expires=5.0,
    recovery_delay=0.05,
    ack_wait=10.0,
)
"""Short heartbeats so lost pulls are noticed within half a second."""

Connect = Callable[[], Awaitable[Client]]


async def until_connected(client: Client, *, within: float = 10.0) -> None:
    """Wait until ``client`` has (re)connected, e.g. after its server came back."""
    for _ in range(int(within / 0.02)):
        if client.is_connected:
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"the client did not reconnect within {within}s")


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    async with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
async def connect(nats_server: NatsServer) -> AsyncIterator[Connect]:
    """Open clients that reconnect quickly and forever; all are closed after the test."""
    clients: list[Client] = []

    async def open_client() -> Client:
        client = await nats.connect(
            nats_server.url,
            reconnect_time_wait=0.05,
            max_reconnect_attempts=-1,
            connect_timeout=2,
            allow_reconnect=True,
        )
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.close()


@pytest.fixture
async def nc(connect: Connect) -> Client:
    return await connect()


@pytest.fixture
async def jetstream_store(nc: Client) -> AsyncIterator[JetStreamEventStore]:
    async with JetStreamEventStore(nc, CODECS, settings=SETTINGS) as opened:
        yield opened
