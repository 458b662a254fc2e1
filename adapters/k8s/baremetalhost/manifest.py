"""A BareMetalHost object (as the API server returns it) read into the host aggregate's terms.

The API server already enforced the CRD schema, so what reaches here is shaped like Metal3's
type; what the schema cannot say is checked here and reported as a ``ManifestProblem`` naming
the field and the fix (the controller shows it as a Warning Event, it never crashes on one).
Unknown fields are ignored, as Metal3 ignores fields it does not know, so manifests written for
a newer Metal3 still apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from core.events.host_values import ConsumerRef, HostSpec

INSPECT_ANNOTATION: Final = "inspect.metal3.io"
_UUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_NAME: Final = re.compile(r"^[A-Za-z0-9._-]+$")
_MAC: Final = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_DEVICE_NAME: Final = re.compile(r"^/dev/\S+$")


class ManifestProblem(ValueError):
    """The object cannot be used as written: ``field`` is its JSON path, ``message`` says the fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class HostObject:
    """What the controller needs from one BareMetalHost object."""

    namespace: str
    name: str
    uid: str
    generation: int
    resource_version: str
    spec: HostSpec
    consumer: ConsumerRef | None
    annotations: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    """``metadata.deletionTimestamp`` is set."""
    status: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        raise ManifestProblem("metadata", "the object has no metadata")
    return metadata


def read_host(obj: Mapping[str, Any]) -> HostObject:
    """Read ``obj``; raises ``ManifestProblem`` for what Metal3's webhook would refuse."""
    metadata = _metadata(obj)
    namespace = str(metadata.get("namespace") or "")
    name = str(metadata.get("name") or "")
    if not _NAME.match(name) or _UUID.match(name):
        raise ManifestProblem(
            "metadata.name",
            f"{name!r} cannot name a host: use letters, digits, '.', '_' or '-', and not a UUID",
        )
    raw_spec = obj.get("spec")
    if not isinstance(raw_spec, Mapping):
        raise ManifestProblem("spec", "a BareMetalHost needs a spec (at least spec.online)")
    annotations = {str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()}
    spec = _spec(raw_spec, namespace, annotations)
    status = obj.get("status")
    return HostObject(
        namespace=namespace,
        name=name,
        uid=str(metadata.get("uid") or ""),
        generation=int(metadata.get("generation") or 0),
        resource_version=str(metadata.get("resourceVersion") or ""),
        spec=spec,
        consumer=_consumer(raw_spec.get("consumerRef")),
        annotations=annotations,
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        finalizers=tuple(str(f) for f in metadata.get("finalizers") or ()),
        deleting=bool(metadata.get("deletionTimestamp")),
        status=status if isinstance(status, Mapping) else {},
    )


def _spec(raw: Mapping[str, Any], namespace: str, annotations: Mapping[str, str]) -> HostSpec:
    try:
        spec = msgspec.convert(dict(raw), HostSpec, strict=False)
    except msgspec.ValidationError as error:
        # msgspec names the path as ``$.bmc.address``: say it as the manifest does.
        text = str(error)
        where = "spec"
        if "`$." in text:
            where = "spec." + text.split("`$.", 1)[1].split("`", 1)[0]
        raise ManifestProblem(where, f"{text.split(' - at ', 1)[0]}; correct the value") from None
    mac = spec.boot_mac_address
    if mac and not _MAC.match(mac):
        raise ManifestProblem("spec.bootMACAddress", f"{mac!r} is not a MAC address like 52:54:00:12:34:56")
    hints = spec.root_device_hints
    if hints is not None and hints.device_name and not _DEVICE_NAME.match(hints.device_name):
        raise ManifestProblem(
            "spec.rootDeviceHints.deviceName",
            f"{hints.device_name!r} must be a /dev/... path (or /dev/disk/by-path/...)",
        )
    for key in ("userData", "networkData", "metaData"):
        ref = raw.get(key)
        if isinstance(ref, Mapping) and ref.get("namespace") not in (None, "", namespace):
            raise ManifestProblem(
                f"spec.{key}.namespace",
                f"Secrets are read from the host's own namespace {namespace!r}; remove the namespace "
                "or copy the Secret there",
            )
    if annotations.get(INSPECT_ANNOTATION) == "disabled":
        if spec.inspection_mode not in (None, "disabled"):
            raise ManifestProblem(
                "spec.inspectionMode",
                f"{INSPECT_ANNOTATION}: disabled contradicts inspectionMode {spec.inspection_mode!r}; "
                "remove one of them",
            )
        spec = msgspec.structs.replace(spec, inspection_mode="disabled")
    if spec.image is not None and spec.image.url.startswith("oci://") and spec.image.checksum:
        raise ManifestProblem("spec.image.checksum", "must be empty for an oci:// image")
    return spec


def _consumer(raw: object) -> ConsumerRef | None:
    if not isinstance(raw, Mapping) or not raw.get("name"):
        return None
    return ConsumerRef(
        api_version=str(raw.get("apiVersion") or ""),
        kind=str(raw.get("kind") or ""),
        namespace=str(raw.get("namespace") or ""),
        name=str(raw["name"]),
        uid=str(raw.get("uid") or ""),
    )
