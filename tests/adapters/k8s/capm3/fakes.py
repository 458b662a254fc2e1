"""In-memory stand-ins for the CAPM3 controllers' ports, for pure controller tests.

The aggregates are the real ones behind command handlers on the in-memory event store; the
cluster keeps objects in a dict with the API server's rules the controllers rely on (merge
patches, generation bumped by spec changes, finalizers holding a deletion, taken names).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from adapters.k8s.resources import Resource
from core.aggregates import hosts
from core.events import hosts as ev
from core.events.base import Event, EventMetadata, NewEvent
from core.events.host_values import BMCDetails, HardwareDetails, HostSpec, ProvisioningState
from core.ids import AggregateKey
from tests.fakes.memory_eventstore import MemoryEventStore

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PS = ProvisioningState


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


@dataclass
class MemoryCluster:
    """``ports.Kube`` and ``ports.Cache`` over one dict; the cache is always up to date."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    version: int = 0

    def put(self, resource: Resource, obj: Mapping[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(dict(obj))
        metadata = body.setdefault("metadata", {})
        metadata.setdefault("uid", uuid.uuid4().hex)
        metadata.setdefault("generation", 1)
        body.setdefault("apiVersion", resource.api_version)
        body.setdefault("kind", resource.kind)
        self.version += 1
        metadata["resourceVersion"] = str(self.version)
        self.objects[(resource.plural, metadata["namespace"], metadata["name"])] = body
        return body

    @property
    def cache(self) -> MemoryCache:
        return MemoryCache(self)

    def cached(self, resource: Resource, key: str) -> dict[str, Any] | None:
        namespace, _, name = key.partition("/")
        return self.objects.get((resource.plural, namespace, name))

    async def get(self, resource: Resource, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.objects.get((resource.plural, namespace, name))

    async def create(self, resource: Resource, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        metadata = body["metadata"]
        if (resource.plural, metadata["namespace"], metadata["name"]) in self.objects:
            return None
        return self.put(resource, body)

    async def patch(
        self, resource: Resource, obj: Mapping[str, Any], patch: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        metadata = obj["metadata"]
        current = self.objects.get((resource.plural, metadata["namespace"], metadata["name"]))
        if current is None:
            return None
        before = copy.deepcopy(current.get("spec"))
        _merge(current, patch)
        if current.get("spec") != before:
            current["metadata"]["generation"] += 1
        self.version += 1
        current["metadata"]["resourceVersion"] = str(self.version)
        return current

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        current = self.objects.get((resource.plural, namespace, name))
        if current is None:
            return
        if current["metadata"].get("finalizers"):
            current["metadata"]["deletionTimestamp"] = "2026-11-24T09:00:00Z"
        else:
            del self.objects[(resource.plural, namespace, name)]

    async def set_finalizer(
        self, resource: Resource, obj: Mapping[str, Any], finalizer: str, *, present: bool
    ) -> None:
        metadata = obj["metadata"]
        key = (resource.plural, metadata["namespace"], metadata["name"])
        current = self.objects.get(key)
        if current is None:
            return
        finalizers = [f for f in current["metadata"].get("finalizers") or [] if f != finalizer]
        if present:
            finalizers.append(finalizer)
        current["metadata"]["finalizers"] = finalizers
        if not finalizers and current["metadata"].get("deletionTimestamp"):
            del self.objects[key]

    async def write_status(
        self, resource: Resource, obj: Mapping[str, Any], status: Mapping[str, Any]
    ) -> None:
        metadata = obj["metadata"]
        current = self.objects.get((resource.plural, metadata["namespace"], metadata["name"]))
        if current is not None:
            current["status"] = copy.deepcopy(dict(status))

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        self.events.append((obj["metadata"]["name"], reason, message))


@dataclass
class MemoryCache:
    """``ports.Cache`` on a ``MemoryCluster`` (an informer that never lags)."""

    cluster: MemoryCluster

    def get(self, resource: Resource, key: str) -> Mapping[str, Any] | None:
        return self.cluster.cached(resource, key)

    def list(self, resource: Resource, namespace: str) -> Sequence[Mapping[str, Any]]:
        return [
            o
            for (plural, ns, _), o in sorted(self.cluster.objects.items())
            if (plural, ns) == (resource.plural, namespace)
        ]


async def append(store: MemoryEventStore, host_id: str, *events: Event) -> None:
    """Record host events as if the BareMetalHost controller and the provisioner had."""
    key = AggregateKey(type=hosts.DEFINITION.type, id=host_id)
    history = await store.load(key)
    new = [
        NewEvent(
            event=e,
            meta=EventMetadata(
                event_id=uuid.uuid4().hex, occurred_at=NOW, actor="test", correlation_id="test"
            ),
        )
        for e in events
    ]
    await store.append(key, new, expected=history.revision)


async def add_available_host(
    store: MemoryEventStore, namespace: str, name: str, hardware: HardwareDetails | None = None
) -> None:
    """A host whose log says it is registered, inspected and available (no consumer)."""
    spec = HostSpec(bmc=BMCDetails(address=f"fake-hardware://{name}"), online=True)
    history: list[Event] = [
        ev.HostCreated(namespace=namespace, name=name, uid=uuid.uuid4().hex, generation=1, spec=spec),
        ev.ProvisioningStateChanged(previous=PS.NONE, state=PS.AVAILABLE, reason="test", at=NOW),
    ]
    if hardware is not None:
        history.append(ev.HardwareInspected(hardware=hardware))
    await append(store, f"{namespace}/{name}", *history)
