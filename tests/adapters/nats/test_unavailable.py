"""With the server gone, every operation fails fast with StoreUnavailable instead of hanging."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
from nats.aio.client import Client

from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from core.errors import StoreUnavailable
from core.ports import NEW
from metalstream.devstack.nats import NatsServer
from tests.adapters.nats.conftest import until_connected
from tests.contracts.events import CODECS, WidgetCreated, new, widget
from tests.contracts.eventstore import collect

TIMEOUT = 0.3


async def test_operations_raise_store_unavailable_within_the_timeout(
    nats_server: NatsServer, nc: Client
) -> None:
    settings = StoreSettings(request_timeout=TIMEOUT, heartbeat=0.1, recovery_delay=0.05)
    async with JetStreamEventStore(nc, CODECS, settings=settings) as store:
        await store.append(widget("a"), [new(WidgetCreated(name="a"))], expected=NEW)
        await nats_server.stop()
        operations: dict[str, Callable[[], Awaitable[object]]] = {
            "append": lambda: store.append(widget("b"), [new(WidgetCreated(name="b"))], expected=NEW),
            "load": lambda: store.load(widget("a")),
            "last_position": store.last_position,
            "read_all": lambda: collect(store.read_all()),
        }
        try:
            for name, operation in operations.items():
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await operation()
                assert time.monotonic() - started < 10 * TIMEOUT, name
        finally:
            # nats-py cannot close a connection cleanly while it is reconnecting.
            await nats_server.start()
            await until_connected(nc)
