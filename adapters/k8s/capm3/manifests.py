"""Reading CAPM3 objects into the domain's values: Metal3Machine specs and Metal3DataTemplate specs.

The CRDs keep v1beta1 and v1beta2 fields side by side (``crds.capm3_versioning``), so one object
may be written in either version's words. Reading folds them into the v1beta2 shape the domain
values use: ``image.format`` becomes ``diskFormat``, ``*FromIPPool`` metadata sources join
``*FromPool``, a bond's ``parameters`` map becomes a list of ``{name, value}``. A field the
domain cannot take raises ``ManifestProblem`` naming it, for a Warning event on the object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from adapters.k8s.capm3.names import HOST_ANNOTATION
from core.events.data_template_values import DataTemplateSpec
from core.events.machine_values import HostRef, MachineSpec


class ManifestProblem(ValueError):
    """The object cannot be used as written: ``field`` is its JSON path, the message says the fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """The metadata every controller reads."""

    namespace: str
    name: str
    uid: str
    generation: int
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    finalizers: tuple[str, ...]
    deleting: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def meta_of(obj: Mapping[str, Any]) -> ObjectMeta:
    metadata = obj.get("metadata") or {}
    return ObjectMeta(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        uid=str(metadata.get("uid") or ""),
        generation=int(metadata.get("generation") or 0),
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        finalizers=tuple(metadata.get("finalizers") or ()),
        deleting=bool(metadata.get("deletionTimestamp")),
    )


@dataclass(frozen=True, slots=True)
class MachineObject:
    """A Metal3Machine as the controller needs it."""

    meta: ObjectMeta
    spec: MachineSpec
    provider_id: str
    host: HostRef | None
    """From the ``metal3.io/BareMetalHost`` annotation."""
    owner_machine: str
    """The CAPI Machine owning it (by owner reference), or the Metal3Machine's own name."""


def _ref(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, Mapping) or not raw.get("name"):
        return None
    out = {"name": raw["name"]}
    if raw.get("namespace"):
        out["namespace"] = raw["namespace"]
    return out


def _machine_spec(raw: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    image = raw.get("image")
    if isinstance(image, Mapping) and image.get("url"):
        spec["image"] = {
            k: v
            for k, v in {
                "url": image["url"],
                "checksum": image.get("checksum") or None,
                "checksumType": image.get("checksumType") or None,
                "diskFormat": image.get("diskFormat") or image.get("format") or None,
            }.items()
            if v is not None
        }
    custom = raw.get("customDeploy")
    if isinstance(custom, Mapping) and custom.get("method"):
        spec["customDeploy"] = {"method": custom["method"]}
    for field in ("userData", "metaData", "networkData", "dataTemplate"):
        ref = _ref(raw.get(field))
        if ref is not None:
            spec[field] = ref
    selector = raw.get("hostSelector")
    if isinstance(selector, Mapping):
        spec["hostSelector"] = {
            "matchLabels": dict(selector.get("matchLabels") or {}),
            "matchExpressions": [
                {"key": e.get("key", ""), "operator": e.get("operator", ""), "values": e.get("values") or []}
                for e in selector.get("matchExpressions") or []
            ],
        }
    for field in ("automatedCleaningMode", "failureDomain"):
        if raw.get(field):
            spec[field] = raw[field]
    return spec


def _host_ref(value: str | None, namespace: str) -> HostRef | None:
    if not value:
        return None
    host_namespace, _, name = value.rpartition("/")
    return HostRef(namespace=host_namespace or namespace, name=name)


def read_machine(obj: Mapping[str, Any]) -> MachineObject:
    """The machine's metadata and spec, or ``ManifestProblem``."""
    meta = meta_of(obj)
    raw = obj.get("spec") or {}
    try:
        spec = msgspec.convert(_machine_spec(raw), MachineSpec)
    except msgspec.ValidationError as error:
        raise ManifestProblem("spec", f"{error}; fix the Metal3Machine spec") from None
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    owner = next((o.get("name") for o in owners if o.get("kind") == "Machine" and o.get("name")), None)
    return MachineObject(
        meta=meta,
        spec=spec,
        provider_id=str(raw.get("providerID") or ""),
        host=_host_ref(meta.annotations.get(HOST_ANNOTATION), meta.namespace),
        owner_machine=str(owner or meta.name),
    )


# --- Metal3DataTemplate ---------------------------------------------------------------------------------

_POOL_SOURCES = ("ipAddresses", "prefixes", "gateways", "dnsServers")


def _meta_data(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in raw.items() if not k.endswith("FromIPPool")}
    for source in _POOL_SOURCES:
        merged = list(raw.get(f"{source}FromPool") or []) + list(raw.get(f"{source}FromIPPool") or [])
        if merged:
            out[f"{source}FromPool"] = merged
    return out


def _bond(raw: Mapping[str, Any], field: str) -> dict[str, Any]:
    out = dict(raw)
    parameters = raw.get("parameters")
    if isinstance(parameters, Mapping):
        out["parameters"] = [{"name": k, "value": v} for k, v in sorted(parameters.items())]
    elif parameters is not None and not isinstance(parameters, list):
        raise ManifestProblem(f"{field}.parameters", "must be a list of {name, value} (or a v1beta1 map)")
    return out


def _network_data(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    links = raw.get("links")
    if isinstance(links, Mapping) and links.get("bonds"):
        bonds = [
            _bond(b, f"spec.networkData.links.bonds[{i}]") for i, b in enumerate(links.get("bonds") or [])
        ]
        out["links"] = {**links, "bonds": bonds}
    return out


def read_template_spec(obj: Mapping[str, Any]) -> DataTemplateSpec:
    """A Metal3DataTemplate's spec in the domain's (v1beta2) shape, or ``ManifestProblem``."""
    raw = dict(obj.get("spec") or {})
    if isinstance(raw.get("metaData"), Mapping):
        raw["metaData"] = _meta_data(raw["metaData"])
    if isinstance(raw.get("networkData"), Mapping):
        raw["networkData"] = _network_data(raw["networkData"])
    raw.pop("templateReference", None)
    try:
        return msgspec.convert(raw, DataTemplateSpec)
    except msgspec.ValidationError as error:
        raise ManifestProblem("spec", f"{error}; fix the Metal3DataTemplate spec") from None


def ref_name(obj: Mapping[str, Any], *path: str) -> str:
    """The ``name`` of the reference at ``spec.<path>`` (empty when absent)."""
    current: Any = obj
    for step in path:
        current = current.get(step) if isinstance(current, Mapping) else None
    return str(current.get("name") or "") if isinstance(current, Mapping) else ""
