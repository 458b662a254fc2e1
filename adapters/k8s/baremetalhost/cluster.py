"""``HostCluster`` on a real API server: the BareMetalHost controller's Kubernetes calls.

Secrets are handled as Metal3 does, so tools that look for its markers find them: a credentials
Secret gets the label ``environment.metal3.io=baremetal`` (the controller's Secret informer only
watches labelled Secrets, like BMO's cache), the finalizer ``baremetalhost.metal3.io/secret`` and
a non-controller owner reference to each host using it. HardwareData carries a controller owner
reference and the finalizer ``baremetalhost.metal3.io/hardwareData``; it is deleted by the
controller itself rather than left to a garbage collector, which a bare API server (the dev stack)
does not run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

import structlog

from adapters.k8s import errors, objects
from adapters.k8s.baremetalhost.ports import FirmwareObjects
from adapters.k8s.connection import Connection
from adapters.k8s.crds.metal3io_firmware import HOSTFIRMWARECOMPONENTS, HOSTFIRMWARESETTINGS
from adapters.k8s.crds.metal3io_hardware import HARDWAREDATA
from adapters.k8s.crds.metal3io_host import BAREMETALHOST
from adapters.k8s.recorder import EventRecorder
from adapters.k8s.resources import SECRETS
from adapters.k8s.status_writer import StatusWriter

log = structlog.get_logger("metalstream.k8s.baremetalhost")

SECRET_LABEL: Final = ("environment.metal3.io", "baremetal")
SECRET_FINALIZER: Final = "baremetalhost.metal3.io/secret"  # noqa: S105 - a finalizer name, not a secret
HARDWARE_FINALIZER: Final = "baremetalhost.metal3.io/hardwareData"
HOSTS: Final = BAREMETALHOST.resource
HARDWARE: Final = HARDWAREDATA.resource
FIRMWARE_SETTINGS: Final = HOSTFIRMWARESETTINGS.resource
FIRMWARE_COMPONENTS: Final = HOSTFIRMWARECOMPONENTS.resource


def _escape(key: str) -> str:
    """A map key as a JSON-pointer token (RFC 6901)."""
    return key.replace("~", "~0").replace("/", "~1")


def _owner(obj: Mapping[str, Any], *, controller: bool) -> dict[str, Any]:
    metadata = obj["metadata"]
    reference: dict[str, Any] = {
        "apiVersion": HOSTS.api_version,
        "kind": HOSTS.kind,
        "name": metadata["name"],
        "uid": metadata["uid"],
    }
    if controller:
        reference["controller"] = True
        reference["blockOwnerDeletion"] = True
    return reference


class KubeHostCluster:
    """The controller's calls through the runtime's helpers; every call has the connection's timeout."""

    def __init__(self, conn: Connection, recorder: EventRecorder) -> None:
        self._conn = conn
        self._recorder = recorder
        self._status = StatusWriter(conn, HOSTS, volatile=("lastUpdated",))
        self._firmware_status = StatusWriter(conn, FIRMWARE_SETTINGS, volatile=("lastUpdated",))

    async def get_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        try:
            return await objects.get(self._conn, SECRETS, name, namespace=namespace)
        except errors.NotFound:
            return None

    async def get_firmware(self, namespace: str, name: str) -> FirmwareObjects:
        found: list[Mapping[str, Any] | None] = []
        for resource in (FIRMWARE_SETTINGS, FIRMWARE_COMPONENTS):
            try:
                found.append(await objects.get(self._conn, resource, name, namespace=namespace))
            except errors.NotFound:
                found.append(None)
        return FirmwareObjects(settings=found[0], components=found[1])

    async def write_firmware_settings_status(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        await self._firmware_status.write(obj, status)

    async def adopt_secret(self, secret: Mapping[str, Any], owner: Mapping[str, Any]) -> None:
        metadata = secret["metadata"]
        labels = metadata.get("labels") or {}
        owners = metadata.get("ownerReferences") or []
        finalizers = metadata.get("finalizers") or []
        uid = owner["metadata"]["uid"]
        patch: dict[str, Any] = {}
        if labels.get(SECRET_LABEL[0]) != SECRET_LABEL[1]:
            patch["labels"] = {SECRET_LABEL[0]: SECRET_LABEL[1]}
        if not any(o.get("uid") == uid for o in owners):
            patch["ownerReferences"] = [*owners, _owner(owner, controller=False)]
        if SECRET_FINALIZER not in finalizers:
            patch["finalizers"] = [*finalizers, SECRET_FINALIZER]
        if not patch:
            return
        patch["resourceVersion"] = metadata.get("resourceVersion")  # lists are replaced: guard them
        try:
            await objects.merge_patch(
                self._conn, SECRETS, metadata["name"], {"metadata": patch}, namespace=metadata["namespace"]
            )
        except errors.Conflict:
            log.debug("secret changed while adopting it; next reconcile retries", secret=metadata["name"])

    async def release_secret(self, namespace: str, name: str, owner_uid: str) -> None:
        for _ in range(5):
            secret = await self.get_secret(namespace, name)
            if secret is None:
                return
            metadata = secret["metadata"]
            owners = [o for o in metadata.get("ownerReferences") or [] if o.get("uid") != owner_uid]
            hosts_left = [o for o in owners if o.get("kind") == HOSTS.kind]
            finalizers = list(metadata.get("finalizers") or [])
            if not hosts_left and SECRET_FINALIZER in finalizers:
                finalizers.remove(SECRET_FINALIZER)
            patch = {
                "metadata": {
                    "ownerReferences": owners or None,
                    "finalizers": finalizers or None,
                    "resourceVersion": metadata.get("resourceVersion"),
                }
            }
            try:
                await objects.merge_patch(self._conn, SECRETS, name, patch, namespace=namespace)
            except errors.NotFound:
                return
            except errors.Conflict:
                continue
            return
        log.warning(
            "could not release the credentials Secret after 5 conflicts", secret=f"{namespace}/{name}"
        )

    async def set_finalizer(self, obj: Mapping[str, Any], finalizer: str, *, present: bool) -> None:
        metadata = obj["metadata"]
        change = objects.add_finalizer if present else objects.remove_finalizer
        try:
            await change(self._conn, HOSTS, metadata["name"], finalizer, namespace=metadata["namespace"])
        except errors.NotFound:
            return

    async def remove_annotations(self, obj: Mapping[str, Any], names: Sequence[str]) -> None:
        metadata = obj["metadata"]
        patch = {"metadata": {"annotations": dict.fromkeys(names)}}
        try:
            await objects.merge_patch(
                self._conn, HOSTS, metadata["name"], patch, namespace=metadata["namespace"]
            )
        except errors.NotFound:
            return

    async def write_status(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        await self._status.write(obj, status)

    async def put_hardware_data(self, owner: Mapping[str, Any], hardware: Mapping[str, Any]) -> None:
        metadata = owner["metadata"]
        name, namespace = metadata["name"], metadata["namespace"]
        try:
            current = await objects.get(self._conn, HARDWARE, name, namespace=namespace)
        except errors.NotFound:
            current = None
        if current is not None:
            owners = current.get("metadata", {}).get("ownerReferences") or []
            if not any(o.get("uid") == metadata["uid"] for o in owners):
                # Left from an earlier host object of the same name: replace it.
                await self.delete_hardware_data(namespace, name)
                current = None
            elif (current.get("spec") or {}).get("hardware") == hardware:
                return
        if current is None:
            body = {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "ownerReferences": [_owner(owner, controller=True)],
                    "finalizers": [HARDWARE_FINALIZER],
                },
                "spec": {"hardware": dict(hardware)},
            }
            try:
                await objects.create(self._conn, HARDWARE, body)
            except errors.AlreadyExists:
                log.debug("HardwareData created concurrently; next reconcile compares it", host=name)
            return
        await objects.merge_patch(
            self._conn, HARDWARE, name, {"spec": {"hardware": dict(hardware)}}, namespace=namespace
        )

    async def delete_hardware_data(self, namespace: str, name: str) -> None:
        try:
            await objects.remove_finalizer(
                self._conn, HARDWARE, name, HARDWARE_FINALIZER, namespace=namespace
            )
            await objects.delete(self._conn, HARDWARE, name, namespace=namespace)
        except errors.NotFound:
            return

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        await self._recorder.record(obj, reason=reason, message=message, type=kind)
