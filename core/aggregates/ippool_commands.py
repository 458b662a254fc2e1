"""Commands an IP pool accepts: what the IPPool and IPClaim objects declare, and what the adapter finds.

The Kubernetes adapter turns IPPool objects into ``ApplyPoolSpec`` and ``RequestPoolDeletion``,
and IPClaims (or CAPI IPAddressClaims pointing at a metal3 pool) into ``AllocateAddress`` and
``ReleaseAddress``. Anything ``decide`` would otherwise take from the outside world comes in the
command: the random strategy's draw is ``AllocateAddress.choice``, so ``decide`` stays pure and
a test can pin the address a random pool hands out.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from core.events.ippool_values import OwnerRef, PoolSpec


class ApplyPoolSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Create the pool or record a new spec generation; older or equal generations are ignored."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: PoolSpec


class AllocateAddress(msgspec.Struct, frozen=True, kw_only=True):
    """Give ``claim`` an address, or confirm the one it already holds (then nothing is recorded)."""

    claim: str
    requested_address: str | None = None
    """The claim's ``ipAddress`` annotation: this exact address or an error, never another one."""
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    owners: tuple[OwnerRef, ...] = ()
    choice: int = 0
    """A uniformly random non-negative integer drawn by the caller; the random strategy starts its
    search at ``choice`` modulo the range's size. Ignored by the sequential strategy."""


class ReleaseAddress(msgspec.Struct, frozen=True, kw_only=True):
    """``claim`` no longer needs its address (the IPClaim is being deleted)."""

    claim: str


class RequestPoolDeletion(msgspec.Struct, frozen=True, kw_only=True):
    """The IPPool got a deletionTimestamp: it completes once no address is allocated."""


class ReportNameCollision(msgspec.Struct, frozen=True, kw_only=True):
    """The IPAddress object ``address_name`` of ``claim`` exists but belongs to the pool ``taken_by``."""

    claim: str
    address_name: str
    taken_by: str
    """``<namespace>/<name>`` of the pool that owns the existing object (its ``spec.pool``)."""


PoolCommand: TypeAlias = (
    ApplyPoolSpec | AllocateAddress | ReleaseAddress | RequestPoolDeletion | ReportNameCollision
)
