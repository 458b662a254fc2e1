"""Durable subscriptions: a named JetStream consumer is the reader's checkpoint.

Each subscription is a durable pull consumer with explicit acks, delivering the whole log (or one
aggregate type) from the start. ``ack`` tells the server an event is handled. Opening a
subscription rewinds the consumer to its ack floor (``$JS.API.CONSUMER.RESET``, server 2.14+), so
whoever opens it next, after a clean exit or a crash, gets the first unhandled event first and
then the rest in log order, without waiting for ``ack_wait``. (Giving events back with ``-NAK``
instead would have them redelivered out of order, and in-order readers skip what looks old.)
While a subscription is open, an event that stays un-acked for ``ack_wait`` is delivered again.
A subscription is meant for one reader at a time: opening it rewinds it for everybody.

Acks are sent without waiting for confirmation: an ack lost in a crash only means the event is
delivered again, and readers are idempotent by position anyway. Reading goes through
``PullStream``, which re-establishes the pull after a server restart (nats-py issue #504).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Final, Self

from nats.aio.client import Client
from nats.js import api
from nats.js.client import JetStreamContext

from adapters.nats.errors import translated
from adapters.nats.pulling import PullStream
from adapters.nats.replies import delivery
from adapters.nats.settings import StoreSettings
from adapters.nats.wire import RecordDecoder
from core.events.base import RecordedEvent

_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_ACK: Final = b"+ACK"


def consumer_config(name: str, filter_subject: str, settings: StoreSettings) -> api.ConsumerConfig:
    """The durable consumer behind subscription ``name``."""
    if not _NAME.match(name):
        msg = f"subscription name {name!r}: use 1-200 letters, digits, '_' or '-'"
        raise ValueError(msg)
    return api.ConsumerConfig(
        name=name,
        durable_name=name,
        description="metalstream subscription",
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait,
        max_deliver=-1,
        max_ack_pending=settings.max_ack_pending,
        filter_subject=filter_subject,
        replay_policy=api.ReplayPolicy.INSTANT,
    )


class DurableSubscription:
    """``core.ports.Subscription`` on a durable pull consumer; use it as an async context manager."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        decoder: RecordDecoder,
        settings: StoreSettings,
        *,
        config: api.ConsumerConfig,
    ) -> None:
        self._nc = nc
        self._decoder = decoder
        self._timeout = settings.request_timeout
        self._pull = PullStream(
            nc,
            js,
            settings,
            config=config,
            durable=True,
            persistent=True,
            batch=max(1, min(settings.pull_batch, settings.max_ack_pending // 2)),
        )
        self._unacked: dict[int, str] = {}

    async def __aenter__(self) -> Self:
        await self._pull.open(rewind=True)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._unacked.clear()
        await self._pull.close()

    async def __aiter__(self) -> AsyncIterator[RecordedEvent]:
        decode = self._decoder.decode
        unacked = self._unacked
        while True:
            batch = []
            for msg in await self._pull.next_batch():
                meta = delivery(msg.reply)
                if meta is not None:
                    # Registered before any is yielded, so leaving mid-batch gives all of them back.
                    unacked[meta.stream_sequence] = msg.reply
                    batch.append((meta.stream_sequence, msg))
            for position, msg in batch:
                self._pull.resume_after = position
                yield decode(msg.subject, position, msg.data)

    async def ack(self, record: RecordedEvent) -> None:
        """Mark ``record`` handled; acking it again, or an event not delivered here, does nothing."""
        reply = self._unacked.pop(record.envelope.position, None)
        if reply is not None:
            with translated(f"ack position {record.envelope.position}"):
                await self._nc.publish(reply, _ACK)

    async def pending(self) -> int:
        """Events stored after the last one the server delivered to this subscription."""
        info = await self._pull.info()
        return info.num_pending or 0
