"""Typed reads and writes of single objects of any kind, as plain JSON dicts.

Each helper is one request through ``connection.Connection`` (bounded by its ``limit``, default
the connection's ``request_timeout``) and raises the types in ``errors``. Objects are named by a
``resources.Resource`` and ``name`` (plus ``namespace`` for namespaced kinds); informers and work
queues name them by *key*, ``namespace/name`` or just ``name`` for cluster-scoped kinds, as
client-go does (``key_of``, ``split_key``).

Writes are patches rather than updates wherever possible, so that a controller only ever sends
what it means to change and does not overwrite fields it has not read. Where a write must not
race with another writer it carries a precondition:

* ``patch_status`` replaces ``.status`` through the status subresource with the object's
  ``resourceVersion`` as a precondition (the server answers ``errors.Conflict`` when it is stale);
* ``add_finalizer`` and ``remove_finalizer`` send a JSON patch whose first operation ``test``\\s the
  finalizer list that the change was computed from. The server answers a failed ``test`` with a
  bare 422; ``json_patch`` reports that as ``errors.PreconditionFailed`` (a ``Conflict``), and the
  finalizer helpers re-read and try again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeAlias

from adapters.k8s import errors
from adapters.k8s.connection import JSON, JSON_PATCH, MERGE_PATCH, Connection, JsonObject, segment
from adapters.k8s.resources import Resource

JsonPatch: TypeAlias = Sequence[Mapping[str, Any]]
"""An RFC 6902 JSON patch: a list of ``{"op": ..., "path": ..., "value": ...}`` operations."""

FINALIZER_ATTEMPTS: Final = 5
"""How often ``add_finalizer``/``remove_finalizer`` re-read and retry after a concurrent change."""


def key_of(obj: Mapping[str, Any]) -> str:
    """``namespace/name``, or ``name`` for an object without a namespace."""
    metadata = obj.get("metadata") or {}
    name, namespace = metadata.get("name", ""), metadata.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def split_key(key: str) -> tuple[str | None, str]:
    """``(namespace, name)`` of a key; the namespace is ``None`` for cluster-scoped objects."""
    namespace, _, name = key.rpartition("/")
    return namespace or None, name


def resource_version_of(obj: Mapping[str, Any]) -> str | None:
    """``metadata.resourceVersion``, if present."""
    value = (obj.get("metadata") or {}).get("resourceVersion")
    return str(value) if value is not None else None


def finalizers_of(obj: Mapping[str, Any]) -> list[str]:
    """``metadata.finalizers`` (empty when absent)."""
    return list((obj.get("metadata") or {}).get("finalizers") or [])


def path_of(
    resource: Resource, name: str | None = None, *, namespace: str | None, subresource: str | None = None
) -> str:
    """The REST path of ``resource`` (one object when ``name`` is given), segments quoted.

    A namespaced kind needs ``namespace`` for a single object; without one, the path lists the
    kind across all namespaces.
    """
    if resource.namespaced and name is not None and not namespace:
        msg = f"{resource.kind} {name!r} is namespaced: pass its namespace"
        raise ValueError(msg)
    return resource.path(
        segment(namespace) if namespace and resource.namespaced else None,
        segment(name) if name is not None else None,
        subresource,
    )


async def get(
    conn: Connection,
    resource: Resource,
    name: str,
    *,
    namespace: str | None = None,
    limit: float | None = None,
) -> JsonObject:
    """The object, or ``errors.NotFound``."""
    return await conn.request("GET", path_of(resource, name, namespace=namespace), limit=limit)


async def list_page(
    conn: Connection,
    resource: Resource,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    page_size: int | None = None,
    continue_token: str | None = None,
    limit: float | None = None,
) -> JsonObject:
    """One page of a list (``items``, ``metadata.resourceVersion``, ``metadata.continue``).

    Without ``namespace`` a namespaced kind is listed across all namespaces. An expired
    ``continue_token`` raises ``errors.Gone``: start the list again.
    """
    query = {
        "labelSelector": label_selector,
        "fieldSelector": field_selector,
        "limit": page_size,
        "continue": continue_token,
    }
    return await conn.request("GET", path_of(resource, namespace=namespace), query=query, limit=limit)


async def create(
    conn: Connection, resource: Resource, body: Mapping[str, Any], *, limit: float | None = None
) -> JsonObject:
    """Create ``body`` in ``metadata.namespace``; ``errors.AlreadyExists`` if the name is taken."""
    namespace = (body.get("metadata") or {}).get("namespace")
    if resource.namespaced and not namespace:
        msg = f"creating a {resource.kind} needs metadata.namespace: set it in the object"
        raise ValueError(msg)
    document = {"apiVersion": resource.api_version, "kind": resource.kind, **body}
    return await conn.request(
        "POST",
        path_of(resource, namespace=namespace),
        query={"fieldManager": conn.settings.field_manager},
        body=document,
        content_type=JSON,
        limit=limit,
    )


async def merge_patch(
    conn: Connection,
    resource: Resource,
    name: str,
    patch: Mapping[str, Any],
    *,
    namespace: str | None = None,
    subresource: str | None = None,
    limit: float | None = None,
) -> JsonObject:
    """Apply an RFC 7386 merge patch (``None`` values delete keys); return the patched object."""
    return await conn.request(
        "PATCH",
        path_of(resource, name, namespace=namespace, subresource=subresource),
        query={"fieldManager": conn.settings.field_manager},
        body=dict(patch),
        content_type=MERGE_PATCH,
        limit=limit,
    )


async def json_patch(
    conn: Connection,
    resource: Resource,
    name: str,
    operations: JsonPatch,
    *,
    namespace: str | None = None,
    subresource: str | None = None,
    limit: float | None = None,
) -> JsonObject:
    """Apply an RFC 6902 JSON patch; return the patched object.

    When the patch has ``test`` operations, a 422 without field causes (how the server reports a
    failed ``test``) raises ``errors.PreconditionFailed``.
    """
    try:
        return await conn.request(
            "PATCH",
            path_of(resource, name, namespace=namespace, subresource=subresource),
            query={"fieldManager": conn.settings.field_manager},
            body=[dict(op) for op in operations],
            content_type=JSON_PATCH,
            limit=limit,
        )
    except errors.Invalid as error:
        if error.causes or not any(op.get("op") == "test" for op in operations):
            raise
        raise errors.PreconditionFailed(
            error.what,
            status=error.status,
            reason="PreconditionFailed",
            message=f"a test operation failed ({error.message})",
        ) from error


async def patch_status(
    conn: Connection,
    resource: Resource,
    name: str,
    status: Mapping[str, Any],
    *,
    namespace: str | None = None,
    resource_version: str | None = None,
    limit: float | None = None,
) -> JsonObject:
    """Replace ``.status`` through the status subresource; return the object.

    With ``resource_version`` the write only succeeds if the object still has it, else
    ``errors.Conflict``. The whole status is replaced: keys absent from ``status`` are removed.
    """
    operations: list[dict[str, Any]] = []
    if resource_version is not None:
        # A patched resourceVersion is a precondition: the server compares it with the stored one.
        operations.append({"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version})
    operations.append({"op": "add", "path": "/status", "value": dict(status)})
    return await json_patch(
        conn, resource, name, operations, namespace=namespace, subresource="status", limit=limit
    )


async def delete(
    conn: Connection,
    resource: Resource,
    name: str,
    *,
    namespace: str | None = None,
    uid: str | None = None,
    resource_version: str | None = None,
    propagation: str = "Background",
    limit: float | None = None,
) -> JsonObject:
    """Delete the object; return what the server answers (the object, while finalizers hold it).

    ``uid`` and ``resource_version`` are preconditions (``errors.Conflict`` when they no longer
    match). A missing object raises ``errors.NotFound``.
    """
    options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
    preconditions = {k: v for k, v in (("uid", uid), ("resourceVersion", resource_version)) if v is not None}
    if preconditions:
        options["preconditions"] = preconditions
    return await conn.request(
        "DELETE", path_of(resource, name, namespace=namespace), body=options, content_type=JSON, limit=limit
    )


async def add_finalizer(
    conn: Connection,
    resource: Resource,
    name: str,
    finalizer: str,
    *,
    namespace: str | None = None,
    limit: float | None = None,
) -> JsonObject:
    """Make sure ``finalizer`` is on the object; return the object. Idempotent: no write if present.

    Safe against concurrent writers (see the module docstring). Raises ``errors.NotFound`` if the
    object is gone, and ``errors.Invalid`` if it is being deleted (no new finalizers then).
    """
    for _ in range(FINALIZER_ATTEMPTS):
        obj = await get(conn, resource, name, namespace=namespace, limit=limit)
        current = finalizers_of(obj)
        if finalizer in current:
            return obj
        guard: dict[str, Any]
        change: dict[str, Any]
        if "finalizers" in (obj.get("metadata") or {}):
            guard = {"op": "test", "path": "/metadata/finalizers", "value": current}
            change = {"op": "add", "path": "/metadata/finalizers/-", "value": finalizer}
        else:
            guard = {"op": "test", "path": "/metadata/resourceVersion", "value": resource_version_of(obj)}
            change = {"op": "add", "path": "/metadata/finalizers", "value": [finalizer]}
        try:
            return await json_patch(conn, resource, name, [guard, change], namespace=namespace, limit=limit)
        except errors.Conflict:
            continue
    raise _gave_up(resource, name, namespace, f"add finalizer {finalizer!r}")


async def remove_finalizer(
    conn: Connection,
    resource: Resource,
    name: str,
    finalizer: str,
    *,
    namespace: str | None = None,
    limit: float | None = None,
) -> JsonObject | None:
    """Make sure ``finalizer`` is not on the object; return the object, or ``None`` once it is gone.

    Idempotent (no write if absent) and safe against concurrent writers. Removing the last
    finalizer of an object being deleted lets the server delete it.
    """
    for _ in range(FINALIZER_ATTEMPTS):
        try:
            obj = await get(conn, resource, name, namespace=namespace, limit=limit)
        except errors.NotFound:
            return None
        current = finalizers_of(obj)
        if finalizer not in current:
            return obj
        guard = {"op": "test", "path": "/metadata/finalizers", "value": current}
        change = {"op": "remove", "path": f"/metadata/finalizers/{current.index(finalizer)}"}
        try:
            return await json_patch(conn, resource, name, [guard, change], namespace=namespace, limit=limit)
        except errors.NotFound:
            return None
        except errors.Conflict:
            continue
    raise _gave_up(resource, name, namespace, f"remove finalizer {finalizer!r}")


def _gave_up(resource: Resource, name: str, namespace: str | None, what: str) -> errors.Conflict:
    where = f"{resource.kind} {namespace + '/' if namespace else ''}{name}"
    return errors.Conflict(
        f"{what} on {where}",
        status=409,
        reason="Conflict",
        message=f"the object kept changing; gave up after {FINALIZER_ATTEMPTS} attempts",
    )
