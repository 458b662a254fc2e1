"""The envelope on the wire: NATS message headers in, ``RecordedEvent`` out.

The payload (message body) holds domain facts only; everything a reader needs to place an event
(aggregate, version, time, who and why) travels in headers, so a reader can route, filter or
dead-letter a message without decoding its body, and the body stays exactly what
``core.events.codec.encode`` produced. ``Nats-Msg-Id`` carries the event id, which makes the
server's publish dedupe and our idempotent-retry check work on the same value.

Reading never raises: a message with missing or garbled headers becomes an ``UndecodableEvent``
whose reason names the header, with the best envelope that can still be built, so a projection can
dead-letter it and move on. nats-py sometimes keys headers by its ``Header`` enum instead of plain
strings, so keys are normalised to plain strings before giving up on a lookup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final

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

APP_PREFIX: Final = "Metalstream-"
EVENT_TYPE: Final = "Metalstream-Event-Type"
SCHEMA_VERSION: Final = "Metalstream-Schema-Version"
AGGREGATE_TYPE: Final = "Metalstream-Aggregate-Type"
AGGREGATE_ID: Final = "Metalstream-Aggregate-Id"
VERSION: Final = "Metalstream-Version"
OCCURRED_AT: Final = "Metalstream-Occurred-At"
ACTOR: Final = "Metalstream-Actor"
CORRELATION_ID: Final = "Metalstream-Correlation-Id"
CAUSATION_ID: Final = "Metalstream-Causation-Id"

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_UNSENDABLE: Final = re.compile(r"[\r\n\0]|^\s|\s$")


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a ``Z`` suffix."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            msg = f"occurred_at must be timezone-aware (got naive {moment.isoformat()})"
            raise ValueError(msg)
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an offset into an aware UTC datetime."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        msg = f"timestamp {text!r} has no UTC offset"
        raise ValueError(msg)
    return moment.astimezone(UTC)


def _checked(name: str, value: str) -> str:
    # nats-py strips values and rewrites line breaks; refuse what would not survive the trip.
    if _UNSENDABLE.search(value):
        msg = f"{name} {value!r} cannot be sent as a header: no line breaks or surrounding blanks"
        raise ValueError(msg)
    return value


class HeaderEncoder:
    """Builds the headers of the events of one append (aggregate fields are prepared once)."""

    __slots__ = ("_aggregate_id", "_aggregate_type", "_tags")

    def __init__(self, key: AggregateKey, tags: dict[type[Event], tuple[str, str]]) -> None:
        self._aggregate_type = _checked("aggregate type", key.type)
        self._aggregate_id = _checked("aggregate id", key.id)
        self._tags = tags

    def encode(self, new: NewEvent, version: int) -> dict[str, str]:
        """Headers for ``new`` stored as the aggregate's ``version``-th event."""
        meta = new.meta
        event_type, schema_version = self._tags[type(new.event)]
        headers = {
            MSG_ID: _checked("event id", meta.event_id),
            EVENT_TYPE: event_type,
            SCHEMA_VERSION: schema_version,
            AGGREGATE_TYPE: self._aggregate_type,
            AGGREGATE_ID: self._aggregate_id,
            VERSION: str(version),
            OCCURRED_AT: format_time(meta.occurred_at),
            ACTOR: _checked("actor", meta.actor),
            CORRELATION_ID: _checked("correlation id", meta.correlation_id),
        }
        if meta.causation_id is not None:
            headers[CAUSATION_ID] = _checked("causation id", meta.causation_id)
        return headers


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


class _Garbled(Exception):
    """A required header is missing or unreadable (internal to ``RecordDecoder``)."""


class RecordDecoder:
    """Turns stored messages back into ``RecordedEvent``; never raises for bad data."""

    def __init__(self, codecs: Mapping[str, EventCodec], layout: SubjectLayout) -> None:
        self._codecs = dict(codecs)
        self._layout = layout

    def decode(
        self, subject: str, position: int, data: bytes, headers: Mapping[Any, str] | None
    ) -> RecordedEvent:
        """The event stored at ``position`` on ``subject``."""
        hdrs: Mapping[Any, str] = headers or {}
        try:
            try:
                envelope = self._envelope(position, hdrs)
            except KeyError:
                envelope = self._envelope(position, plain_keys(hdrs))
        except (_Garbled, KeyError, ValueError) as exc:
            reason = f"bad envelope headers: {_describe(exc)}"
            return RecordedEvent(
                envelope=self._fallback_envelope(subject, position, plain_keys(hdrs)),
                event=UndecodableEvent(reason=reason, data=data),
            )
        codec = self._codecs.get(envelope.aggregate_type)
        if codec is None:
            return RecordedEvent(envelope=envelope, event=UnknownEvent(type=envelope.event_type, data=data))
        return RecordedEvent(
            envelope=envelope, event=codec.decode(data, schema_version=envelope.schema_version)
        )

    @staticmethod
    def _envelope(position: int, hdrs: Mapping[Any, str]) -> Envelope:
        return Envelope(
            event_id=hdrs[MSG_ID],
            aggregate_type=hdrs[AGGREGATE_TYPE],
            aggregate_id=hdrs[AGGREGATE_ID],
            version=_integer(VERSION, hdrs[VERSION]),
            position=position,
            event_type=hdrs[EVENT_TYPE],
            schema_version=_integer(SCHEMA_VERSION, hdrs[SCHEMA_VERSION]),
            occurred_at=_timestamp(hdrs[OCCURRED_AT]),
            actor=hdrs[ACTOR],
            correlation_id=hdrs[CORRELATION_ID],
            causation_id=hdrs.get(CAUSATION_ID),
        )

    def _fallback_envelope(self, subject: str, position: int, hdrs: Mapping[str, str]) -> Envelope:
        try:
            key = self._layout.parse(subject)
            aggregate_type, aggregate_id = key.type, key.id
        except ValueError:
            aggregate_type, aggregate_id = "", subject
        return Envelope(
            event_id=hdrs.get(MSG_ID, ""),
            aggregate_type=hdrs.get(AGGREGATE_TYPE, aggregate_type),
            aggregate_id=hdrs.get(AGGREGATE_ID, aggregate_id),
            version=_lenient_int(hdrs.get(VERSION)),
            position=position,
            event_type=hdrs.get(EVENT_TYPE, ""),
            schema_version=_lenient_int(hdrs.get(SCHEMA_VERSION)),
            occurred_at=_lenient_time(hdrs.get(OCCURRED_AT)),
            actor=hdrs.get(ACTOR, ""),
            correlation_id=hdrs.get(CORRELATION_ID, ""),
            causation_id=hdrs.get(CAUSATION_ID),
        )


def _integer(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        msg = f"{name} is not an integer: {text!r}"
        raise _Garbled(msg) from None
    if value < 0:
        msg = f"{name} is negative: {text!r}"
        raise _Garbled(msg)
    return value


def _timestamp(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        msg = f"{OCCURRED_AT} is not an RFC 3339 timestamp: {text!r}"
        raise _Garbled(msg) from None


def _lenient_int(text: str | None) -> int:
    try:
        return max(0, int(text or "0"))
    except ValueError:
        return 0


def _lenient_time(text: str | None) -> datetime:
    try:
        return parse_time(text) if text else _EPOCH
    except ValueError:
        return _EPOCH


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing header {exc.args[0]}"
    return str(exc)
