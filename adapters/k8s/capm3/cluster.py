"""The CAPM3 controllers' ports on the runtime: ``Kube`` on the API server, ``Cache`` on informers.

Every call is one request with the connection's timeout. Creates never overwrite (a taken name is
``None``, the caller looks at what is there); patches, deletes and finalizer changes of an object
that is already gone are quiet, because a controller that raced a deletion has nothing left to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import structlog

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection
from adapters.k8s.informer import Informer
from adapters.k8s.recorder import EventRecorder
from adapters.k8s.resources import Resource
from adapters.k8s.status_writer import StatusWriter

log = structlog.get_logger("metalstream.k8s.capm3")


class KubeCapm3:
    """``ports.Kube`` through the runtime's object helpers."""

    def __init__(self, conn: Connection, recorder: EventRecorder) -> None:
        self._conn = conn
        self._recorder = recorder
        self._writers: dict[Resource, StatusWriter] = {}

    async def get(self, resource: Resource, namespace: str, name: str) -> Mapping[str, Any] | None:
        try:
            return await objects.get(self._conn, resource, name, namespace=namespace)
        except errors.NotFound:
            return None

    async def create(self, resource: Resource, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        try:
            return await objects.create(self._conn, resource, body)
        except errors.AlreadyExists:
            log.debug("already exists; left as it is", kind=resource.kind, name=body["metadata"]["name"])
            return None

    async def patch(
        self, resource: Resource, obj: Mapping[str, Any], patch: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        metadata = obj["metadata"]
        try:
            return await objects.merge_patch(
                self._conn, resource, metadata["name"], patch, namespace=metadata.get("namespace")
            )
        except errors.NotFound:
            return None

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        try:
            await objects.delete(self._conn, resource, name, namespace=namespace)
        except errors.NotFound:
            return

    async def set_finalizer(
        self, resource: Resource, obj: Mapping[str, Any], finalizer: str, *, present: bool
    ) -> None:
        metadata = obj["metadata"]
        change = objects.add_finalizer if present else objects.remove_finalizer
        try:
            await change(
                self._conn, resource, metadata["name"], finalizer, namespace=metadata.get("namespace")
            )
        except errors.NotFound:
            return

    async def write_status(
        self, resource: Resource, obj: Mapping[str, Any], status: Mapping[str, Any]
    ) -> None:
        writer = self._writers.get(resource)
        if writer is None:
            writer = self._writers[resource] = StatusWriter(self._conn, resource, volatile=("lastUpdated",))
        await writer.write(obj, status)

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        await self._recorder.record(obj, reason=reason, message=message, type=kind)


class InformerCache:
    """``ports.Cache`` over one informer per kind."""

    def __init__(self, informers: Mapping[Resource, Informer]) -> None:
        self._informers = informers

    def get(self, resource: Resource, key: str) -> Mapping[str, Any] | None:
        return self._informers[resource].get(key)

    def list(self, resource: Resource, namespace: str) -> Sequence[Mapping[str, Any]]:
        prefix = f"{namespace}/"
        return [obj for key, obj in self._informers[resource].cache.items() if key.startswith(prefix)]
