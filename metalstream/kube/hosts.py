"""The BareMetalHost controller as one long-running coroutine: API server in, log in, status out.

Two sources make a host's object worth another look, and both only enqueue its key:

* the API server: an informer on BareMetalHosts (spec, annotations, deletion), one on Secrets
  labelled ``environment.metal3.io=baremetal`` (a changed credentials Secret re-queues every host
  that names it) and one each on HostFirmwareSettings and HostFirmwareComponents (named like
  their host, so a change re-queues the host of the same key);
* the log: a private hosts view follows the host events, so a change recorded by the provisioner
  re-queues the host to write its new status; once caught up, each live event also becomes a
  Kubernetes Event (Metal3's reasons), so a restart does not replay old ones.

The work queue runs at most one reconcile per host; the controller reads the object from the
informer's cache and the state from the command handler, which it shares with the provisioner
in the same process. A host object that the informer saw disappear without our finalizer's
consent (someone removed the finalizer by hand) has its host deleted too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import structlog

from adapters.k8s.baremetalhost.cluster import (
    FIRMWARE_COMPONENTS,
    FIRMWARE_SETTINGS,
    HOSTS,
    SECRET_LABEL,
    KubeHostCluster,
)
from adapters.k8s.baremetalhost.controller import HostController
from adapters.k8s.baremetalhost.notices import notice
from adapters.k8s.connection import Connection
from adapters.k8s.informer import Informer
from adapters.k8s.recorder import EventRecorder
from adapters.k8s.resources import SECRETS
from adapters.k8s.workqueue import WorkQueue
from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState
from core.events.base import RecordedEvent
from core.ports import CheckpointStore, EventStore
from metalstream.commanding import CommandHandler
from metalstream.kube.host_commands import HandlerHostCommands
from projections.hosts_view import HostsView
from projections.running import NoCheckpoints, ProjectionRunner

log = structlog.get_logger("metalstream.k8s.hosts")

VIEW_NAME: Final = "k8s-hosts-view"


class ControllerHostsView(HostsView):
    """The Kubernetes controller's own copy of the hosts view (its own checkpoint name)."""

    name = VIEW_NAME


class HostControllerService:
    """The wired BareMetalHost controller. ``run()`` once inside a TaskGroup; cancel it to stop."""

    def __init__(
        self,
        *,
        conn: Connection,
        store: EventStore,
        handler: CommandHandler[HostState, cmd.HostCommand],
        namespace: str | None = None,
        concurrency: int = 4,
        max_provisioning_retries: int = 5,
        checkpoints: CheckpointStore | None = None,
    ) -> None:
        self.handler = handler
        self.recorder = EventRecorder(conn)
        self.controller = HostController(
            HandlerHostCommands(handler),
            KubeHostCluster(conn, self.recorder),
            max_provisioning_retries=max_provisioning_retries,
        )
        self.queue = WorkQueue(self._process, workers=max(1, concurrency), name="baremetalhosts")
        self.hosts = Informer(conn, HOSTS, handler=self._host_changed, namespace=namespace)
        self.secrets = Informer(
            conn,
            SECRETS,
            handler=self._secret_changed,
            namespace=namespace,
            label_selector=f"{SECRET_LABEL[0]}={SECRET_LABEL[1]}",
        )
        self.firmware_settings = Informer(
            conn, FIRMWARE_SETTINGS, handler=self._firmware_changed, namespace=namespace
        )
        self.firmware_components = Informer(
            conn, FIRMWARE_COMPONENTS, handler=self._firmware_changed, namespace=namespace
        )
        self.view = ControllerHostsView()
        self.runner = ProjectionRunner(
            self.view, store, checkpoints or NoCheckpoints(), on_applied=self._applied
        )
        self.ready = asyncio.Event()
        """Set once every informer has listed and the view has caught up with the log."""
        self._gone: set[str] = set()
        """Keys the informer saw deleted: a reconcile without an object then deletes the host."""
        self._notices: asyncio.Queue[RecordedEvent] = asyncio.Queue()
        self.observers: list[Callable[[RecordedEvent], None]] = []
        """Also called with every event the view folds (metrics follow the same view)."""

    async def run(self) -> None:
        """List, watch and reconcile until cancelled."""
        log.info("baremetalhost controller starting", workers=self.queue.workers)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.hosts.run(), name="k8s.hosts.informer")
                group.create_task(self.secrets.run(), name="k8s.secrets.informer")
                group.create_task(self.firmware_settings.run(), name="k8s.hfs.informer")
                group.create_task(self.firmware_components.run(), name="k8s.hfc.informer")
                group.create_task(self.runner.run(), name="k8s.hosts.view")
                await self.hosts.synced.wait()
                await self.secrets.synced.wait()
                await self.firmware_settings.synced.wait()
                await self.firmware_components.synced.wait()
                await self.runner.caught_up.wait()
                group.create_task(self.queue.run(), name="k8s.hosts.queue")
                group.create_task(self._record_notices(), name="k8s.hosts.notices")
                for key in list(self.hosts.keys()):
                    self.queue.add(key)
                self.ready.set()
                log.info("baremetalhost controller caught up", hosts=len(self.hosts.cache))
        finally:
            self.ready.clear()

    # -- sources -------------------------------------------------------------------------------------

    def _host_changed(self, key: str) -> None:
        if self.hosts.get(key) is None:
            self._gone.add(key)
        else:
            self._gone.discard(key)
        self.queue.add(key)

    def _secret_changed(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        for host_key, obj in self.hosts.cache.items():
            bmc = (obj.get("spec") or {}).get("bmc") or {}
            if host_key.startswith(f"{namespace}/") and bmc.get("credentialsName") == name:
                self.queue.add(host_key)

    def _firmware_changed(self, key: str) -> None:
        if self.hosts.get(key) is not None:
            self.queue.add(key)

    def _applied(self, record: RecordedEvent) -> None:
        for observer in self.observers:
            observer(record)
        host_id = record.envelope.aggregate_id
        cached = self.handler.cached(host_id)
        if cached is not None and cached[1].version < record.envelope.version:
            self.handler.forget(host_id)  # written by another process: do not decide on the old copy
        if not self.ready.is_set():
            return
        if self.hosts.get(host_id) is not None:
            self.queue.add(host_id)
            self._notices.put_nowait(record)

    # -- work ----------------------------------------------------------------------------------------

    async def _process(self, key: str) -> None:
        obj = self.hosts.get(key)
        if obj is None and key not in self._gone:
            return  # a host the log knows but this cluster never showed (or not yet)
        result = await self.controller.reconcile(obj, key)
        if obj is None:
            self._gone.discard(key)
        elif result.requeue_after is not None:
            self.queue.requeue_after(key, result.requeue_after)

    async def _record_notices(self) -> None:
        while True:
            record = await self._notices.get()
            shown = notice(record.event)
            obj = self.hosts.get(record.envelope.aggregate_id)
            if shown is None or obj is None:
                continue
            await self.recorder.record(obj, reason=shown.reason, message=shown.message, type=shown.type)
