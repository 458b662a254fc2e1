"""Cluster API's IPAM kinds as metal3 pools answer them: discovery, and the IPAddress of an allocation.

``ipam.cluster.x-k8s.io`` may be absent (Cluster API not installed) and its version varies
(v1beta1, v1beta2 preferred since CAPI 1.11); the fields used here are the same in both, so the
composition root asks discovery for the preferred version once at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from adapters.k8s import discovery
from adapters.k8s.connection import Connection
from adapters.k8s.crds.ipam import IPPOOL
from adapters.k8s.ipam import addresses
from adapters.k8s.resources import Resource
from core.events.ippools import AddressAllocated

GROUP: Final = "ipam.cluster.x-k8s.io"


@dataclass(frozen=True, slots=True)
class CapiIpamResources:
    """The served IPAddressClaim and IPAddress kinds (in the version discovery prefers)."""

    claims: Resource
    addresses: Resource

    @classmethod
    def at(cls, version: str) -> CapiIpamResources:
        return cls(
            claims=Resource(group=GROUP, version=version, plural="ipaddressclaims", kind="IPAddressClaim"),
            addresses=Resource(group=GROUP, version=version, plural="ipaddresses", kind="IPAddress"),
        )


async def discover(conn: Connection) -> CapiIpamResources | None:
    """The CAPI IPAM resources in the preferred served version; None when they are not installed."""
    version = await discovery.preferred_version(conn, GROUP)
    return CapiIpamResources.at(version) if version else None


def pool_name(claim: Mapping[str, Any]) -> str | None:
    """The metal3 IPPool a claim asks for; None for another provider's pool kind."""
    ref = (claim.get("spec") or {}).get("poolRef") or {}
    if ref.get("apiGroup") != IPPOOL.resource.group or ref.get("kind") != IPPOOL.resource.kind:
        return None
    name = ref.get("name")
    return str(name) if name else None


def address_object(
    held: AddressAllocated, claim: Mapping[str, Any], resources: CapiIpamResources
) -> dict[str, Any]:
    """The CAPI IPAddress for ``held``: the metal3 one's name, labels and owners, CAPI's spec."""
    metal3 = addresses.address_object(held)
    spec: dict[str, Any] = {
        "address": held.address,
        "poolRef": {"apiGroup": IPPOOL.resource.group, "kind": IPPOOL.resource.kind, "name": held.pool.name},
        "claimRef": {"name": held.claim},
        "prefix": held.prefix,
    }
    if held.gateway is not None:
        spec["gateway"] = held.gateway
    claim_owners = [
        {k: o[k] for k in ("apiVersion", "kind", "name", "uid") if k in o}
        for o in (claim.get("metadata") or {}).get("ownerReferences") or []
    ]
    metadata = metal3["metadata"]
    metadata["ownerReferences"] = [*claim_owners, *metadata["ownerReferences"]]
    return {
        "apiVersion": resources.addresses.api_version,
        "kind": resources.addresses.kind,
        **metal3,
        "spec": spec,
    }


def pool_of(address: Mapping[str, Any]) -> str:
    """``<namespace>/<name>`` of the pool a CAPI IPAddress names in ``spec.poolRef``."""
    metadata = address.get("metadata") or {}
    ref = (address.get("spec") or {}).get("poolRef") or {}
    if ref.get("apiGroup") != IPPOOL.resource.group or ref.get("kind") != IPPOOL.resource.kind:
        return ""
    return f"{metadata.get('namespace') or ''}/{ref.get('name') or ''}"


def claim_of(address: Mapping[str, Any]) -> str:
    """The claim name a CAPI IPAddress names in ``spec.claimRef``."""
    return str(((address.get("spec") or {}).get("claimRef") or {}).get("name") or "")
