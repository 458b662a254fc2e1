"""The streams are created with event-store settings, and existing ones are checked or fixed."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.js import api

from adapters.nats.errors import StreamMisconfigured
from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from adapters.nats.streams import ensure_stream, event_stream_config
from tests.contracts.events import CODECS

SETTINGS = StoreSettings(
    stream="T1", subject_prefix="t1", dead_letter_stream="T1_DLQ", dead_letter_prefix="t1_dlq"
)


async def test_both_streams_are_created_as_immutable_durable_logs(nc: Client) -> None:
    async with JetStreamEventStore(nc, CODECS, settings=SETTINGS):
        events = (await nc.jetstream().stream_info("T1")).config
        dead_letters = (await nc.jetstream().stream_info("T1_DLQ")).config
    assert events.subjects == ["t1.>"]
    assert dead_letters.subjects == ["t1_dlq.>"]
    for config in (events, dead_letters):
        assert config.storage == api.StorageType.FILE
        assert config.retention == api.RetentionPolicy.LIMITS
        assert (config.max_msgs, config.max_bytes, config.max_msgs_per_subject) == (-1, -1, -1)
        assert not config.max_age
        assert config.duplicate_window == 120
        assert (config.deny_delete, config.deny_purge, config.allow_direct) == (True, True, True)
        assert not config.allow_rollup_hdrs
    assert events.allow_atomic


async def test_starting_again_keeps_the_stream_and_its_events(nc: Client) -> None:
    async with JetStreamEventStore(nc, CODECS, settings=SETTINGS):
        await nc.jetstream().publish("t1.widget.x", b"{}")
    async with JetStreamEventStore(nc, CODECS, settings=SETTINGS) as store:
        assert await store.last_position() == 1


async def test_changeable_settings_are_brought_in_line(nc: Client) -> None:
    js = nc.jetstream()
    drifted = event_stream_config(SETTINGS)
    drifted.duplicate_window = 30
    drifted.allow_atomic = False
    await js.add_stream(drifted)
    await ensure_stream(js, event_stream_config(SETTINGS))
    config = (await js.stream_info("T1")).config
    assert (config.duplicate_window, config.allow_atomic) == (120, True)


async def test_a_stream_with_unchangeable_wrong_settings_stops_the_store(nc: Client) -> None:
    await nc.jetstream().add_stream(name="T1", subjects=["t1.>"], storage=api.StorageType.MEMORY)
    with pytest.raises(StreamMisconfigured, match=r"storage=.*memory.*need.*file"):
        await JetStreamEventStore.connect(nc, CODECS, settings=SETTINGS)
