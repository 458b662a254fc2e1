"""Object helpers against the real API server: CRUD, typed errors, and conflict-safe finalizers."""

from __future__ import annotations

import asyncio

import pytest

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection
from adapters.k8s.resources import Resource
from tests.adapters.k8s.runtime.conftest import gadget, unique

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60, func_only=True)]


async def test_create_get_patch_delete_round_trip(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    created = await objects.create(conn, gadgets, gadget("g", namespace, size=2))
    assert created["kind"] == "Gadget"
    assert objects.key_of(created) == f"{namespace}/g"
    fetched = await objects.get(conn, gadgets, "g", namespace=namespace)
    assert fetched["spec"] == {"size": 2}

    merged = await objects.merge_patch(
        conn,
        gadgets,
        "g",
        {"metadata": {"labels": {"team": "blue"}}, "spec": {"size": 3}},
        namespace=namespace,
    )
    assert (merged["metadata"]["labels"], merged["spec"]) == ({"team": "blue"}, {"size": 3})
    patched = await objects.json_patch(
        conn, gadgets, "g", [{"op": "remove", "path": "/metadata/labels/team"}], namespace=namespace
    )
    assert "team" not in (patched["metadata"].get("labels") or {})

    with_status = await objects.patch_status(conn, gadgets, "g", {"phase": "Ready"}, namespace=namespace)
    assert with_status["status"] == {"phase": "Ready"}
    assert with_status["metadata"]["generation"] == fetched["metadata"]["generation"] + 1  # the spec change

    await objects.delete(conn, gadgets, "g", namespace=namespace)
    with pytest.raises(errors.NotFound):
        await objects.get(conn, gadgets, "g", namespace=namespace)


async def test_refusals_are_typed(conn: Connection, gadgets: Resource, namespace: str) -> None:
    with pytest.raises(
        errors.NotFound, match=f"GET /apis/{gadgets.group}/v1/namespaces/{namespace}/gadgets/nope"
    ):
        await objects.get(conn, gadgets, "nope", namespace=namespace)

    await objects.create(conn, gadgets, gadget("taken", namespace))
    with pytest.raises(errors.AlreadyExists) as taken:
        await objects.create(conn, gadgets, gadget("taken", namespace))
    assert taken.value.status == 409

    with pytest.raises(errors.Invalid) as invalid:
        await objects.create(conn, gadgets, gadget("tiny", namespace, size=0))
    assert [cause.field for cause in invalid.value.causes] == ["spec.size"]
    assert "spec.size" in str(invalid.value)
    assert "greater than or equal to 1" in str(invalid.value)


async def test_a_stale_resource_version_is_a_conflict(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    stale = await objects.create(conn, gadgets, gadget("g", namespace))
    await objects.merge_patch(conn, gadgets, "g", {"spec": {"size": 5}}, namespace=namespace)
    version = objects.resource_version_of(stale)
    with pytest.raises(errors.Conflict):
        await objects.patch_status(
            conn, gadgets, "g", {"phase": "X"}, namespace=namespace, resource_version=version
        )
    with pytest.raises(errors.PreconditionFailed):
        await objects.json_patch(
            conn,
            gadgets,
            "g",
            [
                {"op": "test", "path": "/spec/size", "value": 1},
                {"op": "replace", "path": "/spec/size", "value": 2},
            ],
            namespace=namespace,
        )
    assert (await objects.get(conn, gadgets, "g", namespace=namespace))["spec"] == {"size": 5}


async def test_finalizers_are_added_and_removed_idempotently(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    await objects.create(conn, gadgets, gadget("g", namespace))
    patches = conn.requests["PATCH"]

    added = await objects.add_finalizer(conn, gadgets, "g", "metalstream.dev/a", namespace=namespace)
    again = await objects.add_finalizer(conn, gadgets, "g", "metalstream.dev/a", namespace=namespace)
    assert objects.finalizers_of(added) == objects.finalizers_of(again) == ["metalstream.dev/a"]
    assert conn.requests["PATCH"] == patches + 1, "adding a present finalizer writes nothing"

    await objects.add_finalizer(conn, gadgets, "g", "metalstream.dev/b", namespace=namespace)
    removed = await objects.remove_finalizer(conn, gadgets, "g", "metalstream.dev/a", namespace=namespace)
    assert removed is not None
    assert objects.finalizers_of(removed) == ["metalstream.dev/b"]
    patches = conn.requests["PATCH"]
    assert (
        await objects.remove_finalizer(conn, gadgets, "g", "metalstream.dev/a", namespace=namespace)
        == removed
    )
    assert conn.requests["PATCH"] == patches, "removing an absent finalizer writes nothing"


async def test_concurrent_finalizer_changes_all_take_effect(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    await objects.create(conn, gadgets, gadget("g", namespace))
    for finalizer in ("x/keep", "x/drop-1", "x/drop-2"):
        await objects.add_finalizer(conn, gadgets, "g", finalizer, namespace=namespace)

    await asyncio.gather(
        objects.remove_finalizer(conn, gadgets, "g", "x/drop-1", namespace=namespace),
        objects.add_finalizer(conn, gadgets, "g", "x/new-1", namespace=namespace),
        objects.remove_finalizer(conn, gadgets, "g", "x/drop-2", namespace=namespace),
        objects.add_finalizer(conn, gadgets, "g", "x/new-2", namespace=namespace),
    )

    final = await objects.get(conn, gadgets, "g", namespace=namespace)
    assert sorted(objects.finalizers_of(final)) == ["x/keep", "x/new-1", "x/new-2"]


async def test_removing_the_last_finalizer_of_a_deleted_object_lets_it_go(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    name = unique("doomed")
    await objects.create(conn, gadgets, gadget(name, namespace))
    await objects.add_finalizer(conn, gadgets, name, "metalstream.dev/hold", namespace=namespace)
    held = await objects.delete(conn, gadgets, name, namespace=namespace)
    assert held["metadata"]["deletionTimestamp"]

    with pytest.raises(errors.Invalid, match="finalizers"):
        await objects.add_finalizer(conn, gadgets, name, "metalstream.dev/late", namespace=namespace)
    await objects.remove_finalizer(conn, gadgets, name, "metalstream.dev/hold", namespace=namespace)

    with pytest.raises(errors.NotFound):
        await objects.get(conn, gadgets, name, namespace=namespace)
    assert (
        await objects.remove_finalizer(conn, gadgets, name, "metalstream.dev/hold", namespace=namespace)
        is None
    )


async def test_a_namespaced_kind_needs_a_namespace(conn: Connection, gadgets: Resource) -> None:
    with pytest.raises(ValueError, match="Gadget 'g' is namespaced: pass its namespace"):
        await objects.get(conn, gadgets, "g")
    with pytest.raises(ValueError, match=r"needs metadata\.namespace"):
        await objects.create(conn, gadgets, {"metadata": {"name": "g"}})


async def test_keys_split_back_into_namespace_and_name() -> None:
    assert objects.split_key("ns/name") == ("ns", "name")
    assert objects.split_key("cluster-wide") == (None, "cluster-wide")
    assert objects.key_of({"metadata": {"name": "n"}}) == "n"
