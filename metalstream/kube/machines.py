"""The Cluster API Metal3 controllers as one long-running coroutine.

Six work queues (Metal3Machines, Metal3DataTemplates, Metal3DataClaims, Metal3Data,
Metal3Clusters, Metal3Remediations) are fed by informers on those kinds and on what they depend
on: BareMetalHosts, the IPClaims the Metal3Data created (by their ``data-name`` label) and
IPAddresses. The objects
form a chain, machine -> claim -> data -> IPClaims -> addresses -> data -> machine -> host, and
each change enqueues its neighbours in the chain, so every step is level-triggered and no step
polls. The machine, template and remediation aggregates are decided on by handlers of this
service; hosts are claimed and released on the host aggregate through a handler that may be
shared with the BareMetalHost controller. A private hosts view follows the log so that a host
recorded as provisioned or available re-queues the machine waiting for it, and so that a host
state written by another process is never decided on from this process's stale cache.

When Cluster API is installed (``capi``, found by discovery in the composition root), CAPI
Machines and Clusters are watched too: a Machine's bootstrap data appearing, or a Cluster being
paused or unpaused, re-queues the Metal3Machines it concerns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

import structlog

from adapters.k8s.capm3 import capi
from adapters.k8s.capm3.capi import CapiResources
from adapters.k8s.capm3.cluster import InformerCache, KubeCapm3
from adapters.k8s.capm3.clusters import ClusterController
from adapters.k8s.capm3.datas import DataController
from adapters.k8s.capm3.machines import MachineController
from adapters.k8s.capm3.manifests import meta_of, ref_name
from adapters.k8s.capm3.names import (
    CLAIMS,
    CLUSTER_LABEL,
    CLUSTERS,
    DATA_NAME_LABEL,
    DATAS,
    HOST_ANNOTATION,
    HOSTS,
    IPADDRESSES,
    IPCLAIMS,
    MACHINES,
    NO_HOST_RETRY,
    REMEDIATIONS,
    TEMPLATES,
)
from adapters.k8s.capm3.ports import Result
from adapters.k8s.capm3.remediations import RemediationController
from adapters.k8s.capm3.templates import ClaimController, TemplateController
from adapters.k8s.connection import Connection
from adapters.k8s.informer import Informer
from adapters.k8s.recorder import EventRecorder
from adapters.k8s.resources import Resource
from adapters.k8s.workqueue import WorkQueue
from core.aggregates import data_templates, hosts, machines, remediations
from core.aggregates import host_commands as hcmd
from core.aggregates.host_state import HostState
from core.events.base import RecordedEvent
from core.ports import EventStore
from metalstream.commanding import CommandContext, CommandHandler
from projections.hosts_view import HostsView
from projections.running import NoCheckpoints, ProjectionRunner

log = structlog.get_logger("metalstream.k8s.capm3")

ACTOR: Final = "k8s-capm3-controller"
S = TypeVar("S")
C = TypeVar("C")


class HandlerCommands(Generic[S, C]):
    """``adapters.k8s.capm3.ports.Commands`` over a ``CommandHandler``."""

    def __init__(self, handler: CommandHandler[S, C], *, actor: str = ACTOR) -> None:
        self._handler = handler
        self._context = CommandContext(actor=actor)

    async def state(self, aggregate_id: str) -> S:
        state, _ = await self._handler.load(aggregate_id)
        return state

    async def send(self, aggregate_id: str, command: C) -> S:
        return (await self._handler.handle(aggregate_id, command, self._context)).state


class Capm3HostsView(HostsView):
    """The CAPM3 controllers' own copy of the hosts view (no checkpoints)."""

    name = "k8s-capm3-hosts-view"


Reconcile = Callable[[Any, str], Any]


class MachineControllerService:
    """The wired CAPM3 controllers. ``run()`` once inside a TaskGroup; cancel it to stop."""

    def __init__(
        self,
        *,
        conn: Connection,
        store: EventStore,
        host_handler: CommandHandler[HostState, hcmd.HostCommand] | None = None,
        namespace: str | None = None,
        concurrency: int = 4,
        no_host_retry: float = NO_HOST_RETRY,
        capi_resources: CapiResources | None = None,
    ) -> None:
        self.capi = capi_resources
        self.host_handler = host_handler or CommandHandler(store, hosts.DEFINITION)
        self.machine_handler = CommandHandler(store, machines.DEFINITION)
        self.template_handler = CommandHandler(store, data_templates.DEFINITION)
        self.remediation_handler = CommandHandler(store, remediations.DEFINITION)
        host_commands = HandlerCommands(self.host_handler)
        template_commands = HandlerCommands(self.template_handler)
        self.recorder = EventRecorder(conn)
        kube = KubeCapm3(conn, self.recorder)
        self.informers: dict[Resource, Informer] = {
            MACHINES: Informer(conn, MACHINES, handler=self._machine_changed, namespace=namespace),
            TEMPLATES: Informer(conn, TEMPLATES, handler=self._template_changed, namespace=namespace),
            CLAIMS: Informer(conn, CLAIMS, handler=self._claim_changed, namespace=namespace),
            DATAS: Informer(conn, DATAS, handler=self._data_changed, namespace=namespace),
            CLUSTERS: Informer(conn, CLUSTERS, handler=self._cluster_changed, namespace=namespace),
            REMEDIATIONS: Informer(
                conn, REMEDIATIONS, handler=self._remediation_changed, namespace=namespace
            ),
            HOSTS: Informer(conn, HOSTS, handler=self._host_changed, namespace=namespace),
            IPCLAIMS: Informer(
                conn,
                IPCLAIMS,
                handler=self._ipclaim_changed,
                namespace=namespace,
                label_selector=DATA_NAME_LABEL,
            ),
            IPADDRESSES: Informer(conn, IPADDRESSES, handler=self._ipaddress_changed, namespace=namespace),
        }
        if capi_resources is not None:
            self.informers[capi_resources.machines] = Informer(
                conn, capi_resources.machines, handler=self._capi_machine_changed, namespace=namespace
            )
            self.informers[capi_resources.clusters] = Informer(
                conn, capi_resources.clusters, handler=self._capi_cluster_changed, namespace=namespace
            )
        cache = InformerCache(self.informers)
        self.machines = MachineController(
            HandlerCommands(self.machine_handler),
            host_commands,
            kube,
            cache,
            no_host_retry=no_host_retry,
            capi_resources=capi_resources,
        )
        self.templates = TemplateController(template_commands, kube)
        self.claims = ClaimController(template_commands, kube, cache)
        self.datas = DataController(template_commands, host_commands, kube, cache)
        self.clusters = ClusterController(kube, cache)
        self.remediations = RemediationController(
            HandlerCommands(self.remediation_handler), host_commands, kube, cache
        )
        workers = max(1, concurrency)
        self.queues: dict[Resource, WorkQueue] = {
            resource: WorkQueue(
                self._processor(resource, controller.reconcile), workers=workers, name=resource.plural
            )
            for resource, controller in (
                (MACHINES, self.machines),
                (TEMPLATES, self.templates),
                (CLAIMS, self.claims),
                (DATAS, self.datas),
                (CLUSTERS, self.clusters),
                (REMEDIATIONS, self.remediations),
            )
        }
        self.view = Capm3HostsView()
        self.runner = ProjectionRunner(self.view, store, NoCheckpoints(), on_applied=self._host_applied)
        self.ready = asyncio.Event()
        """Set once every informer has listed and the hosts view has caught up with the log."""

    async def run(self) -> None:
        """List, watch and reconcile until cancelled."""
        log.info("capm3 controllers starting")
        try:
            async with asyncio.TaskGroup() as group:
                for resource, informer in self.informers.items():
                    group.create_task(informer.run(), name=f"k8s.capm3.{resource.plural}.informer")
                group.create_task(self.runner.run(), name="k8s.capm3.hosts.view")
                for informer in self.informers.values():
                    await informer.synced.wait()
                await self.runner.caught_up.wait()
                for resource, queue in self.queues.items():
                    group.create_task(queue.run(), name=f"k8s.capm3.{resource.plural}.queue")
                    for key in list(self.informers[resource].cache):
                        queue.add(key)
                self.ready.set()
                log.info("capm3 controllers caught up", machines=len(self.informers[MACHINES].cache))
        finally:
            self.ready.clear()

    def _processor(self, resource: Resource, reconcile: Reconcile) -> Callable[[str], Any]:
        informer = self.informers[resource]

        async def process(key: str) -> None:
            result: Result = await reconcile(informer.get(key), key)
            if result.requeue_after is not None:
                self.queues[resource].requeue_after(key, result.requeue_after)

        return process

    # -- sources: each change enqueues its neighbours in the chain ---------------------------------------

    def _add(self, resource: Resource, key: str) -> None:
        self.queues[resource].add(key)

    def _machine_changed(self, key: str) -> None:
        self._add(MACHINES, key)
        namespace, _, name = key.partition("/")
        for remediation_key in list(self.informers[REMEDIATIONS].cache):
            if remediation_key.startswith(f"{namespace}/"):
                self._add(REMEDIATIONS, remediation_key)
        for data_key, data in self.informers[DATAS].cache.items():
            if data_key.startswith(f"{namespace}/") and self._machine_of_data(data) == name:
                self._add(DATAS, data_key)

    def _machine_of_data(self, data: Any) -> str | None:
        claim = self.informers[CLAIMS].get(f"{meta_of(data).namespace}/{ref_name(data, 'spec', 'claim')}")
        owners = ((claim or {}).get("metadata") or {}).get("ownerReferences") or []
        return next((o.get("name") for o in owners if o.get("kind") == MACHINES.kind), None)

    def _template_changed(self, key: str) -> None:
        self._add(TEMPLATES, key)
        namespace, _, name = key.partition("/")
        for claim_key, claim in self.informers[CLAIMS].cache.items():
            if claim_key.startswith(f"{namespace}/") and ref_name(claim, "spec", "template") == name:
                self._add(CLAIMS, claim_key)

    def _claim_changed(self, key: str) -> None:
        self._add(CLAIMS, key)
        self._add(MACHINES, key)  # a claim is named like its machine
        claim = self.informers[CLAIMS].get(key)
        namespace = key.partition("/")[0]
        if claim is not None:
            self._add(TEMPLATES, f"{namespace}/{ref_name(claim, 'spec', 'template')}")
            return
        for template_key in list(self.informers[TEMPLATES].cache):  # a gone claim released its index
            if template_key.startswith(f"{namespace}/"):
                self._add(TEMPLATES, template_key)

    def _data_changed(self, key: str) -> None:
        self._add(DATAS, key)
        namespace = key.partition("/")[0]
        for claim_key, claim in self.informers[CLAIMS].cache.items():
            rendered = ((claim.get("status") or {}).get("renderedData") or {}).get("name")
            if claim_key.startswith(f"{namespace}/") and f"{namespace}/{rendered}" == key:
                self._add(CLAIMS, claim_key)
                self._add(MACHINES, claim_key)
        data = self.informers[DATAS].get(key)
        if data is None:  # a deleted data may be what a deleting claim waits for
            for claim_key in list(self.informers[CLAIMS].cache):
                if claim_key.startswith(f"{namespace}/"):
                    self._add(CLAIMS, claim_key)

    def _cluster_changed(self, key: str) -> None:
        self._add(CLUSTERS, key)

    def _remediation_changed(self, key: str) -> None:
        self._add(REMEDIATIONS, key)

    def _host_changed(self, key: str) -> None:
        namespace = key.partition("/")[0]
        for remediation_key in list(self.informers[REMEDIATIONS].cache):
            if remediation_key.startswith(f"{namespace}/"):
                self._add(REMEDIATIONS, remediation_key)
        for machine_key, machine in self.informers[MACHINES].cache.items():
            if not machine_key.startswith(f"{namespace}/"):
                continue
            annotation = meta_of(machine).annotations.get(HOST_ANNOTATION)
            if annotation is None or annotation == key:
                self._machine_changed(machine_key)

    def _capi_machine_changed(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        for machine_key, machine in self.informers[MACHINES].cache.items():
            if machine_key.startswith(f"{namespace}/") and capi.owner_name(machine) == name:
                self._add(MACHINES, machine_key)

    def _capi_cluster_changed(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        for machine_key, machine in self.informers[MACHINES].cache.items():
            if machine_key.startswith(f"{namespace}/") and meta_of(machine).labels.get(CLUSTER_LABEL) == name:
                self._add(MACHINES, machine_key)

    def _ipclaim_changed(self, key: str) -> None:
        claim = self.informers[IPCLAIMS].get(key)
        namespace = key.partition("/")[0]
        data = meta_of(claim).labels.get(DATA_NAME_LABEL) if claim is not None else None
        if data:
            self._add(DATAS, f"{namespace}/{data}")

    def _ipaddress_changed(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        for claim_key, claim in self.informers[IPCLAIMS].cache.items():
            address = ((claim.get("status") or {}).get("address") or {}).get("name")
            if claim_key.startswith(f"{namespace}/") and address == name:
                self._ipclaim_changed(claim_key)

    def _host_applied(self, record: RecordedEvent) -> None:
        host_id = record.envelope.aggregate_id
        cached = self.host_handler.cached(host_id)
        if cached is not None and cached[1].version < record.envelope.version:
            self.host_handler.forget(host_id)  # written by another process: reload before deciding
        if self.ready.is_set():
            self._host_changed(host_id)
