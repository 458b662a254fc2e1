"""The CAPI IPAddressClaim controller's calls on the API server (claims and CAPI IPAddresses).

Every call is one request with the connection's timeout; a claim or address already gone is
quiet, as in the metal3 IPAM adapter (``cluster``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection
from adapters.k8s.ipam import addresses
from adapters.k8s.ipam.capi_addresses import CapiIpamResources
from adapters.k8s.recorder import EventRecorder
from adapters.k8s.status_writer import StatusWriter


class KubeCapiIpamCluster:
    """``capi_claims.ClaimCluster`` on the API server."""

    def __init__(self, conn: Connection, recorder: EventRecorder, resources: CapiIpamResources) -> None:
        self._conn = conn
        self._recorder = recorder
        self._resources = resources
        self._status = StatusWriter(conn, resources.claims)

    async def set_finalizer(
        self, obj: Mapping[str, Any], finalizer: str, *, present: bool
    ) -> Mapping[str, Any] | None:
        metadata = obj["metadata"]
        change = objects.add_finalizer if present else objects.remove_finalizer
        try:
            stored = await change(
                self._conn,
                self._resources.claims,
                metadata["name"],
                finalizer,
                namespace=metadata["namespace"],
            )
        except errors.NotFound:
            return None
        except errors.Invalid:
            if present:
                return None
            raise
        if stored is None:
            return None
        return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), **stored}

    async def write_status(
        self, obj: Mapping[str, Any], status: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        return await self._status.write(obj, status)

    async def get_address(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        try:
            return await objects.get(self._conn, self._resources.addresses, name, namespace=namespace)
        except errors.NotFound:
            return None

    async def create_address(self, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        try:
            return await objects.create(self._conn, self._resources.addresses, body)
        except errors.AlreadyExists:
            return None

    async def delete_address(self, namespace: str, name: str) -> None:
        try:
            await objects.remove_finalizer(
                self._conn, self._resources.addresses, name, addresses.FINALIZER, namespace=namespace
            )
            await objects.delete(self._conn, self._resources.addresses, name, namespace=namespace)
        except errors.NotFound:
            return

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        await self._recorder.record(obj, reason=reason, message=message, type=kind)
