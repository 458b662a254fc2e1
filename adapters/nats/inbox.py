"""One wildcard inbox for the store's requests: single replies (appends) and multi-message ones.

nats-py's ``request`` resolves on the first reply only, and a fresh subscription per request
costs a SUB/UNSUB pair each time. So the store keeps one ``<inbox>.*`` subscription and routes
each reply to the request whose token ends its subject. Replies for a request nobody waits for
any more (it timed out) are dropped.

Appends go through ``request`` here rather than nats-py's: it arms one timer per request instead
of ``asyncio.wait_for``'s waiter and timer, and uses a counter instead of random bytes for the
token. With 256 appends in flight on the 2-core dev machine that cut the CPU per append by about
a fifth, which is most of what separates the store from raw ``publish_async`` (bench section a).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Final

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

_NO_RESPONDERS: Final = "503"


class ReplyQueue:
    """The replies to one request, collected until the one that ends the answer.

    The waiting coroutine is woken once per answer, not once per message: a load of a long
    history costs one event-loop round trip instead of one per event.
    """

    __slots__ = ("_ended", "_is_last", "messages", "subject")

    def __init__(self, subject: str, is_last: Callable[[Msg], bool]) -> None:
        self.subject = subject
        """The reply subject to send with the request."""
        self.messages: list[Msg] = []
        """Every reply so far, the last one included."""
        self._is_last = is_last
        self._ended = asyncio.Event()

    def put(self, msg: Msg) -> None:
        self.messages.append(msg)
        if self._is_last(msg):
            self._ended.set()

    async def wait(self) -> list[Msg]:
        """All replies, once the last one arrived (bound the wait with ``asyncio.timeout``)."""
        await self._ended.wait()
        return self.messages


class ReplyInbox:
    """Routes replies arriving on ``<inbox>.<token>`` to the ``ReplyQueue`` of that token."""

    def __init__(self, nc: Client, *, timeout: float) -> None:
        self._nc = nc
        self.timeout = timeout
        """Seconds ``request`` waits for a reply."""
        self._prefix = nc.new_inbox()
        self._queues: dict[str, ReplyQueue] = {}
        self._waiting: dict[str, asyncio.Future[Msg]] = {}
        self._sub: Subscription | None = None
        self._next = 0

    async def start(self) -> None:
        """Subscribe to the wildcard inbox (idempotent)."""
        if self._sub is None:
            self._sub = await self._nc.subscribe(f"{self._prefix}.*", cb=self._route)

    async def close(self) -> None:
        """Stop routing replies; pending requests will time out."""
        sub, self._sub = self._sub, None
        self._queues.clear()
        for waiting in self._waiting.values():
            if not waiting.done():
                waiting.set_exception(nats.errors.ConnectionClosedError())
        self._waiting.clear()
        if sub is not None and not self._nc.is_closed:
            await sub.unsubscribe()

    async def request(self, subject: str, payload: bytes, headers: dict[str, str] | None = None) -> Msg:
        """Publish with a reply subject and return the one reply; ``TimeoutError`` after the timeout."""
        if self._sub is None:
            raise nats.errors.ConnectionClosedError
        self._next += 1
        token = str(self._next)
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Msg] = loop.create_future()
        self._waiting[token] = reply
        timer = loop.call_later(self.timeout, _expire, reply)
        try:
            await self._nc.publish(subject, payload, reply=f"{self._prefix}.{token}", headers=headers)
            msg = await reply
        finally:
            timer.cancel()
            self._waiting.pop(token, None)
        if not msg.data and msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            raise nats.errors.NoRespondersError
        return msg

    def open(self, is_last: Callable[[Msg], bool]) -> _Opened:
        """A reply queue for one request, registered while the ``with`` block runs.

        ``is_last`` tells the message that ends the answer.
        """
        self._next += 1
        token = str(self._next)
        queue = ReplyQueue(f"{self._prefix}.{token}", is_last)
        return _Opened(self._queues, token, queue)

    async def _route(self, msg: Msg) -> None:
        token = msg.subject[len(self._prefix) + 1 :]
        waiting = self._waiting.pop(token, None)
        if waiting is not None:
            if not waiting.done():
                waiting.set_result(msg)
            return
        queue = self._queues.get(token)
        if queue is not None:
            queue.put(msg)


def _expire(reply: asyncio.Future[Msg]) -> None:
    if not reply.done():
        reply.set_exception(TimeoutError("no reply in time"))


class _Opened:
    __slots__ = ("_queue", "_queues", "_token")

    def __init__(self, queues: dict[str, ReplyQueue], token: str, queue: ReplyQueue) -> None:
        self._queues = queues
        self._token = token
        self._queue = queue

    def __enter__(self) -> ReplyQueue:
        self._queues[self._token] = self._queue
        return self._queue

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._queues.pop(self._token, None)
