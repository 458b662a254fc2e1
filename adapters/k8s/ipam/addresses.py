"""The IPAddress object of an allocation, and which pool an existing IPAddress belongs to.

An IPAddress materialises one ``AddressAllocated``: Metal3's name, spec and owner references,
labels copied from the claim, and the finalizer ``ipaddress.ipam.metal3.io`` that only this
controller removes. ``pool_of`` is the IPAM#1437 test: an object whose ``spec.pool`` names
another pool is never adopted, changed or deleted by this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from adapters.k8s.crds.ipam import IPPOOL
from core.events.ippools import AddressAllocated

FINALIZER: Final = "ipaddress.ipam.metal3.io"


def address_object(held: AddressAllocated) -> dict[str, Any]:
    """The IPAddress (metadata and spec) for ``held``, in the pool's namespace."""
    pool = held.pool
    spec: dict[str, Any] = {
        "address": held.address,
        "pool": {"name": pool.name, "namespace": pool.namespace},
        "claim": {"name": held.claim, "namespace": pool.namespace},
    }
    if held.prefix:
        spec["prefix"] = held.prefix
    if held.gateway is not None:
        spec["gateway"] = held.gateway
    if held.dns_servers:
        spec["dnsServers"] = list(held.dns_servers)
    owners = [
        {
            "apiVersion": IPPOOL.resource.api_version,
            "kind": IPPOOL.resource.kind,
            "name": pool.name,
            "uid": pool.uid,
        },
        *({"apiVersion": o.api_version, "kind": o.kind, "name": o.name, "uid": o.uid} for o in held.owners),
    ]
    metadata: dict[str, Any] = {
        "name": held.address_name,
        "namespace": pool.namespace,
        "ownerReferences": owners,
        "finalizers": [FINALIZER],
    }
    if held.labels:
        metadata["labels"] = dict(held.labels)
    return {"metadata": metadata, "spec": spec}


def pool_of(obj: Mapping[str, Any]) -> str:
    """``<namespace>/<name>`` of the pool an IPAddress names in ``spec.pool``."""
    metadata = obj.get("metadata") or {}
    pool = (obj.get("spec") or {}).get("pool") or {}
    return f"{pool.get('namespace') or metadata.get('namespace') or ''}/{pool.get('name') or ''}"


def claim_of(obj: Mapping[str, Any]) -> str:
    """The claim name an IPAddress names in ``spec.claim``."""
    return str(((obj.get("spec") or {}).get("claim") or {}).get("name") or "")
