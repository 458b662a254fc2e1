"""Subject names: reversible escaping, one subject per aggregate, dots in Kubernetes names."""

from __future__ import annotations

import pytest
from nats.aio.client import Client

from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from adapters.nats.subjects import SubjectLayout, escape_token, unescape_token
from core.ids import AggregateKey
from core.ports import NEW
from tests.contracts.events import WidgetCreated, new

LAYOUT = SubjectLayout(StoreSettings())


@pytest.mark.parametrize(
    ("text", "token"),
    [
        pytest.param("node-1", "node-1", id="plain"),
        pytest.param("node-1.rack-2", "node-1%2Erack-2", id="dots"),
        pytest.param("a*b>c", "a%2Ab%3Ec", id="wildcards"),
        pytest.param("100%", "100%25", id="percent"),
        pytest.param("two words\ttab", "two%20words%09tab", id="whitespace"),
        pytest.param("naïve", "na%C3%AFve", id="non-ascii"),
        pytest.param("ns/name", "ns/name", id="slash-stays"),
    ],
)
def test_tokens_are_escaped_reversibly(text: str, token: str) -> None:
    assert escape_token(text) == token
    assert unescape_token(token) == text


def test_an_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        escape_token("")


@pytest.mark.parametrize("bad", ["%", "%4", "%ZZ", "%C3"])
def test_a_malformed_escape_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages differ per case
        unescape_token(bad)


@pytest.mark.parametrize(
    ("key", "subject"),
    [
        pytest.param(
            AggregateKey(type="host", id="metal3/node-1.rack-2"),
            "metalstream.host.metal3.node-1%2Erack-2",
            id="k8s",
        ),
        pytest.param(AggregateKey(type="ippool", id="pool.a"), "metalstream.ippool.pool%2Ea", id="one-token"),
        pytest.param(AggregateKey(type="host", id="/x"), "metalstream.host./x", id="leading-slash"),
    ],
)
def test_aggregate_subjects_parse_back_to_their_key(key: AggregateKey, subject: str) -> None:
    assert LAYOUT.aggregate(key) == subject
    assert LAYOUT.parse(subject) == key


def test_prefixes_come_from_the_settings() -> None:
    layout = SubjectLayout(StoreSettings(subject_prefix="t1", dead_letter_prefix="t1_dlq"))
    key = AggregateKey(type="host", id="ns/n.1")
    assert layout.aggregate(key) == "t1.host.ns.n%2E1"
    assert layout.aggregate_type("host") == "t1.host.>"
    assert layout.aggregate_type(None) == "t1.>"
    assert layout.dead_letter("hosts view", "t1.host.ns.n%2E1") == "t1_dlq.hosts%20view.host.ns.n%2E1"


def test_subjects_outside_the_layout_are_refused() -> None:
    for subject in ("other.host.a", "metalstream.host", "metalstream.host.a.b.c"):
        with pytest.raises(ValueError, match="subject"):
            LAYOUT.parse(subject)


async def test_a_name_with_dots_gets_its_own_subject_on_the_server(
    jetstream_store: JetStreamEventStore, nc: Client
) -> None:
    dotted = AggregateKey(type="widget", id="default/node-1.rack-2")
    sibling = AggregateKey(type="widget", id="default/node-1")
    revision = await jetstream_store.append(dotted, [new(WidgetCreated(name="dotted"))], expected=NEW)
    await jetstream_store.append(sibling, [new(WidgetCreated(name="sibling"))], expected=NEW)
    stored = await nc.jetstream().get_msg("METALSTREAM", revision.position)
    assert stored.subject == "metalstream.widget.default.node-1%2Erack-2"
    history = await jetstream_store.load(dotted)
    assert [r.event for r in history.events] == [WidgetCreated(name="dotted")]
    assert history.events[0].envelope.aggregate_id == "default/node-1.rack-2"
