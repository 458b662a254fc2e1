"""Cluster API IPAddressClaims served from metal3 IPPools (Metal3 IPAM as a CAPI IPAM provider).

Cluster API defines a provider-neutral contract (``ipam.cluster.x-k8s.io``): an infrastructure
provider files an ``IPAddressClaim`` whose ``spec.poolRef`` names a pool of any provider, and the
provider owning that pool kind answers with an ``IPAddress`` and the claim's
``status.addressRef``. Metal3 IPAM answers claims whose pool is an ``ipam.metal3.io`` ``IPPool``;
so does this controller, on the same pool aggregate as IPClaims, so an address is never given to
an IPClaim and an IPAddressClaim at once.

As in Metal3: the claim gets the finalizer ``ipam.metal3.io/ipaddressclaim``; the IPAddress is
named ``<namePrefix>-<ip>``, carries the claim's labels, owner references to the claim's owners,
the pool and the claim, and the finalizer ``ipaddress.ipam.metal3.io``; deleting the claim
deletes the address and releases it. The claim's ``Ready`` condition says why it has no address
(no such pool, pool exhausted, requested address taken), in the words IPClaims get in
``status.errorMessage``.

Both kinds share the pool's allocations, which are keyed by claim name (as in Metal3): an
IPAddressClaim named like an IPClaim of the same pool is refused with a message instead of
taking the other claim's address. Claims of other pool kinds are left to their providers.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final, Literal

import structlog

from adapters.k8s.ipam.capi_addresses import CapiIpamResources, address_object, claim_of, pool_name, pool_of
from adapters.k8s.ipam.controller import AddressPending
from adapters.k8s.ipam.manifest import REQUESTED_ADDRESS_ANNOTATION, Meta, read_meta
from adapters.k8s.ipam.ports import IpamCluster, PoolCommands
from core.aggregates import ippool_commands as cmd
from core.aggregates.ippools import AllocationRefused
from core.errors import AggregateNotFound, CommandRejected
from core.events.ippool_values import OwnerRef
from core.events.ippools import AddressAllocated

log = structlog.get_logger("metalstream.k8s.ipam.capi")

CLAIM_FINALIZER: Final = "ipam.metal3.io/ipaddressclaim"
PAUSED_ANNOTATION: Final = "cluster.x-k8s.io/paused"
MAX_RENAMES: Final = 3


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _ready(
    previous: Mapping[str, Any] | None,
    status: Literal["True", "False"],
    reason: str,
    message: str,
    now: datetime,
) -> list[dict[str, Any]]:
    """The claim's conditions with ``Ready`` set (its transition time kept while unchanged)."""
    conditions = [dict(c) for c in (previous or {}).get("conditions") or [] if c.get("type") != "Ready"]
    before: Mapping[str, Any] = next(
        (c for c in (previous or {}).get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    since = before.get("lastTransitionTime") if before.get("status") == status else None
    conditions.append(
        {
            "type": "Ready",
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": since or _stamp(now),
        }
    )
    return conditions


class CapiClaimController:
    """Reconciles IPAddressClaims that name a metal3 IPPool; the work queue calls ``reconcile``."""

    def __init__(
        self,
        commands: PoolCommands,
        cluster: IpamCluster,
        resources: CapiIpamResources,
        *,
        clock: Callable[[], datetime] | None = None,
        choose: Callable[[], int] | None = None,
    ) -> None:
        self._commands = commands
        self._cluster = cluster
        self._resources = resources
        self._clock = clock or (lambda: datetime.now(UTC))
        self._choose = choose or (lambda: secrets.randbelow(1 << 62))
        self._pools: dict[str, str] = {}
        """Claim key to pool id, for a claim that disappears without our finalizer's consent."""
        self._reported: dict[str, str] = {}

    async def reconcile(self, obj: Mapping[str, Any] | None, key: str) -> None:
        """Allocate (or release) the claim's address, materialise its IPAddress, write its status."""
        if obj is None:
            pool_id = self._pools.pop(key, None)
            self._reported.pop(key, None)
            if pool_id is not None:
                await self._release(pool_id, key.rpartition("/")[2])
            return
        pool = pool_name(obj)
        if pool is None:
            return  # another provider's pool
        meta = read_meta(obj)
        pool_id = f"{meta.namespace}/{pool}"
        if PAUSED_ANNOTATION in meta.annotations:
            return
        if meta.deleting:
            await self._deleting(obj, meta, pool_id)
            return
        self._pools[meta.id] = pool_id
        if CLAIM_FINALIZER not in meta.finalizers:
            stored = await self._cluster.set_finalizer(obj, CLAIM_FINALIZER, present=True)
            if stored is None:
                return
            obj = stored
        state = await self._commands.state(pool_id)
        if not state.exists or state.deleted:
            await self._fail(
                obj, meta, "PoolNotFound", f"IPPool {pool!r} not found in namespace {meta.namespace!r}"
            )
            return
        held = state.allocation(meta.name)
        if held is not None and held.owners and all(o.uid != meta.uid for o in held.owners):
            if all(o.kind == self._resources.claims.kind for o in held.owners):
                await self._release(pool_id, meta.name)  # an earlier claim object of the same name
                held = None
            else:
                kinds = ", ".join(sorted({o.kind for o in held.owners}))
                message = (
                    f"the pool's address for the name {meta.name!r} is held by a {kinds}; "
                    "IPAddressClaims and IPClaims of one pool need different names"
                )
                await self._fail(obj, meta, "NameTaken", message)
                return
        try:
            if held is None:
                held = await self._allocate(obj, meta, pool_id)
            held = await self._materialise(pool_id, held, obj)
        except AllocationRefused as refused:
            await self._fail(obj, meta, "AllocationFailed", refused.claim_message)
            return
        except (CommandRejected, AggregateNotFound) as refused:
            await self._fail(obj, meta, "AllocationFailed", str(refused))
            return
        if held is not None:
            previous = obj.get("status") if isinstance(obj.get("status"), Mapping) else None
            status = {
                "addressRef": {"name": held.address_name},
                "conditions": _ready(previous, "True", "Allocated", "", self._clock()),
            }
            await self._cluster.write_status(obj, status)
            self._reported.pop(meta.id, None)

    async def _allocate(self, obj: Mapping[str, Any], meta: Meta, pool_id: str) -> AddressAllocated | None:
        owner = OwnerRef(
            api_version=str(obj.get("apiVersion") or self._resources.claims.api_version),
            kind=self._resources.claims.kind,
            name=meta.name,
            uid=meta.uid,
        )
        requested = meta.annotations.get(REQUESTED_ADDRESS_ANNOTATION, "").strip() or None
        command = cmd.AllocateAddress(
            claim=meta.name,
            requested_address=requested,
            labels=dict(meta.labels),
            owners=(owner,),
            choice=self._choose(),
        )
        return (await self._commands.send(pool_id, command)).allocation(meta.name)

    async def _materialise(
        self, pool_id: str, held: AddressAllocated | None, claim: Mapping[str, Any]
    ) -> AddressAllocated | None:
        """Make sure ``held``'s CAPI IPAddress exists and is this pool's (renaming on a collision)."""
        for _ in range(MAX_RENAMES):
            if held is None:
                return None
            namespace = held.pool.namespace
            existing = await self._cluster.get_address(namespace, held.address_name)
            if existing is None:
                body = address_object(held, claim, self._resources)
                if await self._cluster.create_address(body) is not None:
                    return held
                existing = await self._cluster.get_address(namespace, held.address_name)
                if existing is None:
                    raise AddressPending(f"IPAddress {namespace}/{held.address_name} appeared and vanished")
            owner = pool_of(existing)
            if owner == pool_id:
                holder = claim_of(existing)
                if holder == held.claim:
                    return held
                current = (await self._commands.state(pool_id)).allocation(holder)
                if current is not None and current.address_name == held.address_name:
                    raise AddressPending(f"IPAddress {held.address_name} is still held by claim {holder!r}")
                await self._cluster.delete_address(namespace, held.address_name)
                continue
            state = await self._commands.send(
                pool_id,
                cmd.ReportNameCollision(
                    claim=held.claim, address_name=held.address_name, taken_by=owner or "another provider"
                ),
            )
            held = state.allocation(held.claim)
        raise AddressPending(f"IPAddress of pool {pool_id} still not settled after {MAX_RENAMES} attempts")

    async def _deleting(self, obj: Mapping[str, Any], meta: Meta, pool_id: str) -> None:
        if CLAIM_FINALIZER not in meta.finalizers:
            return
        await self._release(pool_id, meta.name, uid=meta.uid)
        await self._cluster.set_finalizer(obj, CLAIM_FINALIZER, present=False)
        self._pools.pop(meta.id, None)
        self._reported.pop(meta.id, None)

    async def _release(self, pool_id: str, claim: str, *, uid: str | None = None) -> None:
        """Delete the claim's CAPI IPAddress (only if it is this pool's), then release the address.

        Only an allocation made for an IPAddressClaim is released (with ``uid``: for this one), so
        a vanished IPAddressClaim never frees an IPClaim's address of the same name.
        """
        state = await self._commands.state(pool_id)
        if not state.exists or state.deleted:
            return
        held = state.allocation(claim)
        if held is None or not any(
            o.kind == self._resources.claims.kind and (uid is None or o.uid == uid) for o in held.owners
        ):
            return
        existing = await self._cluster.get_address(held.pool.namespace, held.address_name)
        if existing is not None and pool_of(existing) == pool_id and claim_of(existing) == claim:
            await self._cluster.delete_address(held.pool.namespace, held.address_name)
        try:
            await self._commands.send(pool_id, cmd.ReleaseAddress(claim=claim))
        except CommandRejected as refusal:
            log.warning("address release refused", pool=pool_id, claim=claim, reason=str(refusal))

    async def _fail(self, obj: Mapping[str, Any], meta: Meta, reason: str, message: str) -> None:
        previous = obj.get("status") if isinstance(obj.get("status"), Mapping) else None
        status: dict[str, Any] = {"conditions": _ready(previous, "False", reason, message, self._clock())}
        if previous and previous.get("addressRef"):
            status["addressRef"] = previous["addressRef"]
        await self._cluster.write_status(obj, status)
        if self._reported.get(meta.id) != message:
            self._reported[meta.id] = message
            log.warning("IPAddressClaim not satisfied", claim=meta.id, reason=reason, message=message)
            await self._cluster.record(obj, "Warning", reason, message)
