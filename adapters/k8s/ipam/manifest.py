"""IPPool and IPClaim objects (as the API server returns them) read into the pool aggregate's terms.

The CRD schema already checked types and patterns; what it cannot check (an address inside its
range, duplicate pre-allocations, a claim pointing into another namespace) is reported here as a
``ManifestProblem`` that names the field and the fix, before any command is sent. Unknown fields
are ignored, as Metal3 ignores them, so manifests written for a newer IPAM still apply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from core.aggregates import ip_ranges
from core.events.ippool_values import PoolSpec

REQUESTED_ADDRESS_ANNOTATION: Final = "ipAddress"
"""Metal3's claim annotation asking for one exact address."""
_PATH_IN_ERROR: Final = re.compile(r" - at `\$(?P<path>[^`]*)`$")


class ManifestProblem(ValueError):
    """The object cannot be used as written: ``field`` is its JSON path, ``message`` says the fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Meta:
    """The metadata both kinds need."""

    namespace: str
    name: str
    uid: str
    generation: int
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    finalizers: tuple[str, ...] = ()
    deleting: bool = False
    """``metadata.deletionTimestamp`` is set."""

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class PoolObject:
    """What the controller needs from one IPPool: its metadata and the spec as ``ApplyPoolSpec`` takes it."""

    meta: Meta
    spec: PoolSpec
    status: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClaimObject:
    """What the controller needs from one IPClaim."""

    meta: Meta
    pool_name: str
    requested_address: str | None
    """The ``ipAddress`` annotation, if set."""
    status: Mapping[str, Any] = field(default_factory=dict)

    @property
    def pool_id(self) -> str:
        """The pool aggregate's id: the pool lives in the claim's namespace."""
        return f"{self.meta.namespace}/{self.pool_name}"


def read_meta(obj: Mapping[str, Any]) -> Meta:
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        raise ManifestProblem("metadata", "the object has no metadata")
    return Meta(
        namespace=str(metadata.get("namespace") or ""),
        name=str(metadata.get("name") or ""),
        uid=str(metadata.get("uid") or ""),
        generation=int(metadata.get("generation") or 0),
        labels={str(k): str(v) for k, v in (metadata.get("labels") or {}).items()},
        annotations={str(k): str(v) for k, v in (metadata.get("annotations") or {}).items()},
        finalizers=tuple(str(f) for f in metadata.get("finalizers") or ()),
        deleting=bool(metadata.get("deletionTimestamp")),
    )


def _spec_path(error: msgspec.ValidationError) -> tuple[str, str]:
    """The field a msgspec validation error is about, as ``spec.…``, and the message without the path."""
    text = str(error)
    found = _PATH_IN_ERROR.search(text)
    if found is None:
        return "spec", text
    return "spec" + found.group("path"), text[: found.start()]


def read_pool(obj: Mapping[str, Any]) -> PoolObject:
    """Read an IPPool; raises ``ManifestProblem`` for a spec the pool aggregate would refuse."""
    meta = read_meta(obj)
    raw = obj.get("spec")
    if not isinstance(raw, Mapping):
        raise ManifestProblem("spec", "an IPPool needs a spec (at least spec.namePrefix)")
    try:
        spec = msgspec.convert(raw, PoolSpec)
    except msgspec.ValidationError as error:
        path, problem = _spec_path(error)
        raise ManifestProblem(path, f"{problem}; fix the value") from None
    try:
        ip_ranges.check_spec(spec)
    except ip_ranges.InvalidField as invalid:
        raise ManifestProblem(invalid.field, invalid.problem) from None
    status = obj.get("status")
    return PoolObject(meta=meta, spec=spec, status=status if isinstance(status, Mapping) else {})


def read_claim(obj: Mapping[str, Any]) -> ClaimObject:
    """Read an IPClaim; raises ``ManifestProblem`` for a pool reference this controller cannot follow."""
    meta = read_meta(obj)
    spec = obj.get("spec")
    pool = spec.get("pool") if isinstance(spec, Mapping) else None
    if not isinstance(pool, Mapping) or not pool.get("name"):
        raise ManifestProblem("spec.pool.name", "an IPClaim must name its IPPool; set spec.pool.name")
    namespace = pool.get("namespace")
    if namespace and namespace != meta.namespace:
        raise ManifestProblem(
            "spec.pool.namespace",
            f"the pool must be in the claim's namespace {meta.namespace!r}, not {namespace!r}; "
            "create the claim next to its pool",
        )
    kind = pool.get("kind")
    if kind and kind != "IPPool":
        raise ManifestProblem("spec.pool.kind", f"{kind!r} is not a pool kind; use IPPool or leave it out")
    requested = meta.annotations.get(REQUESTED_ADDRESS_ANNOTATION)
    status = obj.get("status")
    return ClaimObject(
        meta=meta,
        pool_name=str(pool["name"]),
        requested_address=requested.strip() if requested and requested.strip() else None,
        status=status if isinstance(status, Mapping) else {},
    )
