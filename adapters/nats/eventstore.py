"""``core.ports.EventStore`` on NATS JetStream: one stream, one subject per aggregate.

This module wires the pieces together and owns their lifecycle; each concern lives in its own
module: subject names (``subjects``), the message format, one JSON document per event with its
envelope (``wire``), stream settings (``streams``), appends with concurrency control and
idempotent retry (``appending``), aggregate loads by Direct Get (``directget``), reading the whole
log fast (``replay`` over ``rawconn``), pull consumers that survive restarts (``pulling``),
durable subscriptions (``subscriptions``) and the dead-letter log (``deadletters``).

Reading the whole log (``read_all``) uses an ephemeral consumer with ``ack_policy none`` (no ack
traffic at all). Normally it is a push consumer read over a second, minimal connection that
parses whole buffers (``replay``): on the 2-core dev machine that replays about 2.5 times as
many events per second as a raw nats-py consumer that only counts them (168k against 66k events/s
on a quiet machine, ``python -m bench.eventstore --only replay``). When that connection cannot be
opened like the client's (credentials files, nkeys, WebSocket: see ``rawconn``) or
``StoreSettings.fast_replay`` is off, it is a pull consumer read through nats-py (``pulling``),
at about the raw nats-py rate.

Without ``follow`` a read ends at the last position present when it was called, so a catch-up
read always terminates even under constant appends. Every call to the server is bounded by
``StoreSettings.request_timeout``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Self

from nats.aio.client import Client
from nats.js import api

from adapters.nats.appending import Appender
from adapters.nats.deadletters import DeadLetter, DeadLetterLog
from adapters.nats.directget import DirectReader
from adapters.nats.errors import translated
from adapters.nats.inbox import ReplyInbox
from adapters.nats.pulling import PullStream, ephemeral_name
from adapters.nats.rawconn import ConnectOptions
from adapters.nats.replay import LogReplay
from adapters.nats.replies import delivery
from adapters.nats.settings import StoreSettings
from adapters.nats.streams import dead_letter_stream_config, ensure_stream, event_stream_config
from adapters.nats.subjects import SubjectLayout
from adapters.nats.subscriptions import DurableSubscription, consumer_config
from adapters.nats.wire import RecordDecoder
from core.events.base import NewEvent, RecordedEvent
from core.events.codec import EventCodec
from core.ids import AggregateKey
from core.ports import NEW, AggregateHistory, Revision


class JetStreamEventStore:
    """The event store of metalstream, on a connected nats-py client.

    Use ``await JetStreamEventStore.connect(nc, codecs)`` (or ``async with``), which makes sure
    the streams exist with the right settings before the first call. ``close()`` releases the
    store's subscriptions; the connection stays open and belongs to the caller.
    """

    def __init__(
        self, nc: Client, codecs: Mapping[str, EventCodec], *, settings: StoreSettings | None = None
    ) -> None:
        self.settings = settings or StoreSettings()
        self._nc = nc
        self._js = nc.jetstream(timeout=self.settings.request_timeout)
        self.layout = SubjectLayout(self.settings)
        self._decoder = RecordDecoder(codecs, self.layout)
        self._inbox = ReplyInbox(nc, timeout=self.settings.request_timeout)
        timeout = self.settings.request_timeout
        self._events = DirectReader(
            nc, self._inbox, stream=self.settings.stream, timeout=timeout, batch=self.settings.load_batch
        )
        self._appender = Appender(nc, self._inbox, self._events, self.layout, codecs)
        self._dead_letters = DeadLetterLog(
            nc,
            events=self._events,
            dead_letters=DirectReader(
                nc,
                self._inbox,
                stream=self.settings.dead_letter_stream,
                timeout=timeout,
                batch=self.settings.load_batch,
            ),
            layout=self.layout,
            timeout=timeout,
        )

    @classmethod
    async def connect(
        cls, nc: Client, codecs: Mapping[str, EventCodec], *, settings: StoreSettings | None = None
    ) -> JetStreamEventStore:
        """A store whose streams are known to exist with compatible settings."""
        store = cls(nc, codecs, settings=settings)
        await store.start()
        return store

    async def start(self) -> None:
        """Ensure both streams and open the reply inbox."""
        await ensure_stream(self._js, event_stream_config(self.settings))
        await ensure_stream(self._js, dead_letter_stream_config(self.settings))
        with translated("subscribe the reply inbox"):
            await self._inbox.start()

    async def close(self) -> None:
        """Release the store's subscriptions (the connection is left open)."""
        await self._inbox.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def append(self, key: AggregateKey, events: Sequence[NewEvent], *, expected: Revision) -> Revision:
        """Append atomically if the aggregate is still at ``expected``; see ``appending``."""
        return await self._appender.append(key, events, expected=expected)

    async def load(
        self, key: AggregateKey, *, up_to_position: int | None = None, after: Revision | None = None
    ) -> AggregateHistory:
        """One aggregate's events (at or before ``up_to_position``, after ``after``), by batched Direct Get.

        Direct Get with ``next_by_subj`` starts at a stream sequence, so reading after a revision
        costs only the events since, found through the server's subject index.
        """
        since = after or NEW
        stored = await self._events.read(
            self.layout.aggregate(key), after=since.position, up_to=up_to_position
        )
        decode = self._decoder.decode
        events = [decode(m.subject, m.sequence, m.data) for m in stored]
        position = stored[-1].sequence if stored else since.position
        revision = Revision(version=since.version + len(events), position=position)
        return AggregateHistory(events=events, revision=revision)

    def read_all(
        self, *, after_position: int = 0, aggregate_type: str | None = None, follow: bool = False
    ) -> AsyncIterator[RecordedEvent]:
        """The log in order after ``after_position``, optionally one aggregate type only.

        Without ``follow`` it ends at the last position stored when it was called; with
        ``follow`` it waits for new events forever (close it with ``contextlib.aclosing`` or by
        cancelling the task that iterates it).
        """
        options = ConnectOptions.of(self._nc) if self.settings.fast_replay else None
        if options is None:
            return self._read_pulled(after_position, aggregate_type, follow=follow)
        replay = LogReplay(self._nc, self._js, self.settings, self._decoder, options)
        return replay.read(
            after=after_position,
            filter_subject=self.layout.aggregate_type(aggregate_type),
            follow=follow,
            last_position=self.last_position,
        )

    async def _read_pulled(
        self, after_position: int, aggregate_type: str | None, *, follow: bool
    ) -> AsyncIterator[RecordedEvent]:
        end = None
        if not follow:
            end = await self.last_position()
            if end <= after_position:
                return
        pull = PullStream(
            self._nc,
            self._js,
            self.settings,
            config=self._reader_config(after_position, aggregate_type),
            durable=False,
            persistent=follow,
        )
        try:
            pending = await pull.open()
            if end is not None and pending == 0:
                return
            decode = self._decoder.decode
            while True:
                for msg in await pull.next_batch():
                    meta = delivery(msg.reply)
                    if meta is None or meta.stream_sequence <= pull.resume_after:
                        continue  # not an event, or a late copy from before a recovery
                    position = meta.stream_sequence
                    if end is not None and position > end:
                        return
                    pull.resume_after = position
                    yield decode(msg.subject, position, msg.data)
                    if end is not None and (position >= end or meta.pending == 0):
                        return
        finally:
            await pull.close()

    def subscribe(self, name: str, *, aggregate_type: str | None = None) -> DurableSubscription:
        """The durable subscription ``name`` (created on first use); enter it with ``async with``."""
        config = consumer_config(name, self.layout.aggregate_type(aggregate_type), self.settings)
        return DurableSubscription(self._nc, self._js, self._decoder, self.settings, config=config)

    async def dead_letter(self, record: RecordedEvent, *, reader: str, reason: str) -> None:
        """Copy ``record`` as stored to the dead-letter stream, with ``reader`` and ``reason``."""
        await self._dead_letters.add(record, reader=reader, reason=reason)

    async def dead_letters(self, *, reader: str | None = None) -> list[DeadLetter]:
        """The dead-letter log, oldest first (for operators and tests; not part of the port)."""
        return await self._dead_letters.read(reader=reader)

    async def last_position(self) -> int:
        """The sequence of the newest event, 0 for an empty stream."""
        with translated(f"read the state of stream {self.settings.stream}"):
            info = await self._js.stream_info(self.settings.stream)
        return info.state.last_seq

    def _reader_config(self, after_position: int, aggregate_type: str | None) -> api.ConsumerConfig:
        config = api.ConsumerConfig(
            name=ephemeral_name(),
            description="metalstream log reader",
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.NONE,
            filter_subject=self.layout.aggregate_type(aggregate_type),
            replay_policy=api.ReplayPolicy.INSTANT,
            inactive_threshold=self.settings.ephemeral_idle,
            mem_storage=True,
            num_replicas=1,
        )
        if after_position > 0:
            config.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = after_position + 1
        return config
