"""The hosts view on a real nats-server: checkpointed in the object store, alive across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from adapters.nats.checkpoints import JetStreamCheckpointStore
from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.devstack.nats import NatsServer
from metalstream.registry import CODECS
from projections.hosts_view import HostsView
from projections.running import ProjectionRunner
from tests.adapters.nats.conftest import until_connected
from tests.projections.records import spec

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SETTINGS = StoreSettings(request_timeout=2.0, heartbeat=0.25, recovery_delay=0.05, pull_expires=5.0)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    async with NatsServer(tmp_path / "nats") as running:
        yield running


@pytest.fixture
async def client(server: NatsServer) -> AsyncIterator[Client]:
    connection = await nats.connect(
        server.url, reconnect_time_wait=0.05, max_reconnect_attempts=-1, connect_timeout=2
    )
    yield connection
    await until_connected(connection)
    await connection.close()


async def _create(handler: CommandHandler[hosts.HostState, cmd.HostCommand], name: str) -> None:
    command = cmd.ApplySpec(namespace="default", name=name, uid=name, generation=1, spec=spec(), now=NOW)
    await handler.handle(f"default/{name}", command, CommandContext(actor="test"))


async def test_the_view_restarts_from_its_checkpoint_and_keeps_following_across_a_server_restart(
    server: NatsServer, client: Client
) -> None:
    async with JetStreamEventStore(client, CODECS, settings=SETTINGS) as store:
        handler = CommandHandler(store, hosts.DEFINITION)
        for name in ("a", "b"):
            await _create(handler, name)
        checkpoints = JetStreamCheckpointStore(client.jetstream(), timeout=5)
        first = ProjectionRunner(HostsView(), store, checkpoints)
        await first.restore()
        await first.catch_up()
        assert (await checkpoints.load("hosts-view")) is not None

        view = HostsView()
        runner = ProjectionRunner(view, store, checkpoints, reconnect_delay=0.05)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(runner.run(), name="hosts-view")
            await asyncio.wait_for(runner.caught_up.wait(), 10)
            assert len(view) == 2
            assert runner.applied == 0, "the view came from the checkpoint, not from a replay"

            await server.stop()
            await server.start()
            await until_connected(client)
            await _create(handler, "c")
            await asyncio.wait_for(runner.wait_for(await store.last_position()), 20)
            task.cancel()
        assert view.get("default/c") is not None
