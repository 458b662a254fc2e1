"""The provisioner as one long-running coroutine: hosts view -> provisioner loop -> Ironic -> commands.

``run_provisioner`` is meant to be one child of the process's top ``TaskGroup``. It runs two
things under its own ``TaskGroup`` and nothing else:

* a ``ProjectionRunner`` folding the host events into a private ``HostsView``; its ``on_applied``
  callback hands each changed host's current state to the loop;
* the ``ProvisionerLoop``, which reconciles hosts against Ironic (``adapters.ironic``), at most
  ``concurrency`` at once, one reconcile per host at a time.

Nothing reaches the loop before the view has caught up with the log; then every host is fed once,
so a restarted provisioner reconciles the whole fleet (it keeps no state of its own: everything
is read back from the log and from Ironic). After that, hosts are fed as their events arrive,
and the provisioner's own observations are fed straight from the command handler's outcome, so
the next step does not wait for the event's round trip through JetStream. A state is only fed
when it is newer (by aggregate version) than the last one fed for that host, so a view lagging
behind the handler never hands the loop an older state.

The view also keeps the command handler's cache honest: an event written by another process
(the Kubernetes adapter, a CLI) makes the handler forget its cached copy of that host, so an
observation is never decided against a state that is known to be old.

Cancelling the coroutine cancels both children and returns nothing half-done: every Ironic call
the provisioner makes is safe to repeat, and every observation is either appended or not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final

import structlog

from adapters.ironic.client import IronicClient, IronicEndpoint
from adapters.ironic.ports import DriverMapping, HostSecrets
from adapters.ironic.provisioning import Provisioner, ProvisionerSettings
from adapters.ironic.scheduling import DEFAULT_CONCURRENCY, ProvisionerLoop
from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.aggregates.host_state import HostState
from core.events.base import RecordedEvent
from core.ports import Checkpoint, CheckpointStore, EventStore
from metalstream import settings
from metalstream.commanding import CommandHandler, Outcome
from metalstream.provisioning.drivers import BmcDriverMapping
from metalstream.provisioning.observations import HandlerCommandSender
from projections.hosts_view import HostsView
from projections.running import ProjectionRunner

log = structlog.get_logger("metalstream.provisioner")

VIEW_NAME: Final = "provisioner-hosts-view"


class ProvisionerHostsView(HostsView):
    """The provisioner's own copy of the hosts view (its own checkpoint name)."""

    name = VIEW_NAME


class _NoCheckpoints:
    """A checkpoint store that keeps nothing: the view is rebuilt from the log at every start."""

    async def load(self, name: str) -> Checkpoint | None:
        return None

    async def save(self, name: str, checkpoint: Checkpoint) -> None:
        return None


class ProvisionerService:
    """The wired provisioner. ``run()`` once, inside a TaskGroup; cancel it to stop."""

    def __init__(
        self,
        *,
        store: EventStore,
        client: IronicClient,
        secrets: HostSecrets,
        drivers: DriverMapping,
        settings: ProvisionerSettings | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        checkpoints: CheckpointStore | None = None,
        handler: CommandHandler[HostState, cmd.HostCommand] | None = None,
    ) -> None:
        self.handler = handler or CommandHandler(store, hosts.DEFINITION)
        self.view = ProvisionerHostsView()
        self.runner = ProjectionRunner(
            self.view, store, checkpoints or _NoCheckpoints(), on_applied=self._applied
        )
        self.commands = HandlerCommandSender(self.handler, on_recorded=self._recorded)
        self.provisioner = Provisioner(client, self.commands, secrets, drivers, settings=settings)
        self.concurrency = max(1, concurrency)
        self.loop = ProvisionerLoop(self.provisioner, concurrency=self.concurrency)
        self.provisioner.wake = self.loop.wake  # hosts waiting for capacity go as soon as it frees up
        self.ready = asyncio.Event()
        """Set once the view has caught up and every existing host was handed to the loop."""
        self._fed: dict[str, int] = {}
        """Per host: the aggregate version of the newest state handed to the loop."""

    async def run(self) -> None:
        """Follow the log and reconcile hosts until cancelled."""
        log.info("provisioner starting", concurrency=self.concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(_forever(self.runner.run, "hosts view"), name="provisioner.hosts-view")
                group.create_task(_forever(self.loop.run, "provisioner loop"), name="provisioner.loop")
                await self.runner.caught_up.wait()
                self._go_live()
        finally:
            self.ready.clear()
            log.info("provisioner stopped", reconciles=self.loop.reconciles, observations=self.commands.sent)

    # -- feeding the loop ------------------------------------------------------------------------

    def _go_live(self) -> None:
        """Hand every host the view knows to the loop (no await: nothing can slip in between)."""
        for record in self.view.all():
            self._feed(record.state, record.version)
        self.ready.set()
        log.info("provisioner caught up", hosts=len(self.view), position=self.runner.position)

    def _applied(self, record: RecordedEvent) -> None:
        host_id = record.envelope.aggregate_id
        version = record.envelope.version
        cached = self.handler.cached(host_id)
        if cached is not None and cached[1].version < version:
            self.handler.forget(host_id)  # written by someone else: do not decide on the old copy
        if not self.ready.is_set():
            return
        current = self.view.get(host_id)
        if current is None:  # deleted: the view dropped it
            self._fed[host_id] = max(version, self._fed.get(host_id, 0))
            self.loop.forget(host_id)
            return
        self._feed(current.state, current.version)

    def _recorded(self, host_id: str, outcome: Outcome[HostState]) -> None:
        if self.ready.is_set():
            self._feed(outcome.state, outcome.revision.version)

    def _feed(self, state: HostState, version: int) -> None:
        if version <= self._fed.get(state.id, 0):
            return
        self._fed[state.id] = version
        self.loop.update(state)


async def _forever(work: Callable[[], Coroutine[Any, Any, None]], what: str) -> None:
    """Run a coroutine that must never return; returning is a bug and stops the provisioner."""
    await work()
    msg = f"the {what} stopped unexpectedly"
    raise RuntimeError(msg)


async def run_provisioner(
    *,
    store: EventStore,
    client: IronicClient,
    secrets: HostSecrets,
    drivers: DriverMapping,
    settings: ProvisionerSettings | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    checkpoints: CheckpointStore | None = None,
    handler: CommandHandler[HostState, cmd.HostCommand] | None = None,
) -> None:
    """Drive every host through Ironic until cancelled (one child of the top TaskGroup).

    ``handler`` may be shared with the rest of the process; by default the provisioner has its
    own. ``checkpoints`` lets the provisioner's view start from a checkpoint instead of replaying
    the whole log.
    """
    service = ProvisionerService(
        store=store,
        client=client,
        secrets=secrets,
        drivers=drivers,
        settings=settings,
        concurrency=concurrency,
        checkpoints=checkpoints,
        handler=handler,
    )
    await service.run()


# -- from settings ---------------------------------------------------------------------------------


async def _read_setting_file(path: str, variable: str) -> str:
    try:
        text = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
    except OSError as e:
        msg = f"cannot read {variable} {path!r}: {e.strerror or type(e).__name__}"
        raise settings.SettingsError(msg) from None
    return text.strip()


async def ironic_endpoint(config: settings.IronicSettings) -> IronicEndpoint:
    """How to reach Ironic: the URL without ``/v1``, basic auth read from files when configured."""
    username, password = config.username, config.password
    if config.username_file is not None:
        username = await _read_setting_file(config.username_file, "METALSTREAM_IRONIC_USERNAME_FILE")
    if config.password_file is not None:
        password = await _read_setting_file(config.password_file, "METALSTREAM_IRONIC_PASSWORD_FILE")
    if password is not None and username is None:
        msg = "an Ironic password is set without a username; set METALSTREAM_IRONIC_USERNAME(_FILE)"
        raise settings.SettingsError(msg)
    url = config.url.rstrip("/")
    url = url.removesuffix("/v1")
    return IronicEndpoint(
        url=url,
        username=username,
        password=password,
        ca_file=config.ca_file,
        insecure=config.insecure,
        timeout=config.timeout,
    )


def provisioner_settings(config: settings.IronicSettings) -> ProvisionerSettings:
    """The provisioner's timing and capacity limit (the rest keeps Metal3's defaults)."""
    return ProvisionerSettings(
        short_requeue=config.short_requeue,
        long_requeue=config.long_requeue,
        provisioning_limit=config.provisioning_limit,
    )


def driver_mapping(config: settings.IronicSettings) -> BmcDriverMapping:
    return BmcDriverMapping(
        fake_deploy=config.fake_deploy,
        deploy_kernel_url=config.deploy_kernel_url,
        deploy_ramdisk_url=config.deploy_ramdisk_url,
        deploy_iso_url=config.deploy_iso_url,
    )


async def run_configured_provisioner(
    config: settings.Settings,
    *,
    store: EventStore,
    secrets: HostSecrets,
    checkpoints: CheckpointStore | None = None,
    handler: CommandHandler[HostState, cmd.HostCommand] | None = None,
) -> None:
    """``run_provisioner`` with everything taken from the process settings."""
    endpoint = await ironic_endpoint(config.ironic)
    async with IronicClient(endpoint) as client:
        await run_provisioner(
            store=store,
            client=client,
            secrets=secrets,
            drivers=driver_mapping(config.ironic),
            settings=provisioner_settings(config.ironic),
            concurrency=config.ironic.concurrency,
            checkpoints=checkpoints,
            handler=handler,
        )


__all__ = [
    "VIEW_NAME",
    "ProvisionerService",
    "driver_mapping",
    "ironic_endpoint",
    "provisioner_settings",
    "run_configured_provisioner",
    "run_provisioner",
]
