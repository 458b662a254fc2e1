"""What every event shares: the payload base class, the envelope, and the two "not understood" values.

Payloads and envelopes are kept apart (style rule 8). A payload holds domain facts only and is
what ``evolve`` folds; the envelope holds where and when it was recorded and on whose behalf,
and is filled in by the command handler and the event store.

Wire rules (docs/events.md): JSON, camelCase keys, a stable dotted ``type`` tag per payload class.
Payloads never forbid unknown fields, so an older reader skips fields a newer writer added.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, TypeAlias

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", rename="camel"):
    """Base of every event payload. Subclasses pass ``tag="<aggregate>.<fact>"`` and ``kw_only=True``."""

    schema_version: ClassVar[int] = 1
    """Bumped when a payload changes shape incompatibly; an upcaster maps older versions forward."""


class UnknownEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event whose type tag this build does not know (written by a newer version).

    Aggregates skip it without changing state; projections dead-letter it so nothing is lost.
    """

    type: str
    data: bytes


class UndecodableEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A message that is not a valid event at all (corrupt JSON, wrong field types, a bad envelope).

    ``data`` holds the bytes as stored (for a store that keeps envelope and payload in one
    document, the whole document), so a dead-letter copy loses nothing.
    """

    reason: str
    data: bytes


NotUnderstood: TypeAlias = UnknownEvent | UndecodableEvent


class Envelope(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where an event sits in the log and who caused it: stored beside the payload, never inside it."""

    event_id: str
    """Globally unique; also the store's idempotency key (``Nats-Msg-Id``)."""
    aggregate_type: str
    aggregate_id: str
    version: int
    """Per-aggregate sequence, 1 for the first event of an aggregate."""
    position: int
    """Global stream sequence; the store assigns it on append."""
    event_type: str
    schema_version: int
    occurred_at: datetime
    """UTC time the command that produced the event was handled."""
    actor: str
    """Who asked: ``k8s:<user-or-controller>``, ``ironic``, ``bmc``, ``cli:<user>``."""
    correlation_id: str
    """Shared by every event caused, directly or not, by one user action."""
    causation_id: str | None = None
    """The event id (or external id) that directly caused this one."""


class EventMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """Envelope fields the writer chooses; the store adds aggregate, version and position."""

    event_id: str
    occurred_at: datetime
    actor: str
    correlation_id: str
    causation_id: str | None = None


class NewEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event about to be appended."""

    event: Event
    meta: EventMetadata


class RecordedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event as read back from the store."""

    envelope: Envelope
    event: Event | UnknownEvent | UndecodableEvent


def event_type_of(event: Event) -> str:
    """The stable tag string of a payload instance."""
    tag = type(event).__struct_config__.tag
    if not isinstance(tag, str):
        msg = f"{type(event).__name__} has no string tag; declare tag='<aggregate>.<fact>'"
        raise TypeError(msg)
    return tag
