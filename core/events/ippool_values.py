"""Value types of IP pool events, shaped like Metal3 IPAM's ``IPPool`` API (``ipam.metal3.io``).

They use Metal3's camelCase JSON names, so a pool's spec reads the same in an event, in
``kubectl get ippool -o yaml`` and in Metal3's documentation. ``prefix`` keeps Metal3's meaning
of 0 as "not set", so the Kubernetes adapter can pass the Go-shaped object through unchanged.

``preAllocations`` and ``labels`` are JSON maps on the wire, so they are ``dict`` fields here:
they are treated as read-only once built, like every other value in an event.
"""

from __future__ import annotations

from typing import Literal

import msgspec

AllocationStrategy = Literal["sequential", "random"]
"""How an address is chosen inside one range: the lowest free one, or a random free one."""

AllocationSource = Literal["sequential", "random", "requested", "preallocated"]
"""Why a claim got its address: the strategy, its ``ipAddress`` annotation, or ``preAllocations``."""


class _Value(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Base of the value types: immutable, camelCase on the wire, defaults left out."""


class AddressRange(_Value, frozen=True, kw_only=True):
    """One entry of ``spec.pools``: a range of addresses and what its addresses carry.

    The range is ``start``..``end``; without ``end`` it runs to the last address of ``subnet``,
    and without ``start`` it begins right after the subnet's network address (Metal3's rule).
    Per-range ``prefix``, ``gateway`` and ``dnsServers`` override the pool-level ones.
    """

    start: str | None = None
    end: str | None = None
    subnet: str | None = None
    """CIDR; bounds the range, and gives its start when ``start`` is not set."""
    prefix: int = 0
    """Prefix length handed out with the address; 0 means "use the pool's"."""
    gateway: str | None = None
    dns_servers: tuple[str, ...] = ()


class PoolSpec(_Value, frozen=True, kw_only=True):
    """``IPPool.spec``: the ranges, defaults and reservations of one pool."""

    name_prefix: str
    """Prefix of the IPAddress object names: ``<namePrefix>-<address with . and : as ->``."""
    cluster_name: str | None = None
    pools: tuple[AddressRange, ...] = ()
    allocation_strategy: AllocationStrategy = "sequential"
    pre_allocations: dict[str, str] = msgspec.field(default_factory=dict)
    """Claim name to the address reserved for it; no other claim ever gets that address."""
    prefix: int = 0
    gateway: str | None = None
    dns_servers: tuple[str, ...] = ()


class PoolRef(_Value, frozen=True, kw_only=True):
    """Which pool an allocation belongs to, down to the object's uid (the allocation identity)."""

    namespace: str
    name: str
    uid: str


class OwnerRef(_Value, frozen=True, kw_only=True):
    """An owner reference the IPAddress object gets besides its pool (normally the IPClaim)."""

    api_version: str
    kind: str
    name: str
    uid: str
