"""The nats-py subscriber in docs/events.md really consumes events from a real nats-server.

The event tables and schemas of that page are checked by tests/metalstream/test_event_docs.py.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client

from adapters.nats.eventstore import JetStreamEventStore
from core.aggregates import hosts
from core.aggregates.host_commands import ApplySpec
from core.events.base import event_type_of
from core.events.host_values import BMCDetails, HostSpec
from metalstream import registry
from metalstream.commanding import CommandContext, CommandHandler
from tests.adapters.nats.conftest import SETTINGS

DOC = Path(__file__).parents[3] / "docs" / "events.md"


def python_snippet() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1
    return str(blocks[0])


async def test_the_python_snippet_consumes_host_events(nc: Client) -> None:
    namespace: dict[str, Any] = {}
    code = compile(python_snippet(), str(DOC), "exec", dont_inherit=True)  # as a reader would run it
    exec(code, namespace)  # noqa: S102 - our own documentation
    async with JetStreamEventStore(nc, registry.CODECS, settings=SETTINGS) as store:
        handler = CommandHandler(store, hosts.DEFINITION)
        spec = HostSpec(bmc=BMCDetails(address="redfish://192.0.2.10/redfish/v1/Systems/1"), online=True)
        command = ApplySpec(
            now=datetime.now(UTC), namespace="metal3", name="worker-0", uid="u", generation=1, spec=spec
        )
        outcome = await handler.handle("metal3/worker-0", command, CommandContext(actor="test"))
    expected = [event_type_of(event) for event in outcome.events]
    seen: list[tuple[int, str, object, str]] = []
    done = asyncio.Event()

    async def handle(position: int, message: Any) -> None:
        envelope = message.envelope
        seen.append((position, envelope.event_type, message.event["type"], envelope.aggregate_id))
        if len(seen) == len(expected):
            done.set()

    async with asyncio.timeout(10), asyncio.TaskGroup() as group:
        consumer = group.create_task(namespace["consume"](nc, handle), name="documented-consumer")
        await done.wait()
        consumer.cancel()
    assert seen == [(position, tag, tag, "metal3/worker-0") for position, tag in enumerate(expected, start=1)]
