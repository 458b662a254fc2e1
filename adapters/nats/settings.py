"""Settings of the JetStream event store: names on the wire, timeouts and batch sizes.

Everything that shapes what the store writes (stream and subject names) or how long it waits is
here, in one immutable struct, so the composition root can map its own settings onto it and tests
can isolate themselves with unique prefixes on one server. Every network call the adapter makes is
bounded by one of these timeouts.
"""

from __future__ import annotations

import msgspec


class StoreSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How the JetStream event store names things and how long it waits."""

    stream: str = "METALSTREAM"
    """The stream holding every event."""
    subject_prefix: str = "metalstream"
    """First token of every event subject: ``<prefix>.<aggregate type>.<namespace>.<name>``."""
    dead_letter_stream: str = "METALSTREAM_DLQ"
    """The stream holding copies of events a reader could not handle."""
    dead_letter_prefix: str = "metalstream_dlq"
    """First token of dead-letter subjects: ``<prefix>.<reader>.<original tokens after the prefix>``."""
    replicas: int = 1
    """Stream replicas (1 standalone, 3 on a cluster)."""
    duplicate_window: float = 120.0
    """Seconds the server remembers ``Nats-Msg-Id`` values for publish dedupe."""
    request_timeout: float = 5.0
    """Seconds to wait for any request: an append, one page of a load, a JetStream API call."""
    load_batch: int = 512
    """Messages per Direct Get request when loading one aggregate."""
    pull_batch: int = 2_000
    """Messages per pull request when reading the log or a subscription."""
    pull_expires: float = 30.0
    """Seconds a pull request stays open on the server before it is renewed."""
    heartbeat: float = 5.0
    """Seconds between server heartbeats on an open pull; two missed ones mean the pull is lost."""
    recovery_delay: float = 0.5
    """Seconds between attempts to re-establish a lost pull (a server restart, nats-py #504)."""
    ack_wait: float = 30.0
    """Seconds before a delivered, un-acknowledged subscription event is delivered again."""
    max_ack_pending: int = 1_000
    """Un-acknowledged events a durable subscription may hold before the server pauses it."""
    ephemeral_idle: float = 60.0
    """Seconds after which the server deletes a log reader's consumer that nobody reads from."""
    fast_replay: bool = True
    """Read the log (``read_all``) over a second, minimal connection that parses whole buffers,
    about 2.5 times as fast as through nats-py; off, or when that connection cannot copy the
    client's authentication (see ``adapters.nats.rawconn``), nats-py is used."""
