"""IP pool (Metal3 IPAM ``IPPool``) event payloads: the pool's spec and every address it hands out.

One pool is one aggregate, so every allocation of a pool is decided against all the others and
appended with optimistic concurrency on the pool's own subject: two claims can never be given the
same address, whichever process or thread decides them. Tags are ``ippool.<fact>`` and never
change once released.

An allocation's identity is the pool (namespace, name and uid, in ``PoolRef``) plus the address;
``addressName`` is the IPAddress object that materialises it. See ``core.aggregates.ippools`` for
how that name is kept from colliding with another pool's (Metal3 IPAM#1437).
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from core.events.base import Event
from core.events.codec import EventCodec
from core.events.ippool_values import AllocationSource, OwnerRef, PoolRef, PoolSpec

AGGREGATE_TYPE = "ippool"


class PoolCreated(Event, tag="ippool.created", frozen=True, kw_only=True):
    """An IPPool object was seen for the first time (or re-created after deletion)."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: PoolSpec


class PoolSpecChanged(Event, tag="ippool.spec_changed", frozen=True, kw_only=True):
    """The user changed the pool's spec; ``spec`` is the whole new desired state."""

    generation: int
    spec: PoolSpec


class AddressAllocated(Event, tag="ippool.address_allocated", frozen=True, kw_only=True):
    """``claim`` now holds ``address``; no other claim gets it until it is released."""

    claim: str
    address: str
    """Canonical text form (IPv6 compressed, lower case)."""
    address_name: str
    """Name of the IPAddress object for this allocation, unique among the pool's allocations."""
    pool: PoolRef
    prefix: int
    gateway: str | None = None
    dns_servers: tuple[str, ...] = ()
    source: AllocationSource = "sequential"
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    """Copied from the claim to the IPAddress object."""
    owners: tuple[OwnerRef, ...] = ()
    """Owner references of the IPAddress object besides the pool (normally the IPClaim)."""


class AddressReleased(Event, tag="ippool.address_released", frozen=True, kw_only=True):
    """``claim`` gave ``address`` back; its IPAddress object ``address_name`` is to be deleted."""

    claim: str
    address: str
    address_name: str


class AddressRenamed(Event, tag="ippool.address_renamed", frozen=True, kw_only=True):
    """The IPAddress name of ``claim`` was owned by another pool (``taken_by``); it got a pool-unique one."""

    claim: str
    address: str
    previous_name: str
    address_name: str
    taken_by: str
    """``<namespace>/<name>`` of the pool whose IPAddress object holds ``previous_name``."""


class DeletionRequested(Event, tag="ippool.deletion_requested", frozen=True, kw_only=True):
    """The IPPool got a deletionTimestamp; no new address is handed out from now on."""


class PoolDeleted(Event, tag="ippool.deleted", frozen=True, kw_only=True):
    """Deletion was requested and no address is allocated any more: the finalizer may be removed."""


IPPoolEvent: TypeAlias = (
    PoolCreated
    | PoolSpecChanged
    | AddressAllocated
    | AddressReleased
    | AddressRenamed
    | DeletionRequested
    | PoolDeleted
)

IPAM_EVENT_CLASSES: tuple[type[Event], ...] = IPPoolEvent.__args__

CODEC = EventCodec(AGGREGATE_TYPE, IPAM_EVENT_CLASSES)
"""The one decoder for IP pool events."""
