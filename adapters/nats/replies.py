"""Wire shapes of what JetStream sends back: publish acks and delivery metadata.

Acks are decoded with one reusable msgspec decoder instead of nats-py's ``json.loads`` plus
dataclass conversion, and delivery metadata is cut out of the ``$JS.ACK`` reply subject by hand;
both run once per message on the hot append and replay paths.
"""

from __future__ import annotations

from typing import Final, NamedTuple

import msgspec

from adapters.nats.errors import JetStreamRejected, NatsStoreError


class ApiError(msgspec.Struct, frozen=True):
    """The ``error`` object of a JetStream API reply."""

    code: int = 0
    err_code: int = 0
    description: str = ""


class PubAck(msgspec.Struct, frozen=True):
    """A publish acknowledgement (also the final ack of an atomic batch), or an error."""

    stream: str = ""
    seq: int = 0
    duplicate: bool = False
    batch: str | None = None
    count: int | None = None
    error: ApiError | None = None


_PUB_ACK: Final = msgspec.json.Decoder(PubAck)


def decode_ack(data: bytes, *, what: str) -> PubAck:
    """Decode a publish reply; an unreadable one is a ``NatsStoreError``."""
    try:
        return _PUB_ACK.decode(data)
    except msgspec.DecodeError as exc:
        msg = f"{what}: unreadable reply from JetStream: {data[:200]!r}"
        raise NatsStoreError(msg) from exc


def rejected(what: str, error: ApiError) -> JetStreamRejected:
    """The adapter error for an API error other than a conflict."""
    return JetStreamRejected(what, code=error.code, err_code=error.err_code, description=error.description)


class Delivery(NamedTuple):
    """What a consumer's ``$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`` says."""

    stream_sequence: int
    delivered: int
    pending: int


_V1_TOKENS: Final = 9
_V2_MIN_TOKENS: Final = 11


def delivery(reply: str) -> Delivery | None:
    """Parse a consumer message's reply subject; None when it is not a JetStream ack subject."""
    if not reply.startswith("$JS.ACK."):
        return None
    tokens = reply.split(".")
    try:
        if len(tokens) == _V1_TOKENS:
            return Delivery(int(tokens[5]), int(tokens[4]), int(tokens[8]))
        if len(tokens) >= _V2_MIN_TOKENS:  # $JS.ACK.<domain>.<account hash>.<stream>...
            return Delivery(int(tokens[7]), int(tokens[6]), int(tokens[10]))
    except ValueError:
        return None
    return None
