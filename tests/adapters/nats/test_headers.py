"""The envelope in headers: garbage never crashes a reader, and nats-py's enum keys are tolerated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client
from nats.js import api

from adapters.nats import headers as hdr
from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.headers import RecordDecoder, format_time, parse_time
from adapters.nats.settings import StoreSettings
from adapters.nats.subjects import SubjectLayout
from core.events.base import UndecodableEvent
from tests.contracts.events import CODECS, WidgetCreated, new, widget

GOOD = {
    hdr.MSG_ID: "evt-1",
    hdr.EVENT_TYPE: "widget.created",
    hdr.SCHEMA_VERSION: "1",
    hdr.AGGREGATE_TYPE: "widget",
    hdr.AGGREGATE_ID: "default/a",
    hdr.VERSION: "1",
    hdr.OCCURRED_AT: "2026-11-23T21:17:29.784848Z",
    hdr.ACTOR: "test",
    hdr.CORRELATION_ID: "corr",
}
PAYLOAD = b'{"type":"widget.created","name":"a"}'
DECODER = RecordDecoder(CODECS, SubjectLayout(StoreSettings()))


def test_times_are_written_as_rfc3339_utc_and_read_back() -> None:
    moment = datetime(2026, 11, 23, 23, 17, 29, 784848, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(moment) == "2026-11-23T21:17:29.784848Z"
    assert parse_time(format_time(moment)) == moment
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_headers_keyed_by_nats_py_enum_members_are_read() -> None:
    headers: dict[Any, str] = dict(GOOD)
    headers[api.Header.MSG_ID] = headers.pop(hdr.MSG_ID)
    record = DECODER.decode("metalstream.widget.default.a", 7, PAYLOAD, headers)
    assert record.event == WidgetCreated(name="a")
    assert record.envelope.event_id == "evt-1"
    assert record.envelope.occurred_at == datetime(2026, 11, 23, 21, 17, 29, 784848, tzinfo=UTC)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({hdr.VERSION: None}, "missing header Metalstream-Version", id="missing"),
        pytest.param({hdr.VERSION: "two"}, "Metalstream-Version is not an integer", id="not-a-number"),
        pytest.param({hdr.SCHEMA_VERSION: "-1"}, "Metalstream-Schema-Version is negative", id="negative"),
        pytest.param({hdr.OCCURRED_AT: "yesterday"}, "not an RFC 3339 timestamp", id="bad-time"),
        pytest.param({hdr.OCCURRED_AT: "2026-01-01T00:00:00"}, "not an RFC 3339 timestamp", id="no-offset"),
    ],
)
def test_garbled_headers_make_an_undecodable_event_with_the_reason(
    change: dict[str, str | None], reason: str
) -> None:
    headers = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    record = DECODER.decode("metalstream.widget.default.a", 7, PAYLOAD, headers)
    assert isinstance(record.event, UndecodableEvent)
    assert reason in record.event.reason
    assert record.event.data == PAYLOAD
    assert (record.envelope.position, record.envelope.aggregate_id) == (7, "default/a")


def test_a_message_without_headers_is_placed_by_its_subject() -> None:
    record = DECODER.decode("metalstream.widget.default.b%2Ec", 9, b"junk", None)
    assert isinstance(record.event, UndecodableEvent)
    assert (record.envelope.aggregate_type, record.envelope.aggregate_id) == ("widget", "default/b.c")
    assert record.envelope.position == 9


async def test_stored_garbage_comes_back_undecodable_from_every_read_path(
    jetstream_store: JetStreamEventStore, nc: Client
) -> None:
    key = widget("a")
    headers = {k: v for k, v in GOOD.items() if k != hdr.OCCURRED_AT}
    ack = await nc.jetstream().publish(jetstream_store.layout.aggregate(key), PAYLOAD, headers=headers)
    (loaded,) = (await jetstream_store.load(key)).events
    read = [r async for r in jetstream_store.read_all()]
    for record in (loaded, *read):
        assert isinstance(record.event, UndecodableEvent)
        assert "missing header Metalstream-Occurred-At" in record.event.reason
        assert record.envelope.position == ack.seq
        assert record.envelope.event_id == "evt-1"


def test_values_that_would_not_survive_the_trip_are_refused() -> None:
    encoder = hdr.HeaderEncoder(widget("a"), {WidgetCreated: ("widget.created", "1")})
    good = new(WidgetCreated(name="a"))
    bad = msgspec.structs.replace(good, meta=msgspec.structs.replace(good.meta, actor="a\nb"))
    with pytest.raises(ValueError, match="actor"):
        encoder.encode(bad, 1)
