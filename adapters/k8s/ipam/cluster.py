"""``IpamCluster`` on a real API server: the IPAM controller's Kubernetes calls.

IPAddress objects are created with their finalizer already set and deleted by the controller
itself (finalizer removed first), never left to a garbage collector, which a bare API server
(the dev stack) does not run. Status writes go through one ``StatusWriter`` per kind, so a status
that did not change is not written again.

The same calls serve Cluster API's IPAddressClaims and IPAddresses (``capi_claims``): only the
kinds differ, so they are constructor arguments with the metal3 kinds as defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection
from adapters.k8s.crds.ipam import IPADDRESS, IPCLAIM, IPPOOL
from adapters.k8s.ipam import addresses
from adapters.k8s.ipam import status as ipam_status
from adapters.k8s.recorder import EventRecorder
from adapters.k8s.resources import Resource
from adapters.k8s.status_writer import StatusWriter

POOLS: Final = IPPOOL.resource
CLAIMS: Final = IPCLAIM.resource
ADDRESSES: Final = IPADDRESS.resource


class KubeIpamCluster:
    """The controller's calls through the runtime's helpers; every call has the connection's timeout."""

    def __init__(
        self,
        conn: Connection,
        recorder: EventRecorder,
        *,
        kinds: tuple[Resource, ...] = (POOLS, CLAIMS),
        address_kind: Resource = ADDRESSES,
    ) -> None:
        self._conn = conn
        self._recorder = recorder
        self._kinds = {resource.kind: resource for resource in kinds}
        self._addresses = address_kind
        self._status = {
            resource.kind: StatusWriter(
                conn, resource, volatile=ipam_status.VOLATILE if resource == POOLS else ()
            )
            for resource in kinds
        }

    def _resource(self, obj: Mapping[str, Any]) -> Resource:
        kind = obj.get("kind")
        resource = self._kinds.get(str(kind))
        if resource is None:
            msg = f"the IPAM controller does not write {kind!r} objects"
            raise ValueError(msg)
        return resource

    async def set_finalizer(
        self, obj: Mapping[str, Any], finalizer: str, *, present: bool
    ) -> Mapping[str, Any] | None:
        metadata = obj["metadata"]
        change = objects.add_finalizer if present else objects.remove_finalizer
        try:
            stored = await change(
                self._conn, self._resource(obj), metadata["name"], finalizer, namespace=metadata["namespace"]
            )
        except errors.NotFound:
            return None
        except errors.Invalid:
            if present:  # being deleted meanwhile: no new finalizers; the deletion brings us back
                return None
            raise
        return _typed(stored, obj)

    async def set_labels(self, obj: Mapping[str, Any], labels: Mapping[str, str]) -> Mapping[str, Any] | None:
        metadata = obj["metadata"]
        patch = {"metadata": {"labels": dict(labels)}}
        try:
            stored = await objects.merge_patch(
                self._conn, self._resource(obj), metadata["name"], patch, namespace=metadata["namespace"]
            )
        except errors.NotFound:
            return None
        return _typed(stored, obj)

    async def write_status(
        self, obj: Mapping[str, Any], status: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        return await self._status[self._resource(obj).kind].write(obj, status)

    async def get_address(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        try:
            return await objects.get(self._conn, self._addresses, name, namespace=namespace)
        except errors.NotFound:
            return None

    async def create_address(self, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        try:
            return await objects.create(self._conn, self._addresses, body)
        except errors.AlreadyExists:
            return None

    async def delete_address(self, namespace: str, name: str) -> None:
        try:
            await objects.remove_finalizer(
                self._conn, self._addresses, name, addresses.FINALIZER, namespace=namespace
            )
            await objects.delete(self._conn, self._addresses, name, namespace=namespace)
        except errors.NotFound:
            return

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        await self._recorder.record(obj, reason=reason, message=message, type=kind)


def _typed(stored: Mapping[str, Any] | None, like: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """``stored`` with ``apiVersion`` and ``kind`` (a PATCH answer has them; be sure anyway)."""
    if stored is None:
        return None
    return {"apiVersion": like.get("apiVersion"), "kind": like.get("kind"), **stored}
