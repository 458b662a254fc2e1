"""Reconciles IPPool and IPClaim objects with the ``ippool`` aggregate: commands in, objects and status out.

Each reconcile is level-triggered and idempotent: it reads the object as it is now and the
pool's state as recorded, sends only the commands that make the log say what the objects say,
then makes the IPAddress objects and the status match the state. A resync, a watch replay or a
restart sends no duplicate command (a claim that holds an address keeps it, an applied
generation is not applied again).

Pools follow Metal3: the finalizer ``ippool.ipam.metal3.io`` is added on first sight, the spec is
applied per generation, a pool with ``spec.clusterName`` gets the Cluster API labels, and
``status.indexes`` is rewritten from the allocations. A deletionTimestamp becomes
``RequestPoolDeletion``; the finalizer stays until the aggregate records ``PoolDeleted`` (no
claim holds an address any more).

Claims get the finalizer ``ipclaim.ipam.metal3.io`` and an ``AllocateAddress`` (the ``ipAddress``
annotation is the requested address; the claim's labels and an owner reference to it go to the
IPAddress). The allocation is then materialised as an IPAddress object, and the claim's
``status.address`` points at it; a refusal is written to ``status.errorMessage`` in Metal3's
words. Deleting a claim deletes its IPAddress, releases the address and removes the finalizer.

IPAM#1437: an IPAddress whose ``spec.pool`` is another pool is never adopted, changed or deleted.
If an allocation's name is taken by one, the controller sends ``ReportNameCollision`` and the pool
renames its own allocation, so both claims get their addresses.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from adapters.k8s.crds.ipam import IPCLAIM
from adapters.k8s.ipam import addresses
from adapters.k8s.ipam import status as ipam_status
from adapters.k8s.ipam.manifest import (
    ClaimObject,
    ManifestProblem,
    Meta,
    PoolObject,
    read_claim,
    read_meta,
    read_pool,
)
from adapters.k8s.ipam.ports import IpamCluster, PoolCommands
from core.aggregates import ippool_commands as cmd
from core.aggregates.ippool_state import PoolState
from core.aggregates.ippools import AllocationRefused
from core.errors import AggregateNotFound, CommandRejected
from core.events.ippool_values import OwnerRef
from core.events.ippools import AddressAllocated

log = structlog.get_logger("metalstream.k8s.ipam")

POOL_FINALIZER: Final = "ippool.ipam.metal3.io"
CLAIM_FINALIZER: Final = "ipclaim.ipam.metal3.io"
CLUSTER_NAME_LABEL: Final = "cluster.x-k8s.io/cluster-name"
PROVIDER_LABEL: Final = ("cluster.x-k8s.io/provider", "ipam-metal3")
MAX_RENAMES: Final = 3
"""Name collisions one reconcile resolves before it retries later (one is the normal case)."""


@dataclass(frozen=True, slots=True)
class Result:
    """``requeue_after``: look at the object again after this many seconds even without a change."""

    requeue_after: float | None = None


DONE: Final = Result()


class AddressPending(Exception):
    """The IPAddress of an allocation cannot be settled right now; the work queue retries with back-off."""


def _random_choice() -> int:
    return secrets.randbelow(1 << 62)


class IpamController:
    """Reconciles IPPools and IPClaims; the work queues call ``reconcile_pool`` and ``reconcile_claim``."""

    def __init__(
        self,
        commands: PoolCommands,
        cluster: IpamCluster,
        *,
        clock: Callable[[], datetime] | None = None,
        choose: Callable[[], int] = _random_choice,
    ) -> None:
        self._commands = commands
        self._cluster = cluster
        self._clock = clock or (lambda: datetime.now(UTC))
        self._choose = choose
        self._refused: dict[str, tuple[int, str]] = {}
        """Per object: the (generation, reason) last reported, so a resync does not report it again."""
        self._claim_pools: dict[str, str] = {}
        """Claim key to pool id, for a claim that disappears without our finalizer's consent."""

    # -- pools ---------------------------------------------------------------------------------------

    async def reconcile_pool(self, obj: Mapping[str, Any] | None, pool_id: str) -> Result:
        """Bring the pool's log in line with ``obj`` (None: the object is gone) and write its status."""
        if obj is None:
            return await self._pool_vanished(pool_id)
        meta = read_meta(obj)
        if meta.deleting:
            return await self._pool_deleting(obj, meta)
        try:
            pool = read_pool(obj)
        except ManifestProblem as problem:
            await self._refuse(obj, f"pool:{pool_id}", meta.generation, str(problem))
            return DONE
        state = await self._commands.state(pool_id)
        if POOL_FINALIZER not in meta.finalizers:
            stored = await self._cluster.set_finalizer(obj, POOL_FINALIZER, present=True)
            if stored is None:
                return DONE
            obj = stored
        state = await self._apply_pool(obj, pool, state)
        if not (state.exists and not state.deleted and state.uid == meta.uid):
            return DONE
        obj = await self._pool_labels(obj, pool)
        if obj is not None:
            await self._cluster.write_status(obj, ipam_status.pool_status(state, self._clock()))
        return DONE

    async def _apply_pool(self, obj: Mapping[str, Any], pool: PoolObject, state: PoolState) -> PoolState:
        meta = pool.meta
        if (
            state.exists
            and not state.deleted
            and state.uid == meta.uid
            and state.generation >= meta.generation
        ):
            return state
        if self._refused.get(f"pool:{meta.id}", (None, ""))[0] == meta.generation:
            return state  # refused already; wait for the next edit
        command = cmd.ApplyPoolSpec(
            namespace=meta.namespace, name=meta.name, uid=meta.uid, generation=meta.generation, spec=pool.spec
        )
        try:
            return await self._commands.send(meta.id, command)
        except CommandRejected as refusal:
            await self._refuse(obj, f"pool:{meta.id}", meta.generation, str(refusal))
            return state

    async def _pool_labels(self, obj: Mapping[str, Any], pool: PoolObject) -> Mapping[str, Any] | None:
        cluster = pool.spec.cluster_name
        if not cluster:
            return obj
        wanted = {CLUSTER_NAME_LABEL: cluster, PROVIDER_LABEL[0]: PROVIDER_LABEL[1]}
        if all(pool.meta.labels.get(k) == v for k, v in wanted.items()):
            return obj
        return await self._cluster.set_labels(obj, wanted)

    async def _pool_deleting(self, obj: Mapping[str, Any], meta: Meta) -> Result:
        state = await self._commands.state(meta.id)
        if state.exists and not state.deleted and state.uid == meta.uid:
            if not state.deletion_requested:
                try:
                    state = await self._commands.send(meta.id, cmd.RequestPoolDeletion())
                except CommandRejected as refusal:
                    await self._refuse(obj, f"pool:{meta.id}", meta.generation, str(refusal))
                    return DONE
            if not state.deleted:
                await self._cluster.write_status(obj, ipam_status.pool_status(state, self._clock()))
                return DONE  # each release brings us back; the last one deletes the pool
        if POOL_FINALIZER in meta.finalizers:
            await self._cluster.set_finalizer(obj, POOL_FINALIZER, present=False)
        self._refused.pop(f"pool:{meta.id}", None)
        return DONE

    async def _pool_vanished(self, pool_id: str) -> Result:
        """The object is gone without our finalizer's consent: hand out nothing more from the pool."""
        self._refused.pop(f"pool:{pool_id}", None)
        state = await self._commands.state(pool_id)
        if state.exists and not state.deleted and not state.deletion_requested:
            log.warning("IPPool removed without its finalizer; deleting the pool", pool=pool_id)
            try:
                await self._commands.send(pool_id, cmd.RequestPoolDeletion())
            except CommandRejected as refusal:
                log.warning("pool deletion refused", pool=pool_id, reason=str(refusal))
        return DONE

    # -- claims --------------------------------------------------------------------------------------

    async def reconcile_claim(self, obj: Mapping[str, Any] | None, key: str) -> Result:
        """Allocate (or release) the claim's address, materialise its IPAddress and write its status."""
        if obj is None:
            return await self._claim_vanished(key)
        meta = read_meta(obj)
        if meta.deleting:
            return await self._claim_deleting(obj, meta)
        try:
            claim = read_claim(obj)
        except ManifestProblem as problem:
            await self._claim_error(obj, meta, str(problem))
            return DONE
        self._claim_pools[key] = claim.pool_id
        if CLAIM_FINALIZER not in meta.finalizers:
            stored = await self._cluster.set_finalizer(obj, CLAIM_FINALIZER, present=True)
            if stored is None:
                return DONE
            obj = stored
        state = await self._commands.state(claim.pool_id)
        if not state.exists or state.deleted:
            message = (
                f"IPPool {claim.pool_name!r} not found in namespace {meta.namespace!r}; "
                "create it or fix spec.pool"
            )
            await self._claim_error(obj, meta, message, event=False)
            return DONE
        held = state.allocation(meta.name)
        if held is not None and held.owners and all(o.uid != meta.uid for o in held.owners):
            if any(o.kind != IPCLAIM.resource.kind for o in held.owners):
                kinds = ", ".join(sorted({o.kind for o in held.owners}))
                message = (
                    f"the pool's address for the name {meta.name!r} is held by a {kinds}; "
                    "IPClaims and IPAddressClaims of one pool need different names"
                )
                await self._claim_error(obj, meta, message)
                return DONE
            # Held for an earlier claim object of the same name that vanished: give it back first.
            await self._release(claim.pool_id, meta.name)
            held = None
        try:
            if held is None:
                held = await self._allocate(claim, obj)
            held = await self._materialise(claim.pool_id, held)
        except AllocationRefused as refused:
            await self._claim_error(obj, meta, refused.claim_message, detail=str(refused))
            return DONE
        except (CommandRejected, AggregateNotFound) as refused:
            await self._claim_error(obj, meta, str(refused))
            return DONE
        if held is not None:
            await self._cluster.write_status(obj, ipam_status.claim_bound(meta.namespace, held.address_name))
            self._refused.pop(f"claim:{key}", None)
        return DONE

    async def _allocate(self, claim: ClaimObject, obj: Mapping[str, Any]) -> AddressAllocated | None:
        meta = claim.meta
        owner = OwnerRef(
            api_version=IPCLAIM.resource.api_version, kind=IPCLAIM.resource.kind, name=meta.name, uid=meta.uid
        )
        command = cmd.AllocateAddress(
            claim=meta.name,
            requested_address=claim.requested_address,
            labels=dict(meta.labels),
            owners=(owner,),
            choice=self._choose(),
        )
        state = await self._commands.send(claim.pool_id, command)
        return state.allocation(meta.name)

    async def _materialise(self, pool_id: str, held: AddressAllocated | None) -> AddressAllocated | None:
        """Make sure ``held``'s IPAddress exists and is this pool's; the allocation as finally named."""
        for _ in range(MAX_RENAMES):
            if held is None:
                return None
            namespace = held.pool.namespace
            existing = await self._cluster.get_address(namespace, held.address_name)
            if existing is None:
                if await self._cluster.create_address(addresses.address_object(held)) is not None:
                    return held
                existing = await self._cluster.get_address(namespace, held.address_name)
                if existing is None:
                    raise AddressPending(f"IPAddress {namespace}/{held.address_name} appeared and vanished")
            owner = addresses.pool_of(existing)
            if owner == pool_id:
                holder = addresses.claim_of(existing)
                if holder == held.claim:
                    return held
                await self._clear_leftover(pool_id, holder, existing)
                continue
            log.warning(
                "IPAddress name taken by another pool (IPAM#1437); renaming this pool's allocation",
                pool=pool_id,
                claim=held.claim,
                address=held.address_name,
                taken_by=owner,
            )
            state = await self._commands.send(
                pool_id,
                cmd.ReportNameCollision(claim=held.claim, address_name=held.address_name, taken_by=owner),
            )
            held = state.allocation(held.claim)
        raise AddressPending(f"IPAddress of pool {pool_id} still not settled after {MAX_RENAMES} attempts")

    async def _clear_leftover(self, pool_id: str, holder: str, existing: Mapping[str, Any]) -> None:
        """An IPAddress of this pool left by a claim that no longer holds its address is deleted."""
        metadata = existing.get("metadata") or {}
        name = str(metadata.get("name") or "")
        held = (await self._commands.state(pool_id)).allocation(holder)
        if held is not None and held.address_name == name:
            raise AddressPending(f"IPAddress {name} is still held by claim {holder!r} of pool {pool_id}")
        await self._cluster.delete_address(str(metadata.get("namespace") or ""), name)

    async def _claim_error(
        self,
        obj: Mapping[str, Any],
        meta: Meta,
        message: str,
        *,
        detail: str | None = None,
        event: bool = True,
    ) -> None:
        previous = obj.get("status")
        await self._cluster.write_status(
            obj, ipam_status.claim_failed(message, dict(previous) if isinstance(previous, Mapping) else None)
        )
        if event:
            await self._refuse(obj, f"claim:{meta.id}", meta.generation, detail or message)

    async def _claim_deleting(self, obj: Mapping[str, Any], meta: Meta) -> Result:
        key = meta.id
        if CLAIM_FINALIZER not in meta.finalizers:
            return DONE
        if any(f != CLAIM_FINALIZER for f in meta.finalizers):
            return DONE  # Metal3 waits for the other finalizers; their removal brings us back
        try:
            pool_id: str | None = read_claim(obj).pool_id
        except ManifestProblem:
            pool_id = self._claim_pools.get(key)
        if pool_id is not None:
            await self._release(pool_id, meta.name)
        await self._cluster.set_finalizer(obj, CLAIM_FINALIZER, present=False)
        self._claim_pools.pop(key, None)
        self._refused.pop(f"claim:{key}", None)
        return DONE

    async def _claim_vanished(self, key: str) -> Result:
        """The claim is gone without our finalizer's consent: give its address back all the same."""
        self._refused.pop(f"claim:{key}", None)
        pool_id = self._claim_pools.pop(key, None)
        if pool_id is not None:
            await self._release(pool_id, key.rpartition("/")[2])
        return DONE

    async def _release(self, pool_id: str, claim: str) -> None:
        """Delete the claim's IPAddress (only if it is this pool's), then release its address."""
        state = await self._commands.state(pool_id)
        if not state.exists or state.deleted:
            return
        held = state.allocation(claim)
        if held is None:
            return
        if held.owners and all(o.kind != IPCLAIM.resource.kind for o in held.owners):
            return  # an IPAddressClaim's of the same name (refused to this claim): not ours to free
        existing = await self._cluster.get_address(held.pool.namespace, held.address_name)
        if (
            existing is not None
            and addresses.pool_of(existing) == pool_id
            and addresses.claim_of(existing) == claim
        ):
            await self._cluster.delete_address(held.pool.namespace, held.address_name)
        try:
            await self._commands.send(pool_id, cmd.ReleaseAddress(claim=claim))
        except CommandRejected as refusal:
            log.warning("address release refused", pool=pool_id, claim=claim, reason=str(refusal))

    # -- reporting -----------------------------------------------------------------------------------

    async def _refuse(self, obj: Mapping[str, Any], key: str, generation: int, why: str) -> None:
        if self._refused.get(key) == (generation, why):
            return
        self._refused[key] = (generation, why)
        log.warning("IPAM change refused", object=key, generation=generation, reason=why)
        await self._cluster.record(obj, "Warning", "ReconcileError", why)
