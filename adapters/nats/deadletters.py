"""The dead-letter log: exact copies of events a reader gave up on, with who and why.

A projection that meets an event it cannot handle must not stall every other host's status, nor
lose the event. It copies the message body exactly as stored (fetched by position, so an upcast or
re-encoded payload never replaces the original; the body is the self-describing document of
``wire``) to its own stream under ``<dlq prefix>.<reader>.<original subject tokens>``, with
headers saying who gave up on it, why, and where it came from, and moves on. The copy's
``Nats-Msg-Id`` is ``<reader>:<event id>``, so a reader that dead-letters the same event twice
(say, after a restart) stores it once, while two readers each keep their own copy.
"""

from __future__ import annotations

from typing import Final

import msgspec
from nats.aio.client import Client

from adapters.nats import wire
from adapters.nats.directget import DirectReader, StoredMessage
from adapters.nats.errors import translated
from adapters.nats.replies import decode_ack, rejected
from adapters.nats.subjects import SubjectLayout, escape_token
from core.events.base import RecordedEvent
from core.ids import AggregateKey

REASON: Final = "Metalstream-Dead-Letter-Reason"
READER: Final = "Metalstream-Dead-Letter-Reader"
ORIGINAL_POSITION: Final = "Metalstream-Original-Position"
ORIGINAL_SUBJECT: Final = "Metalstream-Original-Subject"
ORIGINAL_EVENT_ID: Final = "Metalstream-Original-Event-Id"

_MAX_REASON: Final = 2_000


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    """One dead-lettered event as stored in the dead-letter stream."""

    reader: str
    reason: str
    original_position: int
    original_subject: str
    event_id: str
    event_type: str
    data: bytes
    headers: dict[str, str]
    """The dead-letter headers (and any application headers the original message had)."""
    position: int
    """Sequence in the dead-letter stream."""


class DeadLetterLog:
    """Writes to and reads from the dead-letter stream."""

    def __init__(
        self,
        nc: Client,
        *,
        events: DirectReader,
        dead_letters: DirectReader,
        layout: SubjectLayout,
        timeout: float,
    ) -> None:
        self._nc = nc
        self._events = events
        self._dead_letters = dead_letters
        self._layout = layout
        self._timeout = timeout

    async def add(self, record: RecordedEvent, *, reader: str, reason: str) -> None:
        """Copy ``record`` to the dead-letter stream on behalf of ``reader``."""
        envelope = record.envelope
        original = await self._events.get(envelope.position)
        if original is None:  # cannot happen on a deny-delete stream; keep what the record has
            original = StoredMessage(
                self._subject_of(record), envelope.position, wire.document_of(record), {}
            )
        headers = {
            key: value
            for key, value in wire.plain_keys(original.headers).items()
            if not key.startswith("Nats-")
        }
        event_id = _single_line(envelope.event_id)  # read from a body, it may be anything
        headers[wire.MSG_ID] = f"{escape_token(reader)}:{event_id or envelope.position}"
        headers[REASON] = _one_line(reason)
        headers[READER] = reader
        headers[ORIGINAL_POSITION] = str(envelope.position)
        headers[ORIGINAL_SUBJECT] = original.subject
        headers[ORIGINAL_EVENT_ID] = event_id
        subject = self._layout.dead_letter(reader, original.subject)
        what = f"dead-letter position {envelope.position} for {reader}"
        with translated(what):
            reply = await self._nc.request(subject, original.data, timeout=self._timeout, headers=headers)
        ack = decode_ack(reply.data, what=what)
        if ack.error is not None:
            raise rejected(what, ack.error)

    def _subject_of(self, record: RecordedEvent) -> str:
        envelope = record.envelope
        try:
            return self._layout.aggregate(
                AggregateKey(type=envelope.aggregate_type, id=envelope.aggregate_id)
            )
        except ValueError:
            return f"{self._layout.prefix}.unknown"

    async def read(self, *, reader: str | None = None) -> list[DeadLetter]:
        """Every dead letter, or those of one reader, oldest first."""
        wildcard = (
            self._layout.all_dead_letters
            if reader is None
            else f"{self._layout.dead_letter_prefix}.{escape_token(reader)}.>"
        )
        stored = await self._dead_letters.read(wildcard)
        return [_dead_letter(message) for message in stored]


def _dead_letter(message: StoredMessage) -> DeadLetter:
    headers = {
        key: value for key, value in wire.plain_keys(message.headers).items() if not key.startswith("Nats-")
    }
    return DeadLetter(
        reader=headers.get(READER, ""),
        reason=headers.get(REASON, ""),
        original_position=int(headers.get(ORIGINAL_POSITION, "0") or 0),
        original_subject=headers.get(ORIGINAL_SUBJECT, ""),
        event_id=headers.get(ORIGINAL_EVENT_ID, ""),
        event_type=_text(wire.loose_envelope(message.data).get("eventType")),
        data=message.data,
        headers=headers,
        position=message.sequence,
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _single_line(text: str) -> str:
    return " ".join(text.split())


def _one_line(reason: str) -> str:
    return _single_line(reason)[:_MAX_REASON] or "(no reason given)"
