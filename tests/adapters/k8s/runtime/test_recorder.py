"""Kubernetes Events: repeats aggregate into one Event, and ``kubectl describe`` lists them."""

from __future__ import annotations

import datetime

import pytest

from adapters.k8s import objects
from adapters.k8s.connection import Connection, JsonObject
from adapters.k8s.recorder import EventRecorder
from adapters.k8s.resources import EVENTS, Resource
from tests.adapters.k8s.conftest import Kubectl
from tests.adapters.k8s.runtime.conftest import gadget

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60, func_only=True)]


class Ticking:
    """A clock that moves one minute per reading."""

    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)

    def __call__(self) -> datetime.datetime:
        self.now += datetime.timedelta(minutes=1)
        return self.now


async def events_about(conn: Connection, involved: JsonObject) -> list[JsonObject]:
    page = await objects.list_page(
        conn,
        EVENTS,
        namespace=involved["metadata"]["namespace"],
        field_selector=f"involvedObject.uid={involved['metadata']['uid']}",
    )
    return sorted(page["items"], key=lambda event: (event["reason"], event["message"]))


async def test_a_repeated_event_bumps_the_count(conn: Connection, gadgets: Resource, namespace: str) -> None:
    recorder = EventRecorder(conn, instance="test-replica", clock=Ticking())
    involved = await objects.create(conn, gadgets, gadget("g", namespace))

    first = await recorder.record(involved, reason="Registered", message="host registered")
    second = await recorder.record(involved, reason="Registered", message="host registered")
    other = await recorder.record(involved, reason="PowerOff", message="BMC unreachable", type="Warning")
    assert first is not None
    assert second is not None
    assert other is not None

    events = await events_about(conn, involved)
    assert [(e["reason"], e["type"], e["count"]) for e in events] == [
        ("PowerOff", "Warning", 1),
        ("Registered", "Normal", 2),
    ]
    registered = events[1]
    assert registered["metadata"]["name"] == first["metadata"]["name"] == second["metadata"]["name"]
    assert (registered["firstTimestamp"], registered["lastTimestamp"]) == (
        "2026-01-01T00:01:00Z",
        "2026-01-01T00:02:00Z",
    )
    assert registered["involvedObject"]["kind"] == "Gadget"
    assert registered["involvedObject"]["uid"] == involved["metadata"]["uid"]
    assert registered["source"] == {"component": "metalstream"}
    assert (registered["reportingComponent"], registered["reportingInstance"]) == (
        "metalstream",
        "test-replica",
    )


async def test_an_expired_event_is_recorded_afresh(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    recorder = EventRecorder(conn)
    involved = await objects.create(conn, gadgets, gadget("g", namespace))
    first = await recorder.record(involved, reason="Inspected", message="inspection done")
    assert first is not None
    await objects.delete(conn, EVENTS, first["metadata"]["name"], namespace=namespace)

    again = await recorder.record(involved, reason="Inspected", message="inspection done")

    assert again is not None
    assert again["metadata"]["name"] != first["metadata"]["name"]
    assert [e["count"] for e in await events_about(conn, involved)] == [1]


async def test_kubectl_describe_lists_the_events(
    conn: Connection, kubectl: Kubectl, gadgets: Resource, namespace: str
) -> None:
    recorder = EventRecorder(conn)
    involved = await objects.create(conn, gadgets, gadget("described", namespace))
    for _ in range(2):
        await recorder.record(involved, reason="ProvisioningStarted", message="writing image to disk")
    await recorder.record(involved, reason="PowerFailed", message="BMC did not answer", type="Warning")

    described = (
        await kubectl.run("describe", f"gadgets.{gadgets.group}", "described", "-n", namespace)
    ).stdout

    events = described.split("Events:", 1)[1]
    rows = [line.split() for line in events.splitlines() if "metalstream" in line]
    assert len(rows) == 2, events
    normal = next(row for row in rows if "ProvisioningStarted" in row)
    assert normal[0] == "Normal"
    assert "(x2" in " ".join(normal), "the repeat count is shown"
    assert " ".join(normal).endswith("metalstream writing image to disk")
    warning = next(row for row in rows if "PowerFailed" in row)
    assert warning[0] == "Warning"
    assert " ".join(warning).endswith("BMC did not answer")


async def test_a_failed_recording_does_not_raise(conn: Connection, gadgets: Resource) -> None:
    recorder = EventRecorder(conn)
    ghost = {
        "apiVersion": gadgets.api_version,
        "kind": gadgets.kind,
        "metadata": {"name": "ghost", "namespace": "no-such-namespace-for-events", "uid": "0000"},
    }
    assert await recorder.record(ghost, reason="Nothing", message="goes nowhere") is None


async def test_an_involved_object_needs_its_kind(conn: Connection) -> None:
    with pytest.raises(ValueError, match="apiVersion, kind: pass the whole object"):
        await EventRecorder(conn).record({"metadata": {"name": "x"}}, reason="R", message="m")
