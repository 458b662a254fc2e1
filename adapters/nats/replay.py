"""Reading the log fast: a push consumer read over a raw connection, a whole buffer at a time.

``read_all`` is how projections rebuild and tools scan history, so its speed sets how long a
restart or a new projection takes. Through nats-py, a replay costs mostly nats-py's per-message
work and runs at about the speed of a raw nats-py consumer that only counts (on the 2-core dev
machine 61k against 66k events/s on a quiet run; 15-23k when the envelope still travelled in ten
headers). Here an ephemeral push consumer (``ack_policy none``, flow control, idle heartbeats,
memory storage, one replica) delivers to an inbox of a ``RawConnection``, and each chunk read
from the socket is parsed in place: one regular expression (``_event_frame``) matches the control
line of an event and yields the lengths and, from the ``$JS.ACK`` reply subject, the stream
sequence and pending count; anything else (statuses, protocol lines) is split by hand. Headers
are only looked at on status messages; the body goes straight to
``RecordDecoder.decode_document``.

``python -m bench.eventstore --only replay``: 168k events/s on a quiet run, 2.5 times the raw
nats-py consumer; the ratio holds when the shared machine is busy, the absolute figure does not
(54-81k with a load average of 8). Per event the reader spends about 33,000 instructions
(callgrind): 6,500 in msgspec (the document, then the codec's tag and payload passes), 4,500
matching the control line, 6,000 in the interpreter loop, the rest allocating objects, parsing
integers and calling; the server spends about as much CPU again on each message.

Back-pressure: nothing reads the socket while the caller handles an event. With flow control
the server pauses once about 2 MiB are sent but not acknowledged (it adapts that window), and the
reader answers a flow-control request only when it parses it, after every event before it was
taken. A caller that pauses for very long may be cut off by the server as a slow consumer; that
is a loss like any other.

Losses: the reader is lost when the connection ends or fails, when neither a message nor a
heartbeat arrives for two heartbeat intervals (a server that died without closing the
connection), or on a status other than 100. It then closes the connection, asks the server to
delete the consumer (not waiting: the consumer's inactivity threshold removes it anyway) and
starts over on a fresh connection with a new consumer that begins right after the last position
handed out, so nothing is skipped or repeated. A followed log retries forever, every
``recovery_delay``; a catch-up read raises ``StoreUnavailable`` once recovery has taken longer
than the request timeout.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import msgspec
import nats.errors
import structlog
from nats.aio.client import Client
from nats.js import api
from nats.js.client import JetStreamContext

from adapters.nats.errors import translated, unavailable
from adapters.nats.pulling import ephemeral_name
from adapters.nats.rawconn import ConnectOptions, RawConnection
from adapters.nats.replies import Delivery, delivery
from adapters.nats.settings import StoreSettings
from adapters.nats.wire import RecordDecoder
from core.errors import StoreUnavailable
from core.events.base import RecordedEvent

log = structlog.get_logger("metalstream.nats.replay")

_ACK_PREFIX: Final = b"$JS.ACK."
_STALLED: Final = b"Nats-Consumer-Stalled:"
_NO_END: Final = 1 << 63
_HMSG: Final = 72  # "H"
_MSG: Final = 77  # "M"


class LogReplay:
    """``read_all`` over a raw connection opened with ``options``."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        settings: StoreSettings,
        decoder: RecordDecoder,
        options: ConnectOptions,
    ) -> None:
        self._nc = nc
        self._js = js
        self._settings = settings
        self._decoder = decoder
        self._options = options

    async def read(
        self,
        *,
        after: int,
        filter_subject: str,
        follow: bool,
        last_position: Callable[[], Awaitable[int]],
    ) -> AsyncIterator[RecordedEvent]:
        """Events on ``filter_subject`` after position ``after``, in order.

        Without ``follow`` the read ends at what ``last_position`` says when it starts; with it,
        the read goes on forever.
        """
        end = None
        if not follow:
            end = await last_position()
            if end <= after:
                return
        limit = _NO_END if end is None else end
        session = _Session(
            self._nc, self._js, self._settings, self._options, filter_subject, persistent=follow
        )
        decode = self._decoder.decode_document
        last = after  # the position of the last event handed out
        try:
            pending = await session.start(after)
            buf = b""
            while True:
                if end is not None and pending == 0:
                    return
                if session.lost is not None:
                    pending = await session.recover(last)
                    buf = b""
                    continue
                chunk = await session.receive()
                if not chunk:
                    continue
                buf = buf + chunk if buf else chunk
                size = len(buf)
                pos = 0
                event_frame = session.event_frame
                # One pass over every complete frame in the buffer; see _Session.event_frame for
                # the common one. Anything else (a protocol line, a status, a message without
                # headers, a v2 ack subject) takes the general path.
                while True:
                    match = event_frame(buf, pos)
                    if match is not None:
                        sequence, left, header_size, total_size = match.groups()
                        frame_start = match.end()
                        stop = frame_start + int(total_size)
                        if stop + 2 > size:
                            break  # the rest of this frame is still on its way
                        body_start = frame_start + int(header_size)
                        position = int(sequence)
                        done = left == b"0"
                    else:
                        eol = buf.find(b"\r\n", pos)
                        if eol < 0:
                            break
                        kind = buf[pos]
                        if kind == _HMSG:  # HMSG <subject> <sid> [reply] <header bytes> <total bytes>
                            fields = buf[pos:eol].rsplit(b" ", 3)
                            body_start = eol + 2 + int(fields[2])
                        elif kind == _MSG:  # MSG <subject> <sid> [reply] <bytes>
                            fields = buf[pos:eol].rsplit(b" ", 2)
                            body_start = eol + 2
                        else:
                            line = buf[pos:eol]
                            pos = eol + 2
                            if not await session.protocol(line):
                                break
                            continue
                        stop = eol + 2 + int(fields[-1])
                        if stop + 2 > size:
                            break
                        meta = await session.other(fields[0], fields[1], buf[eol + 2 : body_start])
                        if meta is None:
                            pos = stop + 2
                            if not session.healthy:
                                break
                            continue
                        position, done = meta.stream_sequence, meta.pending == 0
                    frame, pos = pos, stop + 2
                    if position <= last:
                        continue
                    if position > limit:
                        return
                    last = position
                    body = buf[body_start:stop]
                    try:
                        record = decode(position, body)
                    except msgspec.DecodeError as exc:
                        record = self._decoder.undecodable(_subject(buf, frame), position, body, exc)
                    yield record
                    if position >= limit or (done and end is not None):
                        return
                buf = buf[pos:]
        finally:
            await session.close()


def _event_frame(acks: bytes) -> Callable[[bytes, int], re.Match[bytes] | None]:
    """Matches the control line of an event from the consumer whose ack subjects start ``acks``.

    That is ``HMSG <subject> <sid> <acks><delivered>.<sequence>.<n>.<time>.<pending> <header
    bytes> <total bytes>\\r\\n``; the groups are sequence, pending, header and total bytes. One
    match costs fewer instructions than finding the line end and splitting the line and the
    reply subject (callgrind: 7% fewer for the whole replay of an event).
    """
    number = rb"([0-9]+)"
    return re.compile(
        rb"HMSG [^ ]+ [^ ]+ "
        + re.escape(acks)
        + rb"[0-9]+\."
        + number
        + rb"\.[0-9]+\.[0-9]+\."
        + number
        + rb" "
        + number
        + rb" "
        + number
        + rb"\r\n"
    ).match


def _subject(buf: bytes, frame: int) -> str:
    """The subject of the frame at ``frame`` (for the envelope of an undecodable event)."""
    line = buf[frame : buf.find(b"\r\n", frame)]
    return line.split(b" ", 2)[1].decode(errors="replace")


class _Session:
    """One reader's connection and consumer, and how to replace them after a loss."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        settings: StoreSettings,
        options: ConnectOptions,
        filter_subject: str,
        *,
        persistent: bool,
    ) -> None:
        self._nc = nc
        self._js = js
        self._settings = settings
        self._options = options
        self._filter = filter_subject
        self._persistent = persistent
        self._timeout = settings.request_timeout
        self._stall_after = 2 * settings.heartbeat + 0.1
        self._connection: RawConnection | None = None
        self._consumer = ""
        self.lost: str | None = None
        """Why the current connection or consumer is no good any more; None while it is."""
        self.event_frame = _event_frame(b"-")
        """Matches the control line of an event of the current consumer (see ``_event_frame``)."""

    @property
    def healthy(self) -> bool:
        """Whether the connection and consumer are still good (``lost`` is None)."""
        return self.lost is None

    async def start(self, after: int) -> int:
        """Open a connection and a consumer delivering after ``after``; return its pending count."""
        stream = self._settings.stream
        try:
            try:
                self._connection = await RawConnection.open(self._options, within=self._timeout)
                inbox = self._nc.new_inbox()
                await self._connection.subscribe(inbox, within=self._timeout)
            except (OSError, TimeoutError, EOFError) as exc:
                raise unavailable("open a connection to read the log", exc) from exc
            config = self._config(inbox, after)
            self._consumer = config.name or ""
            self.event_frame = _event_frame(f"{_ACK_PREFIX.decode()}{stream}.{self._consumer}.".encode())
            with translated(f"create consumer {self._consumer} on {stream}"):
                info = await self._js.add_consumer(stream, config, timeout=self._timeout)
        except BaseException:
            await self.close()
            raise
        self.lost = None
        return info.num_pending or 0

    async def recover(self, after: int) -> int:
        """Start over after position ``after``; return the new consumer's pending count."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        log.warning("log reader lost; starting over", reason=self.lost, after=after)
        attempt = 0
        while True:
            attempt += 1
            await self.close()
            try:
                pending = await self.start(after)
            except StoreUnavailable:
                if self._nc.is_closed or (not self._persistent and loop.time() - started > self._timeout):
                    raise
                if attempt % 20 == 0:
                    log.warning("log reader still cannot start over; retrying", attempt=attempt)
                await asyncio.sleep(self._settings.recovery_delay)
                continue
            log.info("log reader re-established", attempts=attempt, after=after)
            return pending

    async def receive(self) -> bytes:
        """The next bytes from the server; empty (and ``lost`` set) when the connection is no good."""
        if self._connection is None:
            self.lost = "not connected"
            return b""
        try:
            return await self._connection.read(within=self._stall_after)
        except TimeoutError:
            self.lost = f"no message or heartbeat for {self._stall_after:g}s"
        except (OSError, EOFError) as exc:
            self.lost = f"{type(exc).__name__}: {exc}"
        return b""

    async def other(self, head: bytes, reply: bytes, headers: bytes) -> Delivery | None:
        """Handle a frame that ``event_frame`` does not match.

        ``head`` is the frame's control line up to the sid, ``reply`` the token after it (the
        sid itself when the frame has no reply subject). Returns the delivery metadata of an
        event all the same (one stored without headers, or with a v2 ack subject); handles
        heartbeats, flow control and other statuses.
        """
        has_reply = head.count(b" ") == 2  # "HMSG <subject> <sid>" rather than "HMSG <subject>"
        if has_reply and reply.startswith(_ACK_PREFIX):
            return delivery(reply.decode())
        if not headers:
            return None  # a plain message on the inbox; nothing the consumer sends
        if headers[9:12] != b"100":  # "NATS/1.0 409 Consumer Deleted" and the like
            status = headers.split(b"\r\n", 1)[0][9:].decode(errors="replace")
            self.lost = f"server status {status}"
            return None
        replies = [reply] if has_reply else []  # a reply on a status: a flow-control request
        stalled = headers.find(_STALLED)
        if stalled >= 0:  # a heartbeat saying a flow-control reply has not arrived
            end = headers.find(b"\r\n", stalled)
            replies.append(headers[stalled + len(_STALLED) : end if end >= 0 else None].strip())
        if replies:
            await self._send(b"".join(b"PUB " + subject + b" 0\r\n\r\n" for subject in replies))
        return None

    async def protocol(self, line: bytes) -> bool:
        """Handle a protocol line between messages; False when it means the connection is lost."""
        if line.startswith(b"PING"):
            await self._send(b"PONG\r\n")
        elif line.startswith(b"-ERR"):
            self.lost = f"server error {line[5:].decode(errors='replace')}"
        elif not line.startswith((b"PONG", b"+OK", b"INFO ")):
            self.lost = f"unexpected protocol line {line[:80]!r}"
        return self.lost is None

    async def close(self) -> None:
        """Close the connection and ask the server to delete the consumer (no reply awaited)."""
        connection, self._connection = self._connection, None
        consumer, self._consumer = self._consumer, ""
        if connection is not None:
            await connection.close()
        if consumer and not self._nc.is_closed:
            try:
                await self._nc.publish(f"$JS.API.CONSUMER.DELETE.{self._settings.stream}.{consumer}", b"")
            except (OSError, nats.errors.Error) as exc:
                log.debug("deleting log reader consumer failed", consumer=consumer, error=repr(exc))

    async def _send(self, data: bytes) -> None:
        if self._connection is None:
            return
        try:
            await self._connection.send(data, within=self._timeout)
        except (OSError, TimeoutError) as exc:
            self.lost = f"{type(exc).__name__}: {exc}"

    def _config(self, inbox: str, after: int) -> api.ConsumerConfig:
        config = api.ConsumerConfig(
            name=ephemeral_name(),
            description="metalstream log reader",
            deliver_subject=inbox,
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.NONE,
            filter_subject=self._filter,
            replay_policy=api.ReplayPolicy.INSTANT,
            flow_control=True,
            idle_heartbeat=self._settings.heartbeat,
            inactive_threshold=self._settings.ephemeral_idle,
            mem_storage=True,
            num_replicas=1,
        )
        if after > 0:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = after + 1
        return config
