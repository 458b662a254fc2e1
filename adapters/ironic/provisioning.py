"""The provisioner: a level-triggered process manager between host state and Ironic.

``Provisioner.reconcile(state)`` looks at one host's state and its Ironic node, makes at most the
next Ironic call the host needs (BMO's per-state handlers, metal3.md 4.3.1), records what it
observed by sending host commands, and says when to look again. It keeps no state of its own that
matters for correctness: everything is read back from the host's events and from Ironic, so a
provisioner killed at any point and started again carries on where the last one stopped.

Crash safety rules:

* A deploy is started only when the node is ``available`` and the host is ``provisioning``; a node
  already deploying or active with the requested image is waited on. Provisioned hosts whose node
  was lost are re-registered and *adopted*, never deployed again.
* Steps that Ironic runs from ``manageable`` and that end in ``manageable`` again (inspection,
  manual cleaning) are tagged in the node's ``extra`` with the round they belong to and Ironic's
  ``provision_updated_at`` just before they started; the step has run when that timestamp moved.
  A host's first inspection needs no tag: any inventory its node gets is the host's.
* The credentials version sent to Ironic is kept in ``extra`` too, so a restart knows whether
  the current Secret has reached Ironic.

Failures the user must see (Ironic's ``last_error``) become ``RecordFailure`` and are retried only
after ``retry_not_before``; Ironic being unreachable or busy is not the host's fault: it is retried
with a growing delay and never recorded.

This module keeps the state machine; its parts live beside it: ``results`` (settings and what a
reconcile returns), ``recording`` (observations and failures sent as host commands), ``power``,
``markers`` (round markers in the node's ``extra``), and ``enrolment``, ``clean_steps`` and
``deploying`` (what each phase sends to Ironic).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import structlog

from adapters.ironic import clean_steps, enrolment, instance_info, inventory, wire
from adapters.ironic.capacity import Capacity
from adapters.ironic.client import IronicClient
from adapters.ironic.deploying import adoption_patch, config_drive, deploy_patch, validation_problems
from adapters.ironic.errors import (
    IronicAuthError,
    IronicClientError,
    IronicConflict,
    IronicNotFound,
    IronicTransientError,
)
from adapters.ironic.markers import (
    EXTRA_CREDENTIALS,
    EXTRA_INSPECTION,
    EXTRA_PREPARATION,
    first_inspection,
    inspected_in_round,
    inspection_marker,
    preparation_marker,
    preparation_round,
    ran_since_marker,
)
from adapters.ironic.node_lookup import Lookup, find_node, node_name
from adapters.ironic.ports import (
    BmcCredentials,
    DriverMapping,
    HostCommandSender,
    HostSecrets,
    NodeDriverSpec,
)
from adapters.ironic.power import BUSY as _BUSY
from adapters.ironic.power import PowerControl
from adapters.ironic.recording import Recorder
from adapters.ironic.results import DONE, ProvisionerSettings, ReconcileResult, Requeue
from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState
from core.events.host_values import ErrorType, HardwareDetails, ProvisioningState

log = structlog.get_logger("metalstream.ironic.provisioner")

PS = ProvisioningState
NS = wire.ProvisionState

DELETE_MAINTENANCE_REASON: Final = "forcing deletion in metalstream"

_DELETABLE: Final = frozenset({NS.ENROLL, NS.MANAGEABLE, NS.AVAILABLE})


class Provisioner:
    """Reconciles one host at a time against Ironic. Safe to call for any host, any number of times."""

    def __init__(
        self,
        client: IronicClient,
        commands: HostCommandSender,
        secrets: HostSecrets,
        drivers: DriverMapping,
        *,
        settings: ProvisionerSettings | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._commands = commands
        self._secrets = secrets
        self._drivers = drivers
        self.settings = settings or ProvisionerSettings()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._rng = rng
        self._capacity = Capacity(
            client.list_nodes,
            limit=self.settings.provisioning_limit,
            ttl=self.settings.capacity_recount,
            max_age=6 * self.settings.capacity_recount,
        )
        self._transient: dict[str, int] = {}
        self._ports: dict[str, tuple[str, str]] = {}
        """Per host: (node uuid, MAC) of the boot port known to exist, so it is not listed on every poll."""
        self._snapshots: dict[str, tuple[float, int, wire.Node, int]] = {}
        """Per host: the node as last read (monotonic time, the client's write count for it, node,
        the host's reconcile round that last used it)."""
        self._rounds: dict[str, int] = {}
        """Per host: reconciles started so far (numbers the rounds)."""
        self._requeue = Requeue(self.settings, rng)
        self._record = Recorder(
            commands,
            settings=self.settings,
            requeue=self._requeue,
            clock=self._clock,
            rng=rng,
            rounds=self._rounds,
        )
        self._power = PowerControl(
            client, self._record, settings=self.settings, requeue=self._requeue, clock=self._clock
        )
        self._monotonic = time.monotonic
        self._waiting: dict[str, None] = {}
        """Hosts refused capacity, oldest first: woken as places free up."""
        self.wake: Callable[[str], None] | None = None
        """Makes a host due at once (``ProvisionerLoop.wake``); without it waiting hosts poll."""

    # -- entry point -----------------------------------------------------------------------------

    async def reconcile(self, state: HostState) -> ReconcileResult:
        """Take the next step for ``state``; never raises for Ironic trouble."""
        self._rounds[state.id] = self._rounds.get(state.id, 0) + 1
        if not state.delayed or state.deleted or state.paused or state.detach is not None:
            self._waiting.pop(state.id, None)  # not (or no longer) waiting for capacity
        if not state.exists or state.deleted or state.paused:
            return DONE
        if state.provisioning_state in (PS.NONE, PS.UNMANAGED):
            return DONE
        bound = log.bind(host=state.id, state=str(state.provisioning_state))
        try:
            result = await self._reconcile(state)
        except (IronicTransientError, IronicConflict, IronicAuthError) as e:
            failures = self._transient.get(state.id, 0) + 1
            self._transient[state.id] = failures
            delay = min(
                self.settings.short_requeue * 2 ** (failures - 1), self.settings.transient_backoff_max
            )
            bound.warning("ironic unavailable or busy; will retry", error=str(e), retry_in=round(delay, 2))
            return self._requeue.after(delay)
        except IronicNotFound as e:
            bound.info("ironic node vanished during reconcile", error=str(e))
            if state.provisioning_id is not None:
                await self._record.send(state, cmd.RecordRegistrationLost(now=self._clock(), reason=str(e)))
            return self._requeue.short()
        except IronicClientError as e:
            bound.warning("ironic refused a request; will look again", error=str(e))
            return self._requeue.long()
        self._transient.pop(state.id, None)
        return result

    # -- dispatch --------------------------------------------------------------------------------

    async def _reconcile(self, state: HostState) -> ReconcileResult:
        too_soon = self._too_soon(state)
        if too_soon is not None:
            return too_soon
        if state.provisioning_state is PS.DELETING:
            return await self._delete(state)
        if state.detach is not None:
            return await self._detach(state)
        if (
            state.delayed
            and state.provisioning_id
            and not await self._capacity.admit(
                state.provisioning_id, writes=self._client.node_writes.get(state.provisioning_id, 0)
            )
        ):
            # Still no room: nothing to ask Ironic about this host. A fleet waiting for capacity
            # must not keep a busy Ironic busier by reading every waiting node every interval;
            # the host is woken when a place frees up, and looks again after the long interval.
            self._waiting.setdefault(state.id)
            return self._requeue.long()
        registered = await self._ensure_registered(state)
        if isinstance(registered, ReconcileResult):
            return registered
        node, driver = registered
        await self._power.observe(state, node)
        match state.provisioning_state:
            case PS.REGISTERING:
                return self._requeue.short()
            case PS.INSPECTING:
                return await self._inspect(state, node, driver)
            case PS.PREPARING | PS.MATCH_PROFILE:
                return await self._prepare(state, node)
            case PS.AVAILABLE | PS.READY:
                return await self._power.at_rest(state, node)
            case PS.PROVISIONING:
                return await self._provision(state, node, driver)
            case PS.PROVISIONED | PS.EXTERNALLY_PROVISIONED:
                return await self._adopt(state, node)
            case PS.DEPROVISIONING:
                return await self._deprovision(state, node)
            case PS.POWERING_OFF_BEFORE_DELETE:
                return await self._power_off_for_delete(state, node)
            case _:
                return DONE

    # -- registration ----------------------------------------------------------------------------

    async def _driver(self, state: HostState) -> tuple[NodeDriverSpec, BmcCredentials] | ReconcileResult:
        secret = state.spec.bmc.credentials_name
        creds = await self._secrets.bmc_credentials(state.namespace, secret) if secret else None
        if creds is None:
            # A missing Secret is the Kubernetes adapter's to report (ObserveCredentials).
            return self._requeue.long()
        try:
            spec = self._drivers(
                state.spec.bmc.address,
                disable_certificate_verification=state.spec.bmc.disable_certificate_verification,
                credentials=creds,
            )
        except ValueError as e:
            await self._record.fail(state, ErrorType.REGISTRATION, str(e), None)
            return self._requeue.long()
        return spec, creds

    async def _ensure_registered(
        self, state: HostState
    ) -> tuple[wire.Node, NodeDriverSpec] | ReconcileResult:
        resolved = await self._driver(state)
        if isinstance(resolved, ReconcileResult):
            return resolved
        driver, creds = resolved
        name = node_name(state.namespace, state.name)
        found = await self._lookup(state, name, registering=True)
        if found.lost:
            log.info(
                "ironic lost the host's node; registering again", host=state.id, node=state.provisioning_id
            )
            reason = f"node {state.provisioning_id} not found in Ironic"
            await self._record.send(state, cmd.RecordRegistrationLost(now=self._clock(), reason=reason))
            return self._requeue.short()
        if found.conflict is not None:
            await self._record.fail(state, ErrorType.REGISTRATION, found.conflict, None)
            return self._requeue.long()
        node = found.node
        if node is None:
            await self._create(state, name, driver, creds)
            return ReconcileResult(0.0)
        await enrolment.ensure_boot_port(self._client, self._ports, state, node)
        if node.state not in _BUSY and enrolment.credentials_outdated(node, driver, creds):
            await enrolment.update_driver_info(self._client, node, driver, creds)
            if node.state == NS.ENROLL:
                await self._client.set_provision_state(node.uuid, "manage")
            return self._requeue.short()
        match node.state:
            case NS.ENROLL:
                if node.target_provision_state == NS.MANAGEABLE:
                    return self._requeue.short()
                if node.last_error:
                    failed = await self._record.failed_step(
                        state, node, ErrorType.REGISTRATION, node.last_error
                    )
                    if failed is not None:
                        return failed
                await self._client.set_provision_state(node.uuid, "manage")
                return self._requeue.short()
            case NS.VERIFYING:
                return self._requeue.short()
            case _:
                pass
        good = state.good_credentials.version if state.good_credentials else None
        if (
            state.provisioning_id != node.uuid
            or good != creds.version
            or state.error_type is ErrorType.REGISTRATION
        ):
            await self._record.send(
                state,
                cmd.RecordRegistration(
                    now=self._clock(), provisioning_id=node.uuid, credentials_version=creds.version
                ),
            )
            if state.provisioning_state is PS.REGISTERING or state.provisioning_id != node.uuid:
                return self._requeue.short()
        return node, driver

    def _too_soon(self, state: HostState) -> ReconcileResult | None:
        """Less than the short interval since we last sent the host's node a request: look later.

        Ironic cannot have got far with what we asked for, and the read would only show it
        under way. Such a reconcile comes from a state change (often our own observation made
        in the reconcile that sent the request, like ``RecordUndelayed``); it waits for the poll
        the request's reconcile asked for, which is at most the short interval away.
        """
        snapshot = self._snapshots.get(state.id)
        if snapshot is None:
            return None
        node_uuid, writes = snapshot[2].uuid, snapshot[1]
        written_at = self._client.node_written_at.get(node_uuid)
        if written_at is None or self._client.node_writes.get(node_uuid, 0) == writes:
            return None  # nothing sent since the last read
        remaining = self.settings.short_requeue - (self._monotonic() - written_at)
        return ReconcileResult(remaining) if remaining > 0 else None

    async def _lookup(self, state: HostState, name: str, *, registering: bool = False) -> Lookup:
        """The host's node; an earlier read is reused if nothing was sent to the node since and
        it is younger than the short interval, or it was read (or reused) by the reconcile just
        before, which recorded an observation.

        A reconcile that records an observation makes the host due again at once, and that
        reconcile can act on the node as it was just read, however long the observation took to
        record on a busy system: only our own requests move a node out of a settled state, and
        they invalidate the read; Ironic's own progress through a transitional state is seen at
        the next poll, as it would have been without the reuse. On a busy Ironic, reads saved are
        capacity for the writes that matter.

        A host never seen by this process and not registered yet (``registering``) skips the
        lookup by name: ``_create`` meets the name in Ironic as a conflict if the node exists.
        """
        round_ = self._rounds.get(state.id, 0)
        snapshot = self._snapshots.get(state.id)
        if snapshot is not None:
            read_at, writes, seen, used_in = snapshot
            mine = seen.name == name and state.provisioning_id in (None, seen.uuid)
            unchanged = self._client.node_writes.get(seen.uuid, 0) == writes
            fresh = self._monotonic() - read_at < self.settings.short_requeue
            followed = used_in == round_ - 1 and self._record.observed.get(state.id) == used_in
            if mine and unchanged and (fresh or followed):
                self._snapshots[state.id] = (read_at, writes, seen, round_)
                return Lookup(node=seen)
        read_at = self._monotonic()
        found = await find_node(
            self._client,
            provisioning_id=state.provisioning_id,
            name=name,
            boot_mac=state.spec.boot_mac_address,
            by_name=not (registering and snapshot is None and state.provisioning_id is None),
        )
        if found.node is not None and found.conflict is None and not found.lost:
            self._remember(state, found.node, read_at)
        return found

    def _remember(self, state: HostState, node: wire.Node, read_at: float) -> None:
        """Keep a node just read (or created) for the next reconciles; count it for capacity."""
        # Writes to this node come only from this host's reconciles, which never overlap.
        writes = self._client.node_writes.get(node.uuid, 0)
        self._snapshots[state.id] = (read_at, writes, node, self._rounds.get(state.id, 0))
        if self._capacity.observe(node, writes=writes):
            self._wake_waiting()

    def _wake_waiting(self) -> None:
        """A place is free: wake as many waiting hosts as there are places, oldest first."""
        if self.wake is None:
            return
        for host_id in list(self._waiting)[: self._capacity.free]:
            self.wake(host_id)

    async def _create(
        self, state: HostState, name: str, driver: NodeDriverSpec, creds: BmcCredentials
    ) -> None:
        try:
            node = await self._client.create_node(enrolment.node_create(state, name, driver, creds))
        except IronicConflict:
            # The name is taken: created before (a retried request, or by a process that stopped
            # before recording the registration; a new host's lookup skips the name). The next
            # reconcile (at once) starts from that node.
            read_at = self._monotonic()
            self._remember(state, await self._client.get_node(name), read_at)
            return
        log.info("registered host in ironic", host=state.id, node=node.uuid, driver=driver.driver)
        await enrolment.ensure_boot_port(self._client, self._ports, state, node, new_node=True)
        # The next reconcile (at once) starts from the node as created: no need to read it back.
        self._remember(state, node, self._monotonic())

    # -- capacity --------------------------------------------------------------------------------

    async def _admitted(self, state: HostState, node: wire.Node) -> bool:
        """Capacity check before a busy operation; records delayed/undelayed as it changes."""
        if await self._capacity.admit(node.uuid, writes=self._client.node_writes.get(node.uuid, 0)):
            self._waiting.pop(state.id, None)
            if state.delayed:
                await self._record.send(state, cmd.RecordUndelayed(now=self._clock()))
            return True
        self._waiting.setdefault(state.id)
        if not state.delayed:
            log.info("provisioning limit reached; host delayed", host=state.id, limit=self._capacity.limit)
            await self._record.send(state, cmd.RecordDelayed(now=self._clock()))
        return False

    # -- inspecting ------------------------------------------------------------------------------

    async def _inspect(self, state: HostState, node: wire.Node, driver: NodeDriverSpec) -> ReconcileResult:
        round_id = state.operation_history.inspect.start or ""
        fast = state.spec.inspection_mode == "fast" and driver.fast_inspect_interface is not None
        match node.state:
            case NS.AVAILABLE:
                await self._client.set_provision_state(node.uuid, "manage")
                return self._requeue.short()
            case NS.INSPECTING | NS.INSPECT_WAIT:
                return self._requeue.short() if fast else self._requeue.long()
            case NS.INSPECT_FAILED:
                failed = await self._record.failed_step(
                    state, node, ErrorType.INSPECTION, node.last_error or "inspection failed"
                )
                if failed is not None:
                    return failed
                return await self._start_inspection(state, node, driver, round_id, fast=fast)
            case NS.MANAGEABLE:
                if node.inspection_finished_at and inspected_in_round(state, node, round_id):
                    details = await self._hardware(node)
                    await self._record.send(state, cmd.RecordInspection(now=self._clock(), hardware=details))
                    return self._requeue.short()
                return await self._start_inspection(state, node, driver, round_id, fast=fast)
            case _:
                return self._requeue.long()

    async def _start_inspection(
        self, state: HostState, node: wire.Node, driver: NodeDriverSpec, round_id: str, *, fast: bool
    ) -> ReconcileResult:
        if not await self._admitted(state, node):
            return self._requeue.long()
        ops = [] if first_inspection(state, node) else [inspection_marker(node, round_id)]
        wanted = driver.fast_inspect_interface if fast else driver.interfaces.get("inspect")
        if wanted and node.inspect_interface != wanted:
            ops.append(wire.PatchOp.add("/inspect_interface", wanted))
        if ops:
            await self._client.patch_node(node.uuid, ops)
        await self._client.set_provision_state(node.uuid, "inspect")
        log.info("inspection started", host=state.id, node=node.uuid)
        return self._requeue.short()

    async def _hardware(self, node: wire.Node) -> HardwareDetails:
        try:
            found = await self._client.get_inventory(node.uuid)
        except IronicNotFound:
            return inventory.from_properties(node.properties)
        return inventory.hardware_details(found.inventory, found.plugin_data)

    # -- preparing -------------------------------------------------------------------------------

    async def _record_preparation(self, state: HostState) -> ReconcileResult:
        applied = cmd.RecordPreparation(
            now=self._clock(),
            firmware_settings=state.firmware_settings,
            firmware_updates=state.firmware_updates,
        )
        await self._record.send(state, applied)
        return self._requeue.short()

    async def _prepare(self, state: HostState, node: wire.Node) -> ReconcileResult:
        disks, raid = clean_steps.raid_steps(state)
        # Metal3's order: RAID first, then BIOS settings, then firmware updates.
        steps = [*raid, *clean_steps.firmware_steps(state)]
        if not steps:
            if node.state in (NS.MANAGEABLE, NS.AVAILABLE):
                return await self._record_preparation(state)
            if node.state == NS.CLEAN_FAILED:
                # The failed settings were withdrawn: bring the node back, nothing to retry.
                return await self._recover_clean_failed(node)
            return self._requeue.long()
        round_id = preparation_round(state)
        match node.state:
            case NS.AVAILABLE:
                await self._client.set_provision_state(node.uuid, "manage")
                return self._requeue.short()
            case NS.CLEANING | NS.CLEAN_WAIT:
                return self._requeue.long()
            case NS.CLEAN_FAILED:
                failed = await self._record.failed_step(
                    state, node, ErrorType.PREPARATION, node.last_error or "manual cleaning failed"
                )
                if failed is not None:
                    return failed
                return await self._recover_clean_failed(node)
            case NS.MANAGEABLE:
                if ran_since_marker(node, EXTRA_PREPARATION, round_id):
                    return await self._record_preparation(state)
                if not await self._admitted(state, node):
                    return self._requeue.long()
                if disks:
                    await self._client.set_raid_config(node.uuid, disks)
                await self._client.patch_node(node.uuid, [preparation_marker(node, round_id)])
                await self._client.set_provision_state(node.uuid, "clean", clean_steps=steps)
                log.info(
                    "manual cleaning started", host=state.id, node=node.uuid, steps=[s.step for s in steps]
                )
                return self._requeue.short()
            case _:
                return self._requeue.long()

    # -- provisioning ----------------------------------------------------------------------------

    async def _sync_automated_clean(self, state: HostState, node: wire.Node) -> None:
        wanted = state.spec.automated_cleaning_mode != "disabled"
        if node.automated_clean != wanted:
            await self._client.patch_node(node.uuid, [wire.PatchOp.add("/automated_clean", wanted)])

    async def _provide(self, state: HostState, node: wire.Node) -> ReconcileResult:
        if not await self._admitted(state, node):
            return self._requeue.long()
        await self._sync_automated_clean(state, node)
        await self._client.set_provision_state(node.uuid, "provide")
        return self._requeue.short()

    async def _clean_failed(self, state: HostState, node: wire.Node) -> ReconcileResult:
        message = f"Cleaning failed: {node.last_error or 'unknown error'}"
        failed = await self._record.failed_step(state, node, ErrorType.PROVISIONING, message)
        if failed is not None:
            return failed
        return await self._recover_clean_failed(node)

    async def _recover_clean_failed(self, node: wire.Node) -> ReconcileResult:
        """``clean failed`` -> ``manageable`` (maintenance off first, as BMO does)."""
        if node.maintenance:
            await self._client.unset_maintenance(node.uuid)
        await self._client.set_provision_state(node.uuid, "manage")
        return self._requeue.short()

    async def _provision(self, state: HostState, node: wire.Node, driver: NodeDriverSpec) -> ReconcileResult:
        image = state.spec.image
        match node.state:
            case NS.ACTIVE:
                wanted = image is None or instance_info.image_matches(node.instance_info, image)
                if wanted:
                    await self._record.send(state, cmd.RecordProvisioned(now=self._clock()))
                    return self._requeue.short()
                log.warning(
                    "node is active with another image; tearing it down", host=state.id, node=node.uuid
                )
                return await self._tear_down(state, node)
            case NS.DEPLOYING | NS.DEPLOY_WAIT | NS.CLEANING | NS.CLEAN_WAIT:
                return self._requeue.long()
            case NS.DEPLOY_FAILED:
                if image is None or instance_info.image_matches(node.instance_info, image):
                    message = (
                        f"Image provisioning failed ({instance_info.image_description(image)}): "
                        f"{node.last_error or 'unknown error'}"
                    )
                    await self._record.fail(state, ErrorType.PROVISIONING, message, node)
                    return self._requeue.short()
                return await self._deploy(state, node, driver)
            case NS.CLEAN_FAILED:
                return await self._clean_failed(state, node)
            case NS.MANAGEABLE:
                if state.error_type is ErrorType.PROVISIONING and not self._record.retry_allowed(state):
                    return self._record.until_retry(state)
                return await self._provide(state, node)
            case NS.AVAILABLE:
                if state.error_type is ErrorType.PROVISIONING and not self._record.retry_allowed(state):
                    return self._record.until_retry(state)
                return await self._deploy(state, node, driver)
            case _:
                return self._requeue.long()

    async def _deploy(self, state: HostState, node: wire.Node, driver: NodeDriverSpec) -> ReconcileResult:
        if not await self._admitted(state, node):
            return self._requeue.long()
        await self._client.patch_node(node.uuid, deploy_patch(state, node, driver))
        problems = validation_problems(await self._client.validate_node(node.uuid))
        if problems:
            await self._record.fail(
                state, ErrorType.PROVISIONING, f"host validation error: {'; '.join(problems)}", None
            )
            return self._requeue.short()
        try:
            drive = await config_drive(self._secrets, state)
        except (ValueError, LookupError) as e:
            # A named Secret is missing or unusable: the message names it, never its content.
            await self._record.fail(state, ErrorType.PROVISIONING, f"host data error: {e}", None)
            return self._requeue.short()
        try:
            await self._client.set_provision_state(
                node.uuid, "active", configdrive=drive, deploy_steps=instance_info.deploy_steps(state)
            )
        except IronicClientError as e:
            if isinstance(e, IronicAuthError) or e.status != 400:
                raise
            # The node was available a moment ago: a 400 is Ironic refusing this deploy's settings.
            await self._record.fail(
                state, ErrorType.PROVISIONING, f"host validation error: {e.message}", None
            )
            return self._requeue.short()
        log.info(
            "deploy started",
            host=state.id,
            node=node.uuid,
            image=state.spec.image.url if state.spec.image else None,
        )
        return self._requeue.short()

    # -- adopting (provisioned, externally provisioned) ------------------------------------------

    async def _adopt(self, state: HostState, node: wire.Node) -> ReconcileResult:
        match node.state:
            case NS.ACTIVE:
                if node.maintenance and not node.fault:
                    await self._client.unset_maintenance(node.uuid)
                    return self._requeue.short()
                if state.needs_adoption:
                    await self._record.send(state, cmd.RecordAdopted(now=self._clock()))
                    return self._requeue.short()
                return await self._power.at_rest(state, node)
            case NS.MANAGEABLE:
                return await self._start_adoption(state, node)
            case NS.ADOPTING:
                return self._requeue.short()
            case NS.ADOPT_FAILED:
                failed = await self._record.failed_step(
                    state, node, ErrorType.PROVISIONED_REGISTRATION, node.last_error or "adoption failed"
                )
                if failed is not None:
                    return failed
                return await self._start_adoption(state, node)
            case NS.AVAILABLE:
                # Adoption starts from manageable; never deploy a provisioned host again.
                await self._client.set_provision_state(node.uuid, "manage")
                return self._requeue.short()
            case _:
                return self._requeue.long()

    async def _start_adoption(self, state: HostState, node: wire.Node) -> ReconcileResult:
        await self._client.patch_node(node.uuid, adoption_patch(state, node))
        await self._client.set_provision_state(node.uuid, "adopt")
        log.info("adopting provisioned host", host=state.id, node=node.uuid)
        return self._requeue.short()

    # -- deprovisioning --------------------------------------------------------------------------

    async def _tear_down(self, state: HostState, node: wire.Node) -> ReconcileResult:
        if not await self._admitted(state, node):
            return self._requeue.long()
        await self._sync_automated_clean(state, node)
        await self._client.set_provision_state(node.uuid, "deleted")
        log.info("deprovisioning started", host=state.id, node=node.uuid)
        return self._requeue.short()

    async def _deprovision(self, state: HostState, node: wire.Node) -> ReconcileResult:
        match node.state:
            case NS.AVAILABLE:
                await self._record.send(state, cmd.RecordDeprovisioned(now=self._clock()))
                return self._requeue.short()
            case NS.ACTIVE | NS.DEPLOY_FAILED | NS.DEPLOY_WAIT | NS.ERROR:
                return await self._tear_down(state, node)
            case NS.MANAGEABLE:
                return await self._provide(state, node)
            case NS.CLEAN_FAILED:
                return await self._clean_failed(state, node)
            case NS.ADOPT_FAILED | NS.INSPECT_FAILED:
                await self._client.set_provision_state(node.uuid, "manage")
                return self._requeue.short()
            case _:
                return self._requeue.long()

    # -- deleting --------------------------------------------------------------------------------

    async def _power_off_for_delete(self, state: HostState, node: wire.Node) -> ReconcileResult:
        if node.state in (NS.INSPECT_WAIT, NS.CLEAN_WAIT):
            await self._client.set_provision_state(node.uuid, "abort")
            return self._requeue.short()
        if node.state in _BUSY or node.target_provision_state:
            return self._requeue.short()
        if state.spec.disable_power_off:
            return self._requeue.short()
        return await self._power.manage(state, node, wanted=False) or self._requeue.short()

    async def _find_for_delete(self, state: HostState) -> wire.Node | None:
        return (await self._lookup(state, node_name(state.namespace, state.name))).node

    async def _remove_node(self, state: HostState, node: wire.Node) -> ReconcileResult | None:
        """Delete the node (maintenance first when Ironic would refuse); None once it is gone."""
        if node.state in _BUSY:
            return self._requeue.short()
        if node.state not in _DELETABLE and not node.maintenance:
            await self._client.set_maintenance(node.uuid, DELETE_MAINTENANCE_REASON)
        with contextlib.suppress(IronicNotFound):
            await self._client.delete_node(node.uuid)
        self._capacity.forget(node.uuid)
        self._ports.pop(state.id, None)
        self._snapshots.pop(state.id, None)
        log.info("deleted ironic node", host=state.id, node=node.uuid)
        return None

    async def _delete(self, state: HostState) -> ReconcileResult:
        node = await self._find_for_delete(state)
        if node is not None:
            waiting = await self._remove_node(state, node)
            if waiting is not None:
                return waiting
        await self._record.send(state, cmd.RecordNodeDeleted(now=self._clock()))
        memories = (
            self._transient,
            self._ports,
            self._snapshots,
            self._waiting,
            self._rounds,
        )
        for memory in memories:
            memory.pop(state.id, None)
        self._record.forget(state.id)
        self._power.forget(state.id)
        return DONE

    async def _detach(self, state: HostState) -> ReconcileResult:
        if state.detach is None or state.detach.completed:
            return DONE
        node = await self._find_for_delete(state)
        if node is not None:
            waiting = await self._remove_node(state, node)
            if waiting is not None:
                return waiting
        await self._record.send(state, cmd.RecordDetached(now=self._clock()))
        return DONE


__all__ = [
    "DELETE_MAINTENANCE_REASON",
    "DONE",
    "EXTRA_CREDENTIALS",
    "EXTRA_INSPECTION",
    "EXTRA_PREPARATION",
    "Provisioner",
    "ProvisionerSettings",
    "ReconcileResult",
]
