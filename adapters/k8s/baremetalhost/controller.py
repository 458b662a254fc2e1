"""Reconciles one BareMetalHost object with its host aggregate: commands in, status out.

One reconcile per object at a time (the work queue guarantees it). Each reconcile is level-
triggered and idempotent: it reads the object as it is now and the host's state as recorded,
sends only the commands that make the log say what the object says (a spec generation the log
has not seen, annotations the state does not reflect, the credentials Secret's version), then
writes the status the state implies. A resync, a watch replay or a restart therefore sends no
duplicate command: the aggregate's own rules (generation ordering, idempotent declarations)
back this up if two reconciles ever raced across processes.

Deletion follows Metal3: the finalizer ``baremetalhost.metal3.io`` is added on first sight; a
deletionTimestamp becomes ``RequestDeletion``; the host aggregate walks through deprovisioning,
powering off and deleting with the provisioner; only once the log records ``host.deleted`` are
the Secret's finalizer, the HardwareData and finally the host's finalizer removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
import structlog

from adapters.k8s.baremetalhost import annotations as notes
from adapters.k8s.baremetalhost import firmware
from adapters.k8s.baremetalhost import status as host_status
from adapters.k8s.baremetalhost.manifest import HostObject, ManifestProblem, read_host
from adapters.k8s.baremetalhost.ports import FirmwareObjects, HostCluster, HostCommands
from adapters.k8s.secret_values import SecretValueError, secret_text
from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState
from core.errors import CommandRejected
from core.events.hosts import StatusRestored

log = structlog.get_logger("metalstream.k8s.baremetalhost")

FINALIZER: Final = "baremetalhost.metal3.io"
MISSING_SECRET_RECHECK: Final = 10.0
"""Seconds before a host whose credentials Secret is missing looks again (Metal3's value)."""
CAPM3_KINDS: Final = frozenset({"Metal3Machine", "HostClaim"})
"""Consumers that claim and release through the aggregate themselves: never claimed or released
from here, so a lagging view of the object's ``consumerRef`` cannot re-claim a released host."""


@dataclass(frozen=True, slots=True)
class Result:
    """``requeue_after``: look at the object again after this many seconds even without a change."""

    requeue_after: float | None = None


DONE: Final = Result()


def _secret_problem(secret: Mapping[str, Any]) -> str | None:
    """Why a credentials Secret cannot be used, naming the key (never its value)."""
    for key in ("username", "password"):
        try:
            text = secret_text(secret, key)
        except SecretValueError as error:
            return str(error)
        if text is None:
            return f"the Secret has no {key!r} key; add it"
        if not text.strip():
            return f"the Secret's {key!r} key is empty"
    return None


class HostController:
    """Reconciles BareMetalHost objects; ``reconcile`` is called by the work queue."""

    def __init__(
        self,
        commands: HostCommands,
        cluster: HostCluster,
        *,
        max_provisioning_retries: int = 5,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._commands = commands
        self._cluster = cluster
        self._max_retries = max_provisioning_retries
        self._clock = clock or (lambda: datetime.now(UTC))
        self._refused: dict[str, tuple[int, str]] = {}
        """Per host: the (generation, reason) last refused, so a resync does not report it again."""
        self._firmware_refused: dict[str, tuple[int, int]] = {}
        """Per host: the firmware objects' generations last refused, so they are not sent again."""

    async def reconcile(self, obj: Mapping[str, Any] | None, host_id: str) -> Result:
        """Bring the log in line with ``obj`` (None: the object is gone) and write its status."""
        if obj is None:
            return await self._vanished(host_id)
        try:
            host = read_host(obj)
        except ManifestProblem as problem:
            generation = int(obj.get("metadata", {}).get("generation") or 0)
            await self._refuse(obj, host_id, generation, "InvalidConfiguration", str(problem))
            return DONE
        state = await self._commands.state(host.id)
        if host.deleting:
            return await self._deleting(obj, host, state)
        if FINALIZER not in host.finalizers:
            await self._cluster.set_finalizer(obj, FINALIZER, present=True)
        state = await self._apply_spec(obj, host, state)
        if not state.exists:
            return DONE
        result = DONE
        if host.spec.bmc.credentials_name:
            state, result = await self._credentials(obj, host, state)
        found = await self._cluster.get_firmware(host.namespace, host.name)
        state = await self._firmware(obj, host, state, found)
        state = await self._annotations(obj, host, state)
        state = await self._consumer(obj, host, state)
        await self._project(obj, host, state)
        if found.settings is not None:
            hfs_status = firmware.settings_status(found.settings, state, self._clock())
            if host_status.differs(found.settings.get("status") or {}, hfs_status):
                await self._cluster.write_firmware_settings_status(found.settings, hfs_status)
        return result

    # -- steps -------------------------------------------------------------------------------------

    async def _send(
        self, obj: Mapping[str, Any], host: HostObject, command: cmd.HostCommand
    ) -> HostState | None:
        try:
            return await self._commands.send(host.id, command)
        except CommandRejected as refusal:
            await self._refuse(obj, host.id, host.generation, type(command).__name__, str(refusal))
            return None

    async def _refuse(
        self, obj: Mapping[str, Any], host_id: str, generation: int, what: str, why: str
    ) -> None:
        if self._refused.get(host_id) == (generation, why):
            return
        self._refused[host_id] = (generation, why)
        log.warning("host change refused", host=host_id, generation=generation, what=what, reason=why)
        await self._cluster.record(obj, "Warning", "InvalidConfiguration", why)

    async def _apply_spec(self, obj: Mapping[str, Any], host: HostObject, state: HostState) -> HostState:
        if (
            state.exists
            and not state.deleted
            and state.uid == host.uid
            and state.generation >= host.generation
        ):
            return state
        if self._refused.get(host.id, (None, ""))[0] == host.generation:
            return state  # this generation was refused already; wait for the next edit
        restored: StatusRestored | None = None
        saved = host.annotations.get(notes.STATUS)
        if saved and not (state.exists and not state.deleted):
            try:
                restored = host_status.restored(saved)
            except ValueError as problem:
                await self._cluster.record(obj, "Warning", "InvalidAnnotationValue", str(problem))
        command = cmd.ApplySpec(
            now=self._clock(),
            namespace=host.namespace,
            name=host.name,
            uid=host.uid,
            generation=host.generation,
            spec=host.spec,
            max_provisioning_retries=self._max_retries,
            restored_status=restored,
        )
        new = await self._send(obj, host, command)
        return new if new is not None else state

    async def _credentials(
        self, obj: Mapping[str, Any], host: HostObject, state: HostState
    ) -> tuple[HostState, Result]:
        name = host.spec.bmc.credentials_name
        secret = await self._cluster.get_secret(host.namespace, name)
        if secret is None:
            command = cmd.ObserveCredentials(now=self._clock(), secret_name=name, version=None)
            result = Result(requeue_after=MISSING_SECRET_RECHECK)
        else:
            await self._cluster.adopt_secret(secret, obj)
            version = str(secret.get("metadata", {}).get("resourceVersion") or "")
            command = cmd.ObserveCredentials(
                now=self._clock(), secret_name=name, version=version, problem=_secret_problem(secret)
            )
            result = DONE
        new = await self._send(obj, host, command)
        return (new if new is not None else state), result

    async def _firmware(
        self, obj: Mapping[str, Any], host: HostObject, state: HostState, found: FirmwareObjects
    ) -> HostState:
        """Declare the HostFirmwareSettings/Components named like the host when either is newer."""
        generations = (firmware.generation(found.settings), firmware.generation(found.components))
        newer = (
            generations[0] > state.firmware_settings_generation
            or generations[1] > state.firmware_updates_generation
        )
        if not newer or self._firmware_refused.get(host.id) == generations:
            return state
        try:
            command = firmware.declaration(found, self._clock())
        except firmware.FirmwareProblem as problem:
            self._firmware_refused[host.id] = generations
            log.warning("firmware objects refused", host=host.id, reason=str(problem))
            await self._cluster.record(obj, "Warning", "InvalidConfiguration", str(problem))
            return state
        try:
            new = await self._commands.send(host.id, command)
        except CommandRejected as refusal:
            self._firmware_refused[host.id] = generations
            log.warning("firmware objects refused", host=host.id, reason=str(refusal))
            await self._cluster.record(obj, "Warning", "InvalidConfiguration", str(refusal))
            return state
        self._firmware_refused.pop(host.id, None)
        return new

    async def _annotations(self, obj: Mapping[str, Any], host: HostObject, state: HostState) -> HostState:
        plan = notes.plan(host.annotations, state, self._clock())
        for problem in plan.problems:
            await self._cluster.record(obj, "Warning", "InvalidAnnotationValue", str(problem))
        consumed_ok = True
        for command in plan.commands:
            new = await self._send(obj, host, command)
            if new is None:
                consumed_ok = False
            else:
                state = new
        if plan.consumed and consumed_ok:
            await self._cluster.remove_annotations(obj, plan.consumed)
        return state

    async def _consumer(self, obj: Mapping[str, Any], host: HostObject, state: HostState) -> HostState:
        if host.consumer is not None and state.consumer is None and host.consumer.kind not in CAPM3_KINDS:
            new = await self._send(obj, host, cmd.ClaimHost(now=self._clock(), consumer=host.consumer))
            return new if new is not None else state
        if host.consumer is None and state.consumer is not None and state.consumer.kind not in CAPM3_KINDS:
            new = await self._send(obj, host, cmd.ReleaseHost(now=self._clock(), consumer=state.consumer))
            return new if new is not None else state
        return state

    async def _project(self, obj: Mapping[str, Any], host: HostObject, state: HostState) -> None:
        desired = host_status.render(state, host.status, self._clock())
        if host_status.differs(host.status, desired):
            await self._cluster.write_status(obj, desired)
        if state.hardware is not None:
            await self._cluster.put_hardware_data(obj, msgspec.to_builtins(state.hardware))

    async def _deleting(self, obj: Mapping[str, Any], host: HostObject, state: HostState) -> Result:
        if state.exists and not state.deleted and state.uid == host.uid:
            if not state.deletion_requested:
                new = await self._send(obj, host, cmd.RequestDeletion(now=self._clock()))
                state = new if new is not None else state
            await self._project(obj, host, state)
            if not state.deleted:
                return DONE  # the provisioner takes it from here; its events bring us back
        await self._cleanup(host.namespace, host.name, host.spec.bmc.credentials_name, host.uid)
        if FINALIZER in host.finalizers:
            await self._cluster.set_finalizer(obj, FINALIZER, present=False)
        self._refused.pop(host.id, None)
        self._firmware_refused.pop(host.id, None)
        return DONE

    async def _cleanup(self, namespace: str, name: str, secret_name: str, owner_uid: str) -> None:
        await self._cluster.delete_hardware_data(namespace, name)
        if secret_name:
            await self._cluster.release_secret(namespace, secret_name, owner_uid)

    async def _vanished(self, host_id: str) -> Result:
        """The object is gone without our finalizer's consent (force-removed): delete the host too."""
        self._refused.pop(host_id, None)
        self._firmware_refused.pop(host_id, None)
        state = await self._commands.state(host_id)
        if state.exists and not state.deleted and not state.deletion_requested:
            log.warning("host object removed without its finalizer; deleting the host", host=host_id)
            try:
                await self._commands.send(host_id, cmd.RequestDeletion(now=self._clock()))
            except CommandRejected as refusal:
                log.warning("host deletion refused", host=host_id, reason=str(refusal))
        return DONE
