"""The adapter's error boundary: nats-py exceptions never leave ``adapters.nats``.

Callers of the event store handle exactly two domain errors: ``ConcurrencyConflict`` (reload,
decide again, retry) and ``StoreUnavailable`` (the server could not be reached in time; retrying
the same append is safe because event ids make it idempotent). Everything else the server can
answer is a configuration or programming problem and surfaces as ``NatsStoreError`` with the
server's code and description, chained to the nats-py exception with ``raise ... from``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import nats.errors
import nats.js.errors

from core.errors import StoreUnavailable

WRONG_LAST_SEQUENCE: Final = frozenset({10071, 10164})
""""wrong last sequence": the subject moved on since the expected revision was read."""
DUPLICATE_IN_BATCH: Final = 10201
"""An atomic batch carries a ``Nats-Msg-Id`` the stream has seen in its duplicate window."""
STREAM_NOT_FOUND: Final = 10059
CONSUMER_NOT_FOUND: Final = 10014

_ACTUAL_SEQUENCE: Final = re.compile(r"wrong last sequence: (\d+)")

TRANSPORT_ERRORS: Final = (
    TimeoutError,  # asyncio.timeout() and nats.errors.TimeoutError (a subclass)
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.FlushTimeoutError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    OSError,
)
"""Failures that mean "the server did not answer in time", never "the server said no"."""


class NatsStoreError(Exception):
    """Root of the JetStream adapter's own errors (not a conflict, not an outage)."""


class StreamMisconfigured(NatsStoreError):
    """An existing stream has settings the store cannot work with and cannot change."""


class JetStreamRejected(NatsStoreError):
    """The server refused a request for a reason other than a concurrency conflict."""

    def __init__(self, what: str, *, code: int, err_code: int, description: str) -> None:
        self.code = code
        self.err_code = err_code
        self.description = description
        super().__init__(f"{what}: JetStream error {code}/{err_code}: {description}")


def actual_sequence(description: str) -> int | None:
    """The subject's current last sequence quoted in a "wrong last sequence: N" error, if any."""
    match = _ACTUAL_SEQUENCE.search(description)
    return int(match.group(1)) if match else None


def unavailable(what: str, exc: BaseException) -> StoreUnavailable:
    """A ``StoreUnavailable`` that says what was attempted and how it failed."""
    detail = str(exc) or type(exc).__name__
    return StoreUnavailable(f"{what}: NATS did not answer in time ({type(exc).__name__}: {detail})")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Map nats-py and timeout errors raised inside the block to the adapter's error tree."""
    try:
        yield
    except TRANSPORT_ERRORS as exc:
        raise unavailable(what, exc) from exc
    except nats.js.errors.APIError as exc:
        raise JetStreamRejected(
            what, code=exc.code or 0, err_code=exc.err_code or 0, description=exc.description or ""
        ) from exc
    except nats.errors.Error as exc:
        raise NatsStoreError(f"{what}: {type(exc).__name__}: {exc}") from exc
