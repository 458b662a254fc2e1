"""Building the real collaborators from settings: the NATS connection and the event store.

Only the composition root knows which adapter implements which port; everything else receives
ready objects. Connections opened here are closed here, with a bounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import nats.errors
from nats.aio.client import Client

from adapters.nats import connecting
from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from core.events.base import RecordedEvent
from core.ids import AggregateKey
from metalstream import registry, settings

CLOSE_TIMEOUT = 5.0


def store_settings(config: settings.Settings) -> StoreSettings:
    """The event store's settings from the process settings."""
    return StoreSettings(
        stream=config.nats.stream,
        subject_prefix=config.nats.subject_prefix,
        request_timeout=config.nats.request_timeout,
    )


@contextlib.asynccontextmanager
async def nats_connection(config: settings.Settings) -> AsyncIterator[Client]:
    """A connected NATS client, closed (bounded) on exit."""
    client = await connecting.connect(
        config.nats.urls,
        credentials_file=config.nats.credentials_file,
        nkey_seed_file=config.nats.nkey_seed_file,
        tls_ca_file=config.nats.tls_ca_file,
        tls_cert_file=config.nats.tls_cert_file,
        tls_key_file=config.nats.tls_key_file,
        connect_timeout=config.nats.connect_timeout,
    )
    try:
        yield client
    finally:
        with contextlib.suppress(TimeoutError, nats.errors.Error, OSError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await client.close()


@contextlib.asynccontextmanager
async def event_store(config: settings.Settings) -> AsyncIterator[JetStreamEventStore]:
    """The JetStream event store for ``config``, its streams ensured."""
    async with (
        nats_connection(config) as client,
        JetStreamEventStore(client, registry.CODECS, settings=store_settings(config)) as store,
    ):
        yield store


async def load_history(
    store: JetStreamEventStore, aggregate_type: str, object_id: str
) -> list[RecordedEvent]:
    """Every event of one object, oldest first."""
    history = await store.load(AggregateKey(type=aggregate_type, id=object_id))
    return history.events


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, a final ``>`` is one or more tokens."""
    wanted, actual = pattern.split("."), subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return len(actual) > index
        if index >= len(actual) or (part not in ("*", actual[index])):
            return False
    return len(actual) == len(wanted)


def _selector(store: JetStreamEventStore, text: str | None) -> tuple[str | None, Any]:
    """Turn a ``events tail`` filter into a server-side type filter and a client-side test."""
    if not text:
        return None, lambda _record: True
    if "." in text:
        tokens = text.split(".")
        kind = tokens[1] if len(tokens) > 1 and tokens[1] not in ("*", ">") else None

        def by_subject(record: RecordedEvent) -> bool:
            env = record.envelope
            subject = store.layout.aggregate(AggregateKey(type=env.aggregate_type, id=env.aggregate_id))
            return subject_matches(text, subject)

        return kind, by_subject
    kind, sep, object_id = text.partition(":")
    if sep:
        return kind, lambda record: record.envelope.aggregate_id == object_id
    return text, lambda _record: True


async def follow(
    store: JetStreamEventStore, text: str | None, *, after_position: int
) -> AsyncIterator[RecordedEvent]:
    """New events matching a filter (subject pattern, aggregate type, or ``type:ns/name``), forever."""
    kind, keep = _selector(store, text)
    async for record in store.read_all(after_position=after_position, aggregate_type=kind, follow=True):
        if keep(record):
            yield record
