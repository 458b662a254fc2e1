"""Appending with optimistic concurrency, atomically, and idempotently on retry.

One event is one publish of its document (``wire``) carrying
``Nats-Expected-Last-Subject-Sequence`` (the position the caller's state was read at) and
``Nats-Msg-Id`` (the event id). Several events of one command are one ADR-50 atomic batch: the
first message goes as a request and carries the expected sequence, the last one commits and
returns the final ack, and the server stores all of them or none.

A retry of an append that was stored but whose ack got lost must not fail. A standalone server
checks the expected sequence before the message id, so such a retry comes back as "wrong last
sequence" (10071), and a retried batch as "duplicate message id" (10201), rather than as an ack
with ``duplicate: true``. On any of these answers the store reads the subject right after the
expected position: if the events there carry our event ids, the append had been stored and its
revision is returned; otherwise another writer won and ``ConcurrencyConflict`` is raised.

The hot path is kept lean: aggregate fields are prepared once per append, tags and schema
versions are cached per event class, and bodies and acks are encoded and decoded with msgspec.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Final

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from adapters.nats import wire
from adapters.nats.directget import DirectReader
from adapters.nats.errors import (
    DUPLICATE_IN_BATCH,
    TRANSPORT_ERRORS,
    WRONG_LAST_SEQUENCE,
    NatsStoreError,
    actual_sequence,
    unavailable,
)
from adapters.nats.inbox import ReplyInbox
from adapters.nats.replies import decode_ack, rejected
from adapters.nats.subjects import SubjectLayout
from core.errors import ConcurrencyConflict
from core.events.base import Event, NewEvent, event_type_of
from core.events.codec import EventCodec
from core.ids import AggregateKey
from core.ports import Revision

MAX_EVENTS_PER_APPEND: Final = 1_000
"""The server's limit on messages in one atomic batch (ADR-50, error 10199)."""

_RETRY_ANSWERS: Final = WRONG_LAST_SEQUENCE | {DUPLICATE_IN_BATCH}


class Appender:
    """Writes events to aggregate subjects."""

    def __init__(
        self,
        nc: Client,
        inbox: ReplyInbox,
        reader: DirectReader,
        layout: SubjectLayout,
        codecs: Mapping[str, EventCodec],
    ) -> None:
        self._nc = nc
        self._inbox = inbox
        self._reader = reader
        self._layout = layout
        self._codecs = dict(codecs)
        self._tags: dict[type[Event], tuple[str, int]] = {}

    async def append(self, key: AggregateKey, events: Sequence[NewEvent], *, expected: Revision) -> Revision:
        """Store ``events`` after ``expected`` (see ``core.ports.EventStore.append``)."""
        if not events:
            return expected
        self._check(key, events)
        subject = self._layout.aggregate(key)
        encoder = wire.DocumentEncoder(key, self._tags)
        base = expected.version + 1
        messages = [encoder.encode(new, base + i) for i, new in enumerate(events)]
        messages[0][1][wire.EXPECTED_LAST_SUBJECT_SEQUENCE] = str(expected.position)
        # Each request below carries its own timeout; publishes in between only fill a buffer.
        try:
            if len(messages) == 1:
                reply = await self._inbox.request(subject, *messages[0])
            else:
                reply = await self._publish_batch(subject, messages)
        except TRANSPORT_ERRORS as exc:
            what = f"append {len(events)} event(s) to {key} (it may or may not have been stored)"
            raise unavailable(what, exc) from exc
        except nats.errors.Error as exc:
            msg = f"append {len(events)} event(s) to {key}: {type(exc).__name__}: {exc}"
            raise NatsStoreError(msg) from exc
        ack = decode_ack(reply.data, what=f"append to {key}")
        if ack.error is None and not ack.duplicate:
            return Revision(version=expected.version + len(events), position=ack.seq)
        if ack.error is not None and ack.error.err_code not in _RETRY_ANSWERS:
            raise rejected(f"append {len(events)} event(s) to {key}", ack.error)
        stored = await self._stored_revision(subject, events, expected)
        if stored is not None:
            return stored
        actual = actual_sequence(ack.error.description) if ack.error is not None else None
        raise ConcurrencyConflict(str(key), expected=expected.position, actual=actual)

    def _check(self, key: AggregateKey, events: Sequence[NewEvent]) -> None:
        if len(events) > MAX_EVENTS_PER_APPEND:
            msg = f"{key}: {len(events)} events in one append; at most {MAX_EVENTS_PER_APPEND} are atomic"
            raise ValueError(msg)
        codec = self._codecs.get(key.type)
        if codec is None:
            msg = f"{key}: no codec registered for aggregate type {key.type!r}"
            raise ValueError(msg)
        for new in events:
            cls = type(new.event)
            if cls not in self._tags:
                if not codec.knows(new.event):
                    msg = f"{key}: {cls.__name__} is not an event of aggregate type {key.type!r}"
                    raise ValueError(msg)
                self._tags[cls] = (event_type_of(new.event), codec.version_of(new.event))
        if len({new.meta.event_id for new in events}) != len(events):
            msg = f"{key}: event ids repeat within one append"
            raise ValueError(msg)

    async def _publish_batch(self, subject: str, messages: list[tuple[bytes, dict[str, str]]]) -> Msg:
        """Send an atomic batch; return the reply that ends it (the commit's ack, or an error)."""
        batch_id = uuid.uuid4().hex
        for number, (_, headers) in enumerate(messages, start=1):
            headers[wire.BATCH_ID] = batch_id
            headers[wire.BATCH_SEQUENCE] = str(number)
        messages[-1][1][wire.BATCH_COMMIT] = "1"
        first = await self._inbox.request(subject, *messages[0])
        if first.data:  # an empty reply means "batch started"; anything else is an error
            return first
        for payload, headers in messages[1:-1]:
            await self._nc.publish(subject, payload, headers=headers)
        return await self._inbox.request(subject, *messages[-1])

    async def _stored_revision(
        self, subject: str, events: Sequence[NewEvent], expected: Revision
    ) -> Revision | None:
        """The revision ``events`` produced if they are stored right after ``expected``."""
        stored = await self._reader.read(subject, after=expected.position, limit=len(events))
        ids = [wire.header(message.headers, wire.MSG_ID) for message in stored]
        if ids != [new.meta.event_id for new in events]:
            return None
        return Revision(version=expected.version + len(events), position=stored[-1].sequence)
