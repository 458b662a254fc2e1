from __future__ import annotations

from typing import Any, ClassVar

import pytest

from core.events import hosts as ev
from core.events.base import Event, UndecodableEvent, UnknownEvent, event_type_of
from core.events.codec import EventCodec, encode

POWER_ON = b'{"type":"host.power_observed","poweredOn":true}'


def test_unknown_type_tag_decodes_to_unknown_event_keeping_the_bytes() -> None:
    data = b'{"type":"host.teleported","to":"mars"}'

    assert ev.CODEC.decode(data) == UnknownEvent(type="host.teleported", data=data)


def test_another_aggregates_tag_is_unknown_to_the_host_codec() -> None:
    data = b'{"type":"machine.created","name":"m-0"}'

    assert ev.CODEC.decode(data) == UnknownEvent(type="machine.created", data=data)


UNDECODABLE = [
    pytest.param(b'{"type":"host.power_observed","poweredOn":tru', id="truncated JSON"),
    pytest.param(b"\xff\xfe not json", id="not JSON at all"),
    pytest.param(b"", id="empty"),
    pytest.param(b'["host.power_observed"]', id="JSON array"),
    pytest.param(b'{"poweredOn":true}', id="no type tag"),
    pytest.param(b'{"type":7,"poweredOn":true}', id="type tag not a string"),
    pytest.param(b'{"type":"host.power_observed","poweredOn":"yes"}', id="wrong field type"),
    pytest.param(b'{"type":"host.power_observed"}', id="missing required field"),
    pytest.param(
        b'{"type":"host.error_recorded","errorType":"oops","message":"m","errorCount":1,'
        b'"retryNotBefore":"2025-01-01T00:00:00Z"}',
        id="value outside an enum",
    ),
    pytest.param(
        b'{"type":"host.error_recorded","errorType":"inspection error","message":"m","errorCount":1,'
        b'"retryNotBefore":"yesterday"}',
        id="malformed timestamp",
    ),
    pytest.param(
        b'{"type":"host.spec_changed","generation":2,"spec":{"bootMode":"BIOS"}}', id="bad nested literal"
    ),
]


@pytest.mark.parametrize("data", UNDECODABLE)
def test_data_that_is_not_a_valid_event_decodes_to_undecodable_event(data: bytes) -> None:
    decoded = ev.CODEC.decode(data)

    assert isinstance(decoded, UndecodableEvent)
    assert decoded.data == data
    assert decoded.reason


def test_unknown_fields_from_a_newer_writer_are_ignored() -> None:
    data = b'{"type":"host.power_observed","poweredOn":true,"wattage":412,"psu":{"id":1}}'

    assert ev.CODEC.decode(data) == ev.PowerObserved(powered_on=True)


def test_missing_optional_fields_from_an_older_writer_take_their_defaults() -> None:
    assert ev.CODEC.decode(b'{"type":"host.detach_requested"}') == ev.DetachRequested(
        delete_action="delete", force=False
    )


def test_event_written_with_a_newer_schema_version_is_unknown() -> None:
    assert ev.CODEC.decode(POWER_ON, schema_version=2) == UnknownEvent(
        type="host.power_observed@v2", data=POWER_ON
    )


def test_event_at_its_current_schema_version_decodes_normally() -> None:
    assert ev.CODEC.decode(POWER_ON, schema_version=1) == ev.PowerObserved(powered_on=True)


# --- a test-only aggregate whose event changed shape twice -------------------------------------------


class GadgetCreated(Event, tag="gadget.created", frozen=True, kw_only=True):
    name: str


class GadgetRenamed(Event, tag="gadget.renamed", frozen=True, kw_only=True):
    """v1: ``{"name"}``; v2: ``{"displayName", "reason"}``; v3 (current) adds ``previousName``."""

    schema_version: ClassVar[int] = 3

    display_name: str
    reason: str
    previous_name: str | None


def _renamed_v1_to_v2(old: dict[str, Any]) -> dict[str, Any]:
    new = {key: value for key, value in old.items() if key != "name"}
    new["displayName"] = old["name"]
    new["reason"] = "unknown (recorded before reasons existed)"
    return new


def _renamed_v2_to_v3(old: dict[str, Any]) -> dict[str, Any]:
    return {**old, "previousName": None}


UPCASTERS = {("gadget.renamed", 1): _renamed_v1_to_v2, ("gadget.renamed", 2): _renamed_v2_to_v3}
GADGETS = EventCodec("gadget", [GadgetCreated, GadgetRenamed], UPCASTERS)
RENAMED_V1 = b'{"type":"gadget.renamed","name":"blue box"}'


def test_old_event_is_upcast_through_every_version_to_the_current_type() -> None:
    assert GADGETS.decode(RENAMED_V1, schema_version=1) == GadgetRenamed(
        display_name="blue box", reason="unknown (recorded before reasons existed)", previous_name=None
    )


def test_event_one_version_behind_takes_only_the_last_upcaster() -> None:
    data = b'{"type":"gadget.renamed","displayName":"red box","reason":"repainted"}'

    assert GADGETS.decode(data, schema_version=2) == GadgetRenamed(
        display_name="red box", reason="repainted", previous_name=None
    )


def test_current_event_round_trips_without_upcasting() -> None:
    renamed = GadgetRenamed(display_name="red box", reason="repainted", previous_name="blue box")

    assert GADGETS.decode(encode(renamed)) == renamed
    assert GADGETS.decode(encode(renamed), schema_version=3) == renamed
    assert GADGETS.version_of(renamed) == GADGETS.current_version("gadget.renamed") == 3


def test_event_newer_than_this_build_knows_is_unknown() -> None:
    data = b'{"type":"gadget.renamed","displayName":"x","reason":"y","previousName":null,"colour":"red"}'

    assert GADGETS.decode(data, schema_version=4) == UnknownEvent(type="gadget.renamed@v4", data=data)


def test_other_event_types_of_the_aggregate_are_not_upcast() -> None:
    assert GADGETS.decode(b'{"type":"gadget.created","name":"box"}') == GadgetCreated(name="box")
    assert GADGETS.current_version("gadget.created") == 1


def test_old_event_without_a_registered_upcaster_is_undecodable() -> None:
    codec = EventCodec("gadget", [GadgetRenamed], {("gadget.renamed", 2): _renamed_v2_to_v3})

    decoded = codec.decode(RENAMED_V1, schema_version=1)

    assert decoded == UndecodableEvent(reason="gadget.renamed v1 has no upcaster to v2", data=RENAMED_V1)


def test_old_event_the_upcaster_cannot_read_is_undecodable_not_an_exception() -> None:
    data = b'{"type":"gadget.renamed","title":"blue box"}'

    decoded = GADGETS.decode(data, schema_version=1)

    assert isinstance(decoded, UndecodableEvent)
    assert "upcaster" in decoded.reason
    assert decoded.data == data


def test_upcast_result_of_the_wrong_shape_is_undecodable() -> None:
    data = b'{"type":"gadget.renamed","name":42}'

    assert isinstance(GADGETS.decode(data, schema_version=1), UndecodableEvent)


def test_truncated_old_event_is_undecodable() -> None:
    assert isinstance(GADGETS.decode(b'{"type":"gadget.renamed"', schema_version=1), UndecodableEvent)


def test_codec_with_one_event_type_decodes_it() -> None:
    codec = EventCodec("gadget", [GadgetCreated])

    assert codec.decode(b'{"type":"gadget.created","name":"box"}') == GadgetCreated(name="box")
    assert codec.event_types == frozenset({"gadget.created"})


def test_codec_refuses_an_event_class_of_another_aggregate() -> None:
    with pytest.raises(TypeError, match="gadget"):
        EventCodec("gadget", [GadgetCreated, ev.PowerObserved])


def test_codec_refuses_an_upcaster_for_an_unknown_event_type() -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        EventCodec("gadget", [GadgetCreated], {("gadget.melted", 1): _renamed_v2_to_v3})


def test_codec_refuses_an_upcaster_from_the_current_version() -> None:
    with pytest.raises(ValueError, match="not older"):
        EventCodec("gadget", [GadgetRenamed], {("gadget.renamed", 3): _renamed_v2_to_v3})


def test_codec_knows_only_its_own_event_types() -> None:
    assert GADGETS.knows(GadgetCreated(name="box"))
    assert not GADGETS.knows(ev.PowerObserved(powered_on=True))


class _NumberTagged(Event, tag=3, frozen=True, kw_only=True):
    pass


def test_event_type_of_needs_a_string_tag() -> None:
    assert event_type_of(GadgetCreated(name="box")) == "gadget.created"
    with pytest.raises(TypeError, match="no string tag"):
        event_type_of(_NumberTagged())
