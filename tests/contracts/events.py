"""Test-only events for the event-store contract: widgets and gadgets.

``widget.renamed`` is at schema version 2: version 1 called the field ``title``, and an upcaster
maps it forward, so the suite can check that stored old versions are upcast on every read path.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from core.events.base import Event, EventMetadata, NewEvent
from core.events.codec import EventCodec
from core.ids import AggregateKey


class WidgetCreated(Event, tag="widget.created", frozen=True, kw_only=True):
    name: str


class WidgetRenamed(Event, tag="widget.renamed", frozen=True, kw_only=True):
    schema_version: ClassVar[int] = 2
    name: str


class WidgetIncremented(Event, tag="widget.incremented", frozen=True, kw_only=True):
    by: int = 1


class GadgetCreated(Event, tag="gadget.created", frozen=True, kw_only=True):
    colour: str


def _renamed_v1_to_v2(obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": obj["type"], "name": obj.pop("title")}


WIDGETS = EventCodec(
    "widget",
    [WidgetCreated, WidgetRenamed, WidgetIncremented],
    upcasters={("widget.renamed", 1): _renamed_v1_to_v2},
)
GADGETS = EventCodec("gadget", [GadgetCreated])
CODECS = {"widget": WIDGETS, "gadget": GADGETS}

OCCURRED = datetime(2026, 11, 23, 21, 17, 29, 784848, tzinfo=UTC)


def widget(name: str) -> AggregateKey:
    return AggregateKey(type="widget", id=f"default/{name}")


def gadget(name: str) -> AggregateKey:
    return AggregateKey(type="gadget", id=f"default/{name}")


def new(event: Event, *, event_id: str | None = None, causation_id: str | None = None) -> NewEvent:
    """A new event with a unique id and fixed metadata."""
    unique = uuid.uuid4().hex
    return NewEvent(
        event=event,
        meta=EventMetadata(
            event_id=event_id or f"evt-{unique}",
            occurred_at=OCCURRED,
            actor="test:contract",
            correlation_id=f"corr-{unique}",
            causation_id=causation_id,
        ),
    )
