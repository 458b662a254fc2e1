"""Fixtures for the composition-root tests: the session's real Ironic comes from the adapter tests.

``ironic`` and ``client`` are the Ironic adapter tests' fixtures, imported rather than copied, so
the harness and its test configuration live in one place. A real nats-server is started per
test that asks for ``nats_store``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.nats.eventstore import JetStreamEventStore
from metalstream import settings, wiring
from metalstream.devstack.nats import NatsServer
from tests.adapters.ironic.conftest import client, ironic

__all__ = ["client", "ironic"]


@pytest.fixture
async def nats_server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    async with NatsServer(tmp_path / "nats") as server:
        yield server


@pytest.fixture
async def nats_store(nats_server: NatsServer) -> AsyncIterator[JetStreamEventStore]:
    """The JetStream event store on a fresh nats-server, wired the way the process wires it."""
    config = settings.load({}, overrides={"nats": {"urls": [nats_server.url], "request_timeout": 5.0}})
    async with wiring.event_store(config) as store:
        yield store
