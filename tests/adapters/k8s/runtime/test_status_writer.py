"""The status writer: no request when nothing changes, retries on conflicts, quiet about deletions."""

from __future__ import annotations

import pytest

from adapters.k8s import objects
from adapters.k8s.connection import Connection
from adapters.k8s.resources import Resource
from adapters.k8s.status_writer import StatusWriter
from tests.adapters.k8s.runtime.conftest import gadget

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60, func_only=True)]


async def test_unchanged_status_is_not_written(conn: Connection, gadgets: Resource, namespace: str) -> None:
    writer = StatusWriter(conn, gadgets, volatile={"lastUpdated", "lastTransitionTime"})
    original = await objects.create(conn, gadgets, gadget("g", namespace))
    status = {
        "phase": "Ready",
        "lastUpdated": "2026-01-01T00:00:00Z",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
    }
    patches = conn.requests["PATCH"]

    stored = await writer.write(original, status)
    assert stored is not None
    assert stored["status"] == status
    assert conn.requests["PATCH"] == patches + 1

    # Same status: nothing to do. Only volatile fields differ: nothing to do either.
    assert await writer.write(stored, status) == stored
    later = {
        "phase": "Ready",
        "lastUpdated": "2026-02-02T00:00:00Z",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-02-02T00:00:00Z"}],
    }
    await writer.write(stored, later)
    # The caller's copy predates our own write (an informer lagging behind): still nothing to do.
    await writer.write(original, status)
    assert conn.requests["PATCH"] == patches + 1
    assert writer.skipped == 3

    # A real change replaces the whole status (the volatile field is gone, as asked).
    changed = await writer.write(stored, {"phase": "Provisioning"})
    assert changed is not None
    assert changed["status"] == {"phase": "Provisioning"}
    assert conn.requests["PATCH"] == patches + 2
    assert (await objects.get(conn, gadgets, "g", namespace=namespace))["status"] == {"phase": "Provisioning"}


async def test_a_conflict_is_retried_on_a_fresh_copy(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    writer = StatusWriter(conn, gadgets)
    stale = await objects.create(conn, gadgets, gadget("g", namespace))
    await objects.merge_patch(conn, gadgets, "g", {"spec": {"size": 4}}, namespace=namespace)
    gets = conn.requests["GET"]

    stored = await writer.write(stale, {"phase": "Ready"})

    assert stored is not None
    assert stored["status"] == {"phase": "Ready"}
    assert stored["spec"] == {"size": 4}, "the other writer's change is kept"
    assert writer.writes == 2, "one conflicted write, one that succeeded"
    assert conn.requests["GET"] == gets + 1, "one re-read after the conflict"


async def test_a_conflict_with_the_same_status_already_written_ends_the_write(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    writer = StatusWriter(conn, gadgets)
    stale = await objects.create(conn, gadgets, gadget("g", namespace))
    await objects.patch_status(conn, gadgets, "g", {"phase": "Ready"}, namespace=namespace)

    stored = await writer.write(stale, {"phase": "Ready"})

    assert stored is not None
    assert stored["status"] == {"phase": "Ready"}
    assert (writer.writes, writer.skipped) == (1, 1)


async def test_a_deleted_object_is_given_up_quietly(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    writer = StatusWriter(conn, gadgets)
    obj = await objects.create(conn, gadgets, gadget("g", namespace))
    await objects.delete(conn, gadgets, "g", namespace=namespace)

    assert await writer.write(obj, {"phase": "Ready"}) is None
