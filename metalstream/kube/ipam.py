"""The IPAM controller (IPPools, IPClaims, IPAddresses) as one long-running coroutine.

Two sources make an object worth another look, and both only enqueue its key:

* the API server: informers on IPPools (spec, deletion) and IPClaims (new claims, deletion);
* the log: a private view follows the ``ippool`` events, so every recorded change re-queues its
  pool (to rewrite ``status.indexes``, or to drop the finalizer once ``PoolDeleted``) and the
  claims it concerns: the claim an address went to, and on a release, a new spec or a new pool,
  every claim of that pool still waiting for an address (an exhausted pool that frees one).

Pools and claims have a work queue each, so one object is reconciled by one worker at a time;
claims of one pool may be reconciled in parallel because every allocation is decided by the pool
aggregate under optimistic concurrency (two claims never get one address, whichever worker or
process asks). The command handler is the caller's, shared with anything else deciding on pools.

When Cluster API's IPAM kinds are served (``capi_ipam``, found by discovery in the composition
root), IPAddressClaims naming a metal3 IPPool are reconciled too, on their own queue and from
the same pool events, by ``capi_claims.CapiClaimController``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import msgspec
import structlog

from adapters.k8s.connection import Connection
from adapters.k8s.informer import Informer
from adapters.k8s.ipam import capi_addresses
from adapters.k8s.ipam.capi_addresses import CapiIpamResources
from adapters.k8s.ipam.capi_claims import CapiClaimController
from adapters.k8s.ipam.cluster import CLAIMS, POOLS, KubeIpamCluster
from adapters.k8s.ipam.controller import IpamController
from adapters.k8s.recorder import EventRecorder
from adapters.k8s.workqueue import WorkQueue
from core.aggregates import ippool_commands as cmd
from core.aggregates import ippools
from core.aggregates.ippool_state import PoolState
from core.events import ippools as ev
from core.events.base import RecordedEvent
from core.ports import CheckpointStore, EventStore
from metalstream.commanding import CommandContext, CommandHandler
from projections.running import NoCheckpoints, ProjectionRunner

log = structlog.get_logger("metalstream.k8s.ipam")

ACTOR: Final = "k8s-ipam-controller"
VIEW_NAME: Final = "k8s-ippools-view"


class HandlerPoolCommands:
    """``adapters.k8s.ipam.ports.PoolCommands`` over a ``CommandHandler``."""

    def __init__(self, handler: CommandHandler[PoolState, cmd.PoolCommand], *, actor: str = ACTOR) -> None:
        self._handler = handler
        self._context = CommandContext(actor=actor)

    async def state(self, pool_id: str) -> PoolState:
        state, _ = await self._handler.load(pool_id)
        return state

    async def send(self, pool_id: str, command: cmd.PoolCommand) -> PoolState:
        # "Already allocated" is an answer that hands an address out: never from a stale cache.
        confirm = isinstance(command, cmd.AllocateAddress)
        outcome = await self._handler.handle(pool_id, command, self._context, confirm_unchanged=confirm)
        return outcome.state


class _Snapshot(msgspec.Struct, kw_only=True):
    pools: dict[str, dict[str, str]]


class PoolsView:
    """Per pool, each claim's IPAddress name, folded from the ``ippool`` events (deleted pools dropped)."""

    name = VIEW_NAME
    aggregate_type: str | None = ippools.DEFINITION.type

    def __init__(self) -> None:
        self._pools: dict[str, dict[str, str]] = {}

    def apply(self, record: RecordedEvent) -> None:
        pool_id, event = record.envelope.aggregate_id, record.event
        match event:
            case ev.PoolCreated():
                self._pools[pool_id] = {}
            case ev.AddressAllocated() | ev.AddressRenamed():
                self._pools.setdefault(pool_id, {})[event.claim] = event.address_name
            case ev.AddressReleased():
                self._pools.get(pool_id, {}).pop(event.claim, None)
            case ev.PoolDeleted():
                self._pools.pop(pool_id, None)
            case _:
                return

    def address_names(self, pool_id: str) -> dict[str, str]:
        """Claim name to IPAddress name, for every claim of the pool that holds an address."""
        return dict(self._pools.get(pool_id, {}))

    def snapshot(self) -> bytes:
        return msgspec.json.encode(_Snapshot(pools=self._pools))

    def restore(self, snapshot: bytes) -> None:
        self._pools = msgspec.json.decode(snapshot, type=_Snapshot).pools


def _bound(obj: dict[str, object] | None, address_name: str | None = None) -> bool:
    """Whether the claim's status shows an address (``address_name``, if given) and no error."""
    status = obj.get("status") if obj else None
    if not isinstance(status, dict) or status.get("errorMessage"):
        return False
    address = status.get("address")
    if not isinstance(address, dict) or not address.get("name"):
        return False
    return address_name is None or address.get("name") == address_name


class IpamControllerService:
    """The wired IPAM controller. ``run()`` once inside a TaskGroup; cancel it to stop."""

    def __init__(
        self,
        *,
        conn: Connection,
        store: EventStore,
        handler: CommandHandler[PoolState, cmd.PoolCommand],
        namespace: str | None = None,
        concurrency: int = 4,
        checkpoints: CheckpointStore | None = None,
        choose: Callable[[], int] | None = None,
        capi_ipam: CapiIpamResources | None = None,
    ) -> None:
        self.handler = handler
        self.recorder = EventRecorder(conn)
        cluster = KubeIpamCluster(conn, self.recorder)
        commands = HandlerPoolCommands(handler)
        self.controller = (
            IpamController(commands, cluster)
            if choose is None
            else IpamController(commands, cluster, choose=choose)
        )
        workers = max(1, concurrency)
        self.pool_queue = WorkQueue(self._process_pool, workers=workers, name="ippools")
        self.claim_queue = WorkQueue(self._process_claim, workers=workers, name="ipclaims")
        self.pools = Informer(conn, POOLS, handler=self._pool_changed, namespace=namespace)
        self.claims = Informer(conn, CLAIMS, handler=self._claim_changed, namespace=namespace)
        self.capi_controller: CapiClaimController | None = None
        self.capi_claims: Informer | None = None
        self.capi_queue: WorkQueue | None = None
        if capi_ipam is not None:
            self.capi_controller = CapiClaimController(
                commands,
                KubeIpamCluster(
                    conn, self.recorder, kinds=(capi_ipam.claims,), address_kind=capi_ipam.addresses
                ),
                capi_ipam,
                choose=choose,
            )
            self.capi_claims = Informer(
                conn, capi_ipam.claims, handler=self._capi_claim_changed, namespace=namespace
            )
            self.capi_queue = WorkQueue(self._process_capi_claim, workers=workers, name="ipaddressclaims")
        self.view = PoolsView()
        self.runner = ProjectionRunner(
            self.view, store, checkpoints or NoCheckpoints(), on_applied=self._applied
        )
        self.ready = asyncio.Event()
        """Set once both informers have listed and the view has caught up with the log."""
        self._gone_pools: set[str] = set()
        self._gone_claims: set[str] = set()
        """Keys the informers saw deleted: a reconcile without an object then cleans up after them."""
        self._claims_of: dict[str, set[str]] = {}
        """Pool id to the keys of the claims that name it (from the claim informer)."""
        self._pool_of: dict[str, str] = {}

    async def run(self) -> None:
        """List, watch and reconcile until cancelled."""
        log.info("ipam controller starting", workers=self.claim_queue.workers)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.pools.run(), name="k8s.ippools.informer")
                group.create_task(self.claims.run(), name="k8s.ipclaims.informer")
                group.create_task(self.runner.run(), name="k8s.ippools.view")
                if self.capi_claims is not None:
                    group.create_task(self.capi_claims.run(), name="k8s.ipaddressclaims.informer")
                await self.pools.synced.wait()
                await self.claims.synced.wait()
                if self.capi_claims is not None:
                    await self.capi_claims.synced.wait()
                await self.runner.caught_up.wait()
                group.create_task(self.pool_queue.run(), name="k8s.ippools.queue")
                group.create_task(self.claim_queue.run(), name="k8s.ipclaims.queue")
                if self.capi_queue is not None and self.capi_claims is not None:
                    group.create_task(self.capi_queue.run(), name="k8s.ipaddressclaims.queue")
                    for key in list(self.capi_claims.keys()):
                        self.capi_queue.add(key)
                for key in list(self.pools.keys()):
                    self.pool_queue.add(key)
                for key in list(self.claims.keys()):
                    self.claim_queue.add(key)
                self.ready.set()
                log.info(
                    "ipam controller caught up", pools=len(self.pools.cache), claims=len(self.claims.cache)
                )
        finally:
            self.ready.clear()

    # -- sources -------------------------------------------------------------------------------------

    def _pool_changed(self, key: str) -> None:
        if self.pools.get(key) is None:
            self._gone_pools.add(key)
        else:
            self._gone_pools.discard(key)
        self.pool_queue.add(key)

    def _claim_changed(self, key: str) -> None:
        obj = self.claims.get(key)
        previous = self._pool_of.pop(key, None)
        if previous is not None:
            self._claims_of.get(previous, set()).discard(key)
        if obj is None:
            self._gone_claims.add(key)
        else:
            self._gone_claims.discard(key)
            pool = ((obj.get("spec") or {}).get("pool") or {}).get("name")
            if pool:
                pool_id = f"{key.partition('/')[0]}/{pool}"
                self._pool_of[key] = pool_id
                self._claims_of.setdefault(pool_id, set()).add(key)
        self.claim_queue.add(key)

    def _capi_claim_changed(self, key: str) -> None:
        if self.capi_queue is not None:
            self.capi_queue.add(key)

    def _capi_claims_of(self, pool_id: str) -> list[str]:
        """Keys of the IPAddressClaims naming ``pool_id`` that have no address yet."""
        if self.capi_claims is None:
            return []
        namespace, _, pool = pool_id.partition("/")
        return [
            key
            for key, obj in self.capi_claims.cache.items()
            if key.startswith(f"{namespace}/")
            and capi_addresses.pool_name(obj) == pool
            and not ((obj.get("status") or {}).get("addressRef") or {}).get("name")
        ]

    def _applied(self, record: RecordedEvent) -> None:
        pool_id = record.envelope.aggregate_id
        cached = self.handler.cached(pool_id)
        if cached is not None and cached[1].version < record.envelope.version:
            self.handler.forget(pool_id)  # written by another process: do not decide on the old copy
        if not self.ready.is_set():
            return
        if self.pools.get(pool_id) is not None or pool_id in self._gone_pools:
            self.pool_queue.add(pool_id)
        namespace = pool_id.partition("/")[0]
        event = record.event
        if self.capi_queue is not None and self.capi_claims is not None:
            for key in self._capi_claims_of(pool_id):
                self.capi_queue.add(key)
            if isinstance(event, ev.AddressRenamed):
                renamed = f"{namespace}/{event.claim}"
                if self.capi_claims.get(renamed) is not None:
                    self.capi_queue.add(renamed)
        if isinstance(event, ev.AddressAllocated | ev.AddressRenamed):
            key = f"{namespace}/{event.claim}"
            obj = self.claims.get(key)
            if (
                obj is not None
                and key not in self.claim_queue.processing
                and not _bound(obj, event.address_name)
            ):
                self.claim_queue.add(key)
            return
        for key in list(self._claims_of.get(pool_id, ())):
            if not _bound(self.claims.get(key)):
                self.claim_queue.add(key)

    # -- work ----------------------------------------------------------------------------------------

    async def _process_pool(self, key: str) -> None:
        obj = self.pools.get(key)
        if obj is None and key not in self._gone_pools:
            return
        await self.controller.reconcile_pool(obj, key)
        if obj is None:
            self._gone_pools.discard(key)

    async def _process_capi_claim(self, key: str) -> None:
        if self.capi_controller is None or self.capi_claims is None:
            return
        await self.capi_controller.reconcile(self.capi_claims.get(key), key)

    async def _process_claim(self, key: str) -> None:
        obj = self.claims.get(key)
        if obj is None and key not in self._gone_claims:
            return
        await self.controller.reconcile_claim(obj, key)
        if obj is None:
            self._gone_claims.discard(key)
