"""In-memory stand-ins for the IPAM controller's ports: the real pool aggregate behind a command
handler on the in-memory store, and a cluster keeping IPAddress objects in a dict and recording
every write (the same controller runs against the real API server in the end-to-end tests)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from core.aggregates import ippool_commands as cmd
from core.aggregates import ippools
from core.aggregates.ippool_state import PoolState
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.registry import CODECS
from tests.fakes.memory_eventstore import MemoryEventStore

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
NAMESPACE = "metal3"


class AggregateCommands:
    """``PoolCommands`` on the real pool aggregate, stored in memory; counts what it records."""

    def __init__(self) -> None:
        self.store = MemoryEventStore(CODECS)
        self.handler: CommandHandler[PoolState, cmd.PoolCommand] = CommandHandler(
            self.store, ippools.DEFINITION, clock=lambda: NOW
        )
        self.sent: list[cmd.PoolCommand] = []
        self.recorded = 0

    async def state(self, pool_id: str) -> PoolState:
        state, _ = await self.handler.load(pool_id)
        return state

    async def send(self, pool_id: str, command: cmd.PoolCommand) -> PoolState:
        self.sent.append(command)
        outcome = await self.handler.handle(pool_id, command, CommandContext(actor="test"))
        self.recorded += len(outcome.events)
        return outcome.state

    def kinds(self) -> list[str]:
        return [type(c).__name__ for c in self.sent]


def _key(obj: Mapping[str, Any]) -> str:
    return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"


@dataclass
class MemoryCluster:
    """``IpamCluster`` with IPAddresses in a dict; statuses, labels and finalizers recorded per object key."""

    addresses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    statuses: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)
    finalizers: list[tuple[str, str, bool]] = field(default_factory=list)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)

    async def set_finalizer(
        self, obj: Mapping[str, Any], finalizer: str, *, present: bool
    ) -> Mapping[str, Any] | None:
        self.finalizers.append((_key(obj), finalizer, present))
        stored = copy.deepcopy(dict(obj))
        current = [f for f in stored["metadata"].get("finalizers") or [] if f != finalizer]
        stored["metadata"]["finalizers"] = [*current, finalizer] if present else current
        return stored

    async def set_labels(self, obj: Mapping[str, Any], labels: Mapping[str, str]) -> Mapping[str, Any] | None:
        self.labels.setdefault(_key(obj), {}).update(labels)
        stored = copy.deepcopy(dict(obj))
        stored["metadata"]["labels"] = {**(stored["metadata"].get("labels") or {}), **labels}
        return stored

    async def write_status(
        self, obj: Mapping[str, Any], status: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        self.statuses.setdefault(_key(obj), []).append(copy.deepcopy(dict(status)))
        return {**obj, "status": dict(status)}

    def status(self, key: str) -> Mapping[str, Any]:
        return self.statuses[key][-1]

    async def get_address(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.addresses.get((namespace, name))

    async def create_address(self, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        key = (body["metadata"]["namespace"], body["metadata"]["name"])
        if key in self.addresses:
            return None
        self.addresses[key] = copy.deepcopy(dict(body))
        return self.addresses[key]

    async def delete_address(self, namespace: str, name: str) -> None:
        if self.addresses.pop((namespace, name), None) is not None:
            self.deleted.append(name)

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        self.events.append((kind, reason, message))

    def foreign_address(self, name: str, pool: str, claim: str, address: str) -> None:
        """An IPAddress made by someone else for ``pool`` (another pool's, for IPAM#1437 tests)."""
        self.addresses[(NAMESPACE, name)] = {
            "metadata": {"name": name, "namespace": NAMESPACE, "finalizers": ["ipaddress.ipam.metal3.io"]},
            "spec": {"address": address, "pool": {"name": pool}, "claim": {"name": claim}},
        }


def pool_object(
    name: str = "provisioning",
    *,
    uid: str | None = None,
    generation: int = 1,
    finalizers: list[str] | None = None,
    deleting: bool = False,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """An IPPool as the API server returns it; ``spec`` defaults to Metal3's sample pool."""
    body: dict[str, Any] = {
        "clusterName": "cluster-1",
        "namePrefix": "provisioning",
        "pools": [
            {"start": "192.168.0.10", "end": "192.168.0.12"},
            {"subnet": "192.168.1.0/30", "prefix": 30, "gateway": "192.168.1.1"},
        ],
        "prefix": 24,
        "gateway": "192.168.0.1",
        "dnsServers": ["8.8.8.8"],
        "preAllocations": {"reserved-claim": "192.168.0.12"},
    }
    body.update(spec)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": uid or f"uid-pool-{name}",
        "generation": generation,
        "resourceVersion": "1",
        "finalizers": ["ippool.ipam.metal3.io"] if finalizers is None else finalizers,
    }
    if labels is not None:
        metadata["labels"] = labels
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-24T09:00:00Z"
    return {"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool", "metadata": metadata, "spec": body}


def claim_object(
    name: str,
    pool: str = "provisioning",
    *,
    uid: str | None = None,
    annotations: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
    deleting: bool = False,
    pool_namespace: str | None = None,
) -> dict[str, Any]:
    """An IPClaim as the API server returns it."""
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": uid or f"uid-claim-{name}",
        "generation": 1,
        "resourceVersion": "1",
        "finalizers": ["ipclaim.ipam.metal3.io"] if finalizers is None else finalizers,
        "labels": labels or {},
        "annotations": annotations or {},
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-24T09:00:00Z"
    ref: dict[str, Any] = {"name": pool}
    if pool_namespace is not None:
        ref["namespace"] = pool_namespace
    return {
        "apiVersion": "ipam.metal3.io/v1alpha1",
        "kind": "IPClaim",
        "metadata": metadata,
        "spec": {"pool": ref},
    }
