"""Reading stored messages by subject or sequence with (batched) Direct Get (ADR-31).

Loading an aggregate reads one subject. A batched Direct Get request
``{"seq": S, "batch": N, "next_by_subj": subject}`` makes the server stream up to N messages of
that subject and then an end-of-batch status (``204 EOB`` with ``Nats-Num-Pending``); there is no
consumer to create or delete. ``python -m bench.eventstore --only load`` on the 2-core dev
machine: a 10-event aggregate loads in 1.25 ms (p50) this way against 1.9 ms with an ordered
consumer, so ``load`` uses Direct Get. (The server ignores ``up_to_seq`` on such requests, so
``up_to`` is applied here.) Both get slow alike when an aggregate's events are spread thinly over
a long log, because the server then scans past other subjects' messages: about 50 ms for 200
events spread over 250,000; the command handler's cache is what keeps that off the hot path.

Direct Get may be answered by a replica, so on a replicated stream a read right after an append
might not see it yet (ADR-31). That never loses an update: appends carry the expected last
sequence, and a stale read turns into a ``ConcurrencyConflict`` and a reload.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final, NamedTuple

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg

from adapters.nats import wire
from adapters.nats.errors import JetStreamRejected, NatsStoreError, translated
from adapters.nats.inbox import ReplyInbox

_ENCODER: Final = msgspec.json.Encoder()
_END_OF_BATCH: Final = "204"
_NOT_FOUND: Final = "404"
_NO_RESPONDERS: Final = "503"


class StoredMessage(NamedTuple):
    """A message as stored in the stream."""

    subject: str
    sequence: int
    data: bytes
    headers: dict[Any, str]


class DirectReader:
    """Direct Get on one stream, every request bounded by ``timeout`` seconds."""

    def __init__(self, nc: Client, inbox: ReplyInbox, *, stream: str, timeout: float, batch: int) -> None:
        self._nc = nc
        self._inbox = inbox
        self._api = f"$JS.API.DIRECT.GET.{stream}"
        self._stream = stream
        self._timeout = timeout
        self._batch = batch

    async def read(
        self, subject: str, *, after: int = 0, limit: int | None = None, up_to: int | None = None
    ) -> list[StoredMessage]:
        """Messages on ``subject`` (a wildcard is allowed) after sequence ``after``, in order."""
        found: list[StoredMessage] = []
        start = after + 1
        while limit is None or len(found) < limit:
            want = self._batch if limit is None else min(self._batch, limit - len(found))
            request = _ENCODER.encode({"seq": start, "batch": want, "next_by_subj": subject})
            with translated(f"read {subject} from {self._stream}"):
                more, last = await self._page(request, found, limit=limit, up_to=up_to)
            if not more:
                break
            start = last + 1
        return found

    async def get(self, sequence: int) -> StoredMessage | None:
        """The message stored at ``sequence``, or None if there is none."""
        request = _ENCODER.encode({"seq": sequence})
        what = f"get message {sequence} from {self._stream}"
        with translated(what):
            reply = await self._nc.request(self._api, request, timeout=self._timeout)
            status = wire.header(reply.headers, wire.STATUS) if not reply.data else None
            if status == _NOT_FOUND:
                return None
            if status is not None:
                raise _status_error(what, reply, status)
        return _stored(reply)

    async def _page(
        self, request: bytes, found: list[StoredMessage], *, limit: int | None, up_to: int | None
    ) -> tuple[bool, int]:
        """Read one batch into ``found``; return whether more may follow and the last sequence seen."""
        with self._inbox.open(_is_status) as replies:
            async with asyncio.timeout(self._timeout):
                await self._nc.publish(self._api, request, reply=replies.subject)
                messages = await replies.wait()
        *stored, end = messages
        for msg in stored:
            message = _stored(msg)
            if up_to is not None and message.sequence > up_to:
                return False, message.sequence
            found.append(message)
            if limit is not None and len(found) >= limit:
                return False, message.sequence
        status = wire.header(end.headers, wire.STATUS)
        if status == _END_OF_BATCH:
            pending = int(wire.header(end.headers, "Nats-Num-Pending") or "0")
            last = int(wire.header(end.headers, "Nats-Last-Sequence") or "0")
            return pending > 0, last
        if status == _NOT_FOUND:
            return False, 0
        raise _status_error(f"direct get on {self._stream}", end, status or "")


def _is_status(msg: Msg) -> bool:
    return not msg.data and wire.header(msg.headers, wire.STATUS) is not None


def _stored(msg: Msg) -> StoredMessage:
    headers = msg.headers or {}
    try:
        return StoredMessage(headers["Nats-Subject"], int(headers["Nats-Sequence"]), msg.data, headers)
    except (KeyError, ValueError) as exc:
        msg_text = f"direct get reply without subject or sequence: {wire.plain_keys(headers)}"
        raise NatsStoreError(msg_text) from exc


def _status_error(what: str, msg: Msg, status: str) -> Exception:
    description = wire.header(msg.headers, wire.DESCRIPTION) or ""
    if status == _NO_RESPONDERS:
        return TimeoutError(f"{what}: no responders ({description})")
    return JetStreamRejected(
        what, code=int(status) if status.isdigit() else 0, err_code=0, description=description
    )
