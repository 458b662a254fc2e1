"""The message format: one document per event, two headers, and garbage never crashes a reader."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client
from nats.js import api

from adapters.nats import wire
from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from adapters.nats.subjects import SubjectLayout
from core.events.base import NewEvent, RecordedEvent, UndecodableEvent, UnknownEvent
from core.ids import AggregateKey
from core.ports import NEW
from tests.adapters.nats.conftest import SETTINGS
from tests.contracts.events import CODECS, OCCURRED, WidgetCreated, WidgetIncremented, new, widget
from tests.contracts.eventstore import collect, iterating

ENVELOPE = {
    "eventId": "evt-1",
    "aggregateType": "widget",
    "aggregateId": "default/a",
    "version": 1,
    "eventType": "widget.created",
    "schemaVersion": 1,
    "occurredAt": "2026-11-23T21:17:29.784848Z",
    "actor": "test",
    "correlationId": "corr",
}
PAYLOAD = b'{"type":"widget.created","name":"a"}'
SUBJECT = "metalstream.widget.default.a"
DECODER = wire.RecordDecoder(CODECS, SubjectLayout(StoreSettings()))


def document(envelope: dict[str, Any], payload: bytes = PAYLOAD) -> bytes:
    return b'{"envelope":' + msgspec.json.encode(envelope) + b',"event":' + payload + b"}"


def test_a_document_decodes_to_the_envelope_and_the_event() -> None:
    record = DECODER.decode(SUBJECT, 7, document({**ENVELOPE, "causationId": "cmd-1", "newField": 1}))
    assert record.event == WidgetCreated(name="a")
    envelope = record.envelope
    assert (envelope.event_id, envelope.position, envelope.version) == ("evt-1", 7, 1)
    assert (envelope.aggregate_type, envelope.aggregate_id) == ("widget", "default/a")
    assert (envelope.event_type, envelope.schema_version) == ("widget.created", 1)
    assert envelope.occurred_at == datetime(2026, 11, 23, 21, 17, 29, 784848, tzinfo=UTC)
    assert (envelope.actor, envelope.correlation_id, envelope.causation_id) == ("test", "corr", "cmd-1")


def test_times_are_kept_in_utc() -> None:
    record = DECODER.decode(SUBJECT, 1, document({**ENVELOPE, "occurredAt": "2026-11-23T23:17:29+02:00"}))
    assert record.envelope.occurred_at == datetime(2026, 11, 23, 21, 17, 29, tzinfo=UTC)
    assert record.envelope.occurred_at.tzinfo is UTC
    moment = datetime(2026, 11, 23, 23, 17, 29, tzinfo=timezone(timedelta(hours=2)))
    assert wire.utc(moment) == moment
    assert wire.utc(moment).tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        wire.utc(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"version": None}, "missing required field `version`", id="missing"),
        pytest.param({"version": "two"}, "Expected `int`, got `str` - at `$.envelope.version`", id="text"),
        pytest.param({"schemaVersion": -1}, ">= 0 - at `$.envelope.schemaVersion`", id="negative"),
        pytest.param({"occurredAt": "yesterday"}, "datetime - at `$.envelope.occurredAt`", id="bad-time"),
        pytest.param({"occurredAt": "2026-01-01T00:00:00"}, "timezone component", id="no-offset"),
        pytest.param({"eventId": 5}, "Expected `str`, got `int` - at `$.envelope.eventId`", id="wrong-type"),
    ],
)
def test_a_garbled_envelope_makes_an_undecodable_event_with_the_reason(
    change: dict[str, Any], reason: str
) -> None:
    garbled = {key: value for key, value in {**ENVELOPE, **change}.items() if value is not None}
    data = document(garbled)
    record = DECODER.decode(SUBJECT, 7, data)
    assert isinstance(record.event, UndecodableEvent)
    assert reason in record.event.reason
    assert record.event.data == data
    envelope = record.envelope
    assert (envelope.position, envelope.aggregate_type, envelope.aggregate_id) == (7, "widget", "default/a")
    assert envelope.event_type == "widget.created"
    assert envelope.event_id == ("evt-1" if "eventId" not in change else "")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"junk", id="not-json"),
        pytest.param(b"", id="empty"),
        pytest.param(PAYLOAD, id="a-bare-payload"),
        pytest.param(b'{"envelope":[],"event":{}}', id="envelope-not-an-object"),
    ],
)
def test_a_body_that_is_no_document_is_placed_by_its_subject(data: bytes) -> None:
    record = DECODER.decode("metalstream.widget.default.b%2Ec", 9, data)
    assert isinstance(record.event, UndecodableEvent)
    assert record.event.reason.startswith("bad message body: ")
    assert record.event.data == data
    assert (record.envelope.aggregate_type, record.envelope.aggregate_id) == ("widget", "default/b.c")
    assert (record.envelope.position, record.envelope.event_id) == (9, "")


def test_an_unknown_aggregate_type_keeps_the_payload_bytes() -> None:
    payload = b'{"type": "sprocket.made", "teeth": 12}'
    data = document({**ENVELOPE, "aggregateType": "sprocket", "eventType": "sprocket.made"}, payload)
    record = DECODER.decode("metalstream.sprocket.default.s", 3, data)
    assert record.event == UnknownEvent(type="sprocket.made", data=payload)


def test_headers_keyed_by_nats_py_enum_members_are_found() -> None:
    headers: dict[Any, str] = {api.Header.MSG_ID: "evt-1", "Other": "x"}
    assert wire.header(headers, wire.MSG_ID) == "evt-1"
    assert wire.header(headers, "Other") == "x"
    assert wire.header(None, wire.MSG_ID) is None
    assert wire.plain_keys(headers) == {"Nats-Msg-Id": "evt-1", "Other": "x"}


async def stored_message(nc: Client, position: int) -> tuple[dict[str, str], Any]:
    """The headers the server stored (its own Nats-Stream & co. left out) and the decoded body."""
    message = await nc.jetstream().get_msg(SETTINGS.stream, position)
    headers = {
        key: value
        for key, value in wire.plain_keys(message.headers or {}).items()
        if key not in {"Nats-Stream", "Nats-Subject", "Nats-Sequence", "Nats-Time-Stamp"}
    }
    assert message.data is not None
    return headers, msgspec.json.decode(message.data)


async def test_an_event_is_stored_as_one_document_with_only_the_headers_the_server_needs(
    jetstream_store: JetStreamEventStore, nc: Client
) -> None:
    created = new(WidgetCreated(name="w"), causation_id="cmd-7")
    revision = await jetstream_store.append(widget("w"), [created], expected=NEW)
    headers, body = await stored_message(nc, revision.position)
    assert headers == {
        "Nats-Msg-Id": created.meta.event_id,
        "Nats-Expected-Last-Subject-Sequence": "0",
    }
    assert body == {
        "envelope": {
            "eventId": created.meta.event_id,
            "aggregateType": "widget",
            "aggregateId": "default/w",
            "version": 1,
            "eventType": "widget.created",
            "schemaVersion": 1,
            "occurredAt": "2026-11-23T21:17:29.784848Z",
            "actor": "test:contract",
            "correlationId": created.meta.correlation_id,
            "causationId": "cmd-7",
        },
        "event": {"type": "widget.created", "name": "w"},
    }


async def test_a_batch_stores_one_document_per_event_with_the_batch_headers(
    jetstream_store: JetStreamEventStore, nc: Client
) -> None:
    events = [new(WidgetCreated(name="w")), new(WidgetIncremented(by=2)), new(WidgetIncremented())]
    revision = await jetstream_store.append(widget("w"), events, expected=NEW)
    stored = [await stored_message(nc, revision.position - 2 + i) for i in range(3)]
    batch_id = stored[0][0]["Nats-Batch-Id"]
    assert [headers for headers, _ in stored] == [
        {
            "Nats-Msg-Id": events[0].meta.event_id,
            "Nats-Expected-Last-Subject-Sequence": "0",
            "Nats-Batch-Id": batch_id,
            "Nats-Batch-Sequence": "1",
        },
        {"Nats-Msg-Id": events[1].meta.event_id, "Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": "2"},
        {
            "Nats-Msg-Id": events[2].meta.event_id,
            "Nats-Batch-Id": batch_id,
            "Nats-Batch-Sequence": "3",
            "Nats-Batch-Commit": "1",
        },
    ]
    assert [body["envelope"]["version"] for _, body in stored] == [1, 2, 3]
    assert [body["event"] for _, body in stored] == [
        {"type": "widget.created", "name": "w"},
        {"type": "widget.incremented", "by": 2},
        {"type": "widget.incremented", "by": 1},
    ]
    assert "causationId" not in stored[0][1]["envelope"]


async def test_any_text_travels_in_the_envelope_but_the_event_id_must_fit_a_header(
    jetstream_store: JetStreamEventStore,
) -> None:
    key = widget("w")
    event = new(WidgetCreated(name="w"))
    meta = msgspec.structs.replace(event.meta, actor=" k8s:line\nbreak ", correlation_id="ü\t\0")
    revision = await jetstream_store.append(key, [NewEvent(event=event.event, meta=meta)], expected=NEW)
    (record,) = (await jetstream_store.load(key)).events
    assert (record.envelope.actor, record.envelope.correlation_id) == (" k8s:line\nbreak ", "ü\t\0")
    assert record.envelope.occurred_at == OCCURRED
    with pytest.raises(ValueError, match="event id"):
        await jetstream_store.append(key, [new(WidgetIncremented(), event_id="evt\n1")], expected=revision)
    naive = msgspec.structs.replace(meta, event_id="e2", occurred_at=datetime(2026, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        await jetstream_store.append(
            key, [NewEvent(event=WidgetIncremented(), meta=naive)], expected=revision
        )


async def every_read_path(
    store: JetStreamEventStore, nc: Client, key: AggregateKey
) -> AsyncIterator[RecordedEvent]:
    """The event(s) of ``key`` as load, both log readers and a subscription return them."""
    for record in (await store.load(key)).events:
        yield record
    for record in await collect(store.read_all()):
        yield record
    slow = JetStreamEventStore(nc, CODECS, settings=msgspec.structs.replace(SETTINGS, fast_replay=False))
    for record in await collect(slow.read_all()):
        yield record
    async with store.subscribe("garbage") as subscription, iterating(subscription) as records:
        yield await anext(records)


async def test_stored_garbage_comes_back_undecodable_from_every_read_path(
    jetstream_store: JetStreamEventStore, nc: Client
) -> None:
    key = widget("a")
    garbled = document({key: value for key, value in ENVELOPE.items() if key != "occurredAt"})
    ack = await nc.jetstream().publish(jetstream_store.layout.aggregate(key), garbled)
    records = [record async for record in every_read_path(jetstream_store, nc, key)]
    assert len(records) == 4
    for record in records:
        assert isinstance(record.event, UndecodableEvent)
        assert "missing required field `occurredAt`" in record.event.reason
        assert record.event.data == garbled
        assert (record.envelope.position, record.envelope.event_id) == (ack.seq, "evt-1")
        assert record.envelope.aggregate_id == "default/a"


async def test_a_dead_letter_is_the_stored_document_with_who_and_why(
    jetstream_store: JetStreamEventStore, nc: Client
) -> None:
    created = new(WidgetCreated(name="w"))
    revision = await jetstream_store.append(widget("w"), [created], expected=NEW)
    (record,) = (await jetstream_store.load(widget("w"))).events
    await jetstream_store.dead_letter(record, reader="exporter", reason="target refused it")
    (letter,) = await jetstream_store.dead_letters(reader="exporter")
    stored = await nc.jetstream().get_msg(SETTINGS.stream, revision.position)
    assert letter.data == stored.data
    assert (letter.event_id, letter.event_type) == (created.meta.event_id, "widget.created")
    assert (letter.original_position, letter.original_subject) == (
        revision.position,
        "metalstream.widget.default.w",
    )
    assert letter.headers == {
        "Metalstream-Dead-Letter-Reason": "target refused it",
        "Metalstream-Dead-Letter-Reader": "exporter",
        "Metalstream-Original-Position": str(revision.position),
        "Metalstream-Original-Subject": "metalstream.widget.default.w",
        "Metalstream-Original-Event-Id": created.meta.event_id,
    }
