"""docs/events.md lists every host event type, and its nats-py snippet really consumes events.

``python -m tests.adapters.nats.test_events_doc`` prints the host event table, to paste between
the ``host-events`` markers of docs/events.md after adding an event type.
"""

from __future__ import annotations

import asyncio
import inspect
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
from core.events.hosts import HOST_EVENT_CLASSES
from metalstream import registry
from metalstream.commanding import CommandContext, CommandHandler
from tests.adapters.nats.conftest import SETTINGS

DOC = Path(__file__).parents[3] / "docs" / "events.md"
_SECTION = re.compile(r"<!-- host-events:start -->\n(.*?)<!-- host-events:end -->", re.DOTALL)
_LISTED = re.compile(r"^\| `([^`]+)` \|", re.MULTILINE)


def render_host_events() -> str:
    """The table of host event types: tag, class and the first paragraph of its docstring."""
    lines = ["| `type` | class | meaning |", "| --- | --- | --- |"]
    for cls in HOST_EVENT_CLASSES:
        summary = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
        meaning = summary.replace("``", "`").replace("|", "\\|")
        lines.append(f"| `{event_type_of_class(cls)}` | `{cls.__name__}` | {meaning} |")
    return "\n".join(lines) + "\n"


def event_type_of_class(cls: type[Any]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def listed_types() -> list[str]:
    section = _SECTION.search(DOC.read_text())
    assert section is not None, f"{DOC} has no host-events section"
    return _LISTED.findall(section.group(1))[1:]  # the first row is the header


def test_every_host_event_type_is_documented() -> None:
    known = [event_type_of_class(cls) for cls in HOST_EVENT_CLASSES]
    listed = listed_types()
    missing = [tag for tag in known if tag not in listed]
    assert not missing, (
        f"{DOC.name} does not list {missing}; regenerate its table with "
        "`python -m tests.adapters.nats.test_events_doc`"
    )
    unknown = [tag for tag in listed if tag not in known]
    assert not unknown, f"{DOC.name} lists event types that do not exist: {unknown}"


def test_the_table_comes_from_the_event_classes() -> None:
    # Only tags and class names are compared: rewording a docstring must not fail the build.
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", render_host_events(), re.MULTILINE)
    documented = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", DOC.read_text(), re.MULTILINE)
    assert rows == [row for row in documented if row[0].startswith("host.")]


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


if __name__ == "__main__":
    print(render_host_events(), end="")
