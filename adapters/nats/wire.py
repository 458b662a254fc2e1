"""The message format: one JSON document per event, ``{"envelope": {...}, "event": {...}}``.

The body of every stored message is self-describing: ``envelope`` says where the event belongs
and who caused it (camelCase fields of ``core.events.base.Envelope`` except ``position``, which is
the stream sequence the server assigns), and ``event`` is the payload exactly as
``core.events.codec.encode`` writes it, with its ``type`` tag. The envelope stays apart from the
payload, and a subscriber needs nothing but the body to understand a message (docs/events.md).

Headers carry only what the server acts on: ``Nats-Msg-Id`` (the event id, for publish dedupe
and the idempotent-retry check), ``Nats-Expected-Last-Subject-Sequence`` on the first event of an
append and the ``Nats-Batch-*`` headers of atomic batches. The server stores those as sent, so a
single-event append stores two headers. Few headers matter for speed wherever nats-py reads
messages: it parses headers character by character, and on the 2-core dev machine a raw nats-py
push consumer received 25k msgs/s with the eleven headers of the old format (the envelope was in
headers) against 58-71k with one to three.

Reading never raises for bad data. The document is decoded by one reused msgspec decoder into
``StoredDocument``, whose ``event`` stays raw bytes (``msgspec.Raw``) until the aggregate type's
``EventCodec`` decodes it with the envelope's schema version (so upcasting applies). A body that
is not a document with a valid envelope becomes an ``UndecodableEvent`` carrying the whole body
and msgspec's reason (which names the field), with the best envelope that can still be built
from what is readable and from the subject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Annotated, Any, Final

import msgspec

from adapters.nats.subjects import SubjectLayout
from core.events.base import (
    Envelope,
    Event,
    NewEvent,
    RecordedEvent,
    UndecodableEvent,
    UnknownEvent,
)
from core.events.codec import EventCodec
from core.ids import AggregateKey

MSG_ID: Final = "Nats-Msg-Id"
EXPECTED_LAST_SUBJECT_SEQUENCE: Final = "Nats-Expected-Last-Subject-Sequence"
BATCH_ID: Final = "Nats-Batch-Id"
BATCH_SEQUENCE: Final = "Nats-Batch-Sequence"
BATCH_COMMIT: Final = "Nats-Batch-Commit"
STATUS: Final = "Status"
DESCRIPTION: Final = "Description"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_UNSENDABLE: Final = re.compile(r"[\r\n\0]|^\s|\s$")


class WireEnvelope(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """The ``envelope`` object of a stored message (``Envelope`` without ``position``).

    Unknown fields are ignored, so a newer writer may add envelope fields.
    """

    event_id: str
    aggregate_type: str
    aggregate_id: str
    version: Annotated[int, msgspec.Meta(ge=0)]
    event_type: str
    schema_version: Annotated[int, msgspec.Meta(ge=0)]
    occurred_at: Annotated[datetime, msgspec.Meta(tz=True)]
    actor: str
    correlation_id: str
    causation_id: str | None = None
    """Left out of the document when there is none."""


class StoredDocument(msgspec.Struct, frozen=True):
    """A stored message body as read: the envelope decoded, the payload still raw JSON."""

    envelope: WireEnvelope
    event: msgspec.Raw


class _NewDocument(msgspec.Struct, frozen=True):
    envelope: WireEnvelope
    event: Event


class _LooseDocument(msgspec.Struct, frozen=True):
    envelope: dict[str, Any] = {}


_ENCODER: Final = msgspec.json.Encoder()
_LOOSE: Final = msgspec.json.Decoder(_LooseDocument)


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is refused (its zone would be a guess)."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        msg = f"occurred_at must be timezone-aware (got naive {moment.isoformat()})"
        raise ValueError(msg)
    return moment.astimezone(UTC)


def checked_header(name: str, value: str) -> str:
    """``value`` if it survives the trip as a NATS header value, else ``ValueError``."""
    # nats-py strips values and rewrites line breaks; refuse what would not come back as sent.
    if _UNSENDABLE.search(value):
        msg = f"{name} {value!r} cannot be sent as a header: no line breaks or surrounding blanks"
        raise ValueError(msg)
    return value


class DocumentEncoder:
    """Builds the bodies and headers of the events of one append (aggregate fields set once)."""

    __slots__ = ("_aggregate_id", "_aggregate_type", "_tags")

    def __init__(self, key: AggregateKey, tags: Mapping[type[Event], tuple[str, int]]) -> None:
        self._aggregate_type = key.type
        self._aggregate_id = key.id
        self._tags = tags

    def encode(self, new: NewEvent, version: int) -> tuple[bytes, dict[str, str]]:
        """Body and headers for ``new`` stored as the aggregate's ``version``-th event."""
        meta = new.meta
        event_type, schema_version = self._tags[type(new.event)]
        envelope = WireEnvelope(
            event_id=meta.event_id,
            aggregate_type=self._aggregate_type,
            aggregate_id=self._aggregate_id,
            version=version,
            event_type=event_type,
            schema_version=schema_version,
            occurred_at=utc(meta.occurred_at),
            actor=meta.actor,
            correlation_id=meta.correlation_id,
            causation_id=meta.causation_id,
        )
        body = _ENCODER.encode(_NewDocument(envelope=envelope, event=new.event))
        return body, {MSG_ID: checked_header("event id", meta.event_id)}


def document_of(record: RecordedEvent) -> bytes:
    """The body a decoded record was (or would have been) stored as."""
    envelope = record.envelope
    wire = WireEnvelope(
        event_id=envelope.event_id,
        aggregate_type=envelope.aggregate_type,
        aggregate_id=envelope.aggregate_id,
        version=envelope.version,
        event_type=envelope.event_type,
        schema_version=envelope.schema_version,
        occurred_at=envelope.occurred_at,
        actor=envelope.actor,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
    )
    event = record.event
    if isinstance(event, Event):
        return _ENCODER.encode(_NewDocument(envelope=wire, event=event))
    return _ENCODER.encode({"envelope": wire, "event": msgspec.Raw(event.data)})


def loose_envelope(data: bytes) -> dict[str, Any]:
    """Whatever ``envelope`` object a body has (empty when it has none or is not JSON)."""
    try:
        return _LOOSE.decode(data).envelope
    except msgspec.DecodeError:
        return {}


def plain_keys(headers: Mapping[Any, str]) -> dict[str, str]:
    """Headers keyed by plain strings, whatever nats-py used as keys."""
    return {(key.value if isinstance(key, Enum) else str(key)): value for key, value in headers.items()}


def header(headers: Mapping[Any, str] | None, name: str) -> str | None:
    """One header value, found even when nats-py keyed it by an enum member."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None and any(type(key) is not str for key in headers):
        value = plain_keys(headers).get(name)
    return value


class RecordDecoder:
    """Turns stored message bodies back into ``RecordedEvent``; never raises for bad data."""

    def __init__(self, codecs: Mapping[str, EventCodec], layout: SubjectLayout) -> None:
        self._codecs = dict(codecs)
        self._layout = layout
        self._documents = msgspec.json.Decoder(StoredDocument)

    def decode(self, subject: str, position: int, data: bytes) -> RecordedEvent:
        """The event stored at ``position`` on ``subject`` with body ``data``."""
        try:
            return self.decode_document(position, data)
        except msgspec.DecodeError as exc:
            return self.undecodable(subject, position, data, exc)

    def decode_document(self, position: int, data: bytes) -> RecordedEvent:
        """Like ``decode``, but ``msgspec.DecodeError`` when ``data`` is no valid document.

        The replay hot path calls this and works out the subject only when it fails.
        """
        document = self._documents.decode(data)
        wire = document.envelope
        occurred = wire.occurred_at
        if occurred.tzinfo is not UTC:
            occurred = occurred.astimezone(UTC)
        envelope = Envelope(
            event_id=wire.event_id,
            aggregate_type=wire.aggregate_type,
            aggregate_id=wire.aggregate_id,
            version=wire.version,
            position=position,
            event_type=wire.event_type,
            schema_version=wire.schema_version,
            occurred_at=occurred,
            actor=wire.actor,
            correlation_id=wire.correlation_id,
            causation_id=wire.causation_id,
        )
        payload = bytes(document.event)
        codec = self._codecs.get(wire.aggregate_type)
        if codec is None:
            return RecordedEvent(envelope=envelope, event=UnknownEvent(type=wire.event_type, data=payload))
        return RecordedEvent(
            envelope=envelope, event=codec.decode(payload, schema_version=wire.schema_version)
        )

    def undecodable(self, subject: str, position: int, data: bytes, error: Exception) -> RecordedEvent:
        """The record for a body that is not a valid document: the whole body and the reason."""
        return RecordedEvent(
            envelope=self._fallback_envelope(subject, position, loose_envelope(data)),
            event=UndecodableEvent(reason=f"bad message body: {error}", data=data),
        )

    def _fallback_envelope(self, subject: str, position: int, loose: Mapping[str, Any]) -> Envelope:
        try:
            key = self._layout.parse(subject)
            aggregate_type, aggregate_id = key.type, key.id
        except ValueError:
            aggregate_type, aggregate_id = "", subject
        causation = loose.get("causationId")
        return Envelope(
            event_id=_text(loose.get("eventId")),
            aggregate_type=_text(loose.get("aggregateType")) or aggregate_type,
            aggregate_id=_text(loose.get("aggregateId")) or aggregate_id,
            version=_count(loose.get("version")),
            position=position,
            event_type=_text(loose.get("eventType")),
            schema_version=_count(loose.get("schemaVersion")),
            occurred_at=_time(loose.get("occurredAt")),
            actor=_text(loose.get("actor")),
            correlation_id=_text(loose.get("correlationId")),
            causation_id=causation if isinstance(causation, str) else None,
        )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _time(value: object) -> datetime:
    if not isinstance(value, str):
        return _EPOCH
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _EPOCH
    return _EPOCH if moment.tzinfo is None else moment.astimezone(UTC)
