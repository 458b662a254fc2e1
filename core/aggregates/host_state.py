"""The state of one host, and ``evolve``: how each host event changes it.

``evolve`` is a total, pure fold step. It never validates (that was ``decide``'s job when the
event was recorded) and never fails: an event from a newer build that this one does not know
leaves the state unchanged, so old readers can still replay a log written by new writers.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from msgspec.structs import replace

from core.events import hosts as ev
from core.events.base import Event, UndecodableEvent, UnknownEvent
from core.events.host_values import (
    ConsumerRef,
    CredentialsRef,
    CustomDeploy,
    DeleteAction,
    ErrorType,
    FirmwareUpdate,
    HardwareDetails,
    HostSpec,
    Image,
    OperationalStatus,
    OperationHistory,
    OperationTimes,
    ProvisioningState,
    RAIDConfig,
    RebootMode,
    RootDeviceHints,
)

PS = ProvisioningState


class DetachState(msgspec.Struct, frozen=True, kw_only=True):
    """What the detached annotation asked for, and whether Ironic has let go of the node."""

    delete_action: DeleteAction = "delete"
    force: bool = False
    completed: bool = False


class HostState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the domain knows about one host, folded from its events."""

    exists: bool = False
    deleted: bool = False
    namespace: str = ""
    name: str = ""
    uid: str = ""
    generation: int = 0
    spec: HostSpec = HostSpec()
    max_provisioning_retries: int = 5

    provisioning_state: ProvisioningState = PS.NONE
    provisioning_id: str | None = None
    """Ironic node UUID while Ironic knows the node."""
    needs_adoption: bool = False
    """Registration was lost while provisioned: Ironic must adopt, never re-deploy."""

    credentials: CredentialsRef | None = None
    """The newest credentials Secret version seen (``triedCredentials``)."""
    good_credentials: CredentialsRef | None = None

    error_type: ErrorType | None = None
    error_message: str = ""
    error_count: int = 0
    retry_not_before: datetime | None = None

    hardware: HardwareDetails | None = None
    powered_on: bool = False

    prepared_raid: RAIDConfig | None = None
    prepared_root_device_hints: RootDeviceHints | None = None

    firmware_settings: dict[str, str] = msgspec.field(default_factory=dict)
    """BIOS settings the HostFirmwareSettings object asks for."""
    firmware_updates: tuple[FirmwareUpdate, ...] = ()
    """Firmware images the HostFirmwareComponents object asks to flash."""
    firmware_settings_generation: int = 0
    firmware_updates_generation: int = 0
    prepared_firmware_settings: dict[str, str] = msgspec.field(default_factory=dict)
    prepared_firmware_updates: tuple[FirmwareUpdate, ...] = ()

    provisioned_image: Image | None = None
    provisioned_custom_deploy: CustomDeploy | None = None
    provisioned_root_device_hints: RootDeviceHints | None = None
    provisioned_boot_mode: str | None = None

    provisioning_fail_count: int = 0
    last_attempted_image: Image | None = None
    last_attempted_custom_deploy: CustomDeploy | None = None
    last_attempt_failed: bool = False

    operation_history: OperationHistory = OperationHistory()

    consumer: ConsumerRef | None = None
    paused: bool = False
    detach: DetachState | None = None
    reboot_requests: tuple[tuple[str, RebootMode], ...] = ()
    reboot_power_off_pending: bool = False
    """A reboot was requested and the host has not been seen powered off since."""
    inspection_requested: bool = False
    deletion_requested: bool = False
    delayed: bool = False

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def operational_status(self) -> OperationalStatus:
        """Derived like Metal3 does: error first, then detached, delayed, discovered, OK."""
        if not self.exists:
            return OperationalStatus.NONE
        if self.error_type is not None:
            return OperationalStatus.ERROR
        if self.detach is not None and self.detach.completed:
            return OperationalStatus.DETACHED
        if self.delayed:
            return OperationalStatus.DELAYED
        if self.provisioning_state is PS.UNMANAGED:
            return OperationalStatus.DISCOVERED
        return OperationalStatus.OK

    @property
    def reboot_mode(self) -> RebootMode | None:
        """The mode a pending reboot uses: hard wins if any request asks for it."""
        if not self.reboot_requests:
            return None
        return "hard" if any(mode == "hard" for _, mode in self.reboot_requests) else "soft"


INITIAL = HostState()

BUSY_STATES = frozenset({PS.INSPECTING, PS.PREPARING, PS.PROVISIONING, PS.DEPROVISIONING})
"""States whose Ironic work counts against the provisioning capacity limit (may be ``delayed``)."""

_TIMED_OPERATIONS: dict[ProvisioningState, str] = {
    PS.REGISTERING: "register",
    PS.INSPECTING: "inspect",
    PS.PROVISIONING: "provision",
    PS.DEPROVISIONING: "deprovision",
}


def _history(state: HostState, change: ev.ProvisioningStateChanged) -> OperationHistory:
    history = state.operation_history
    stamp = change.at.isoformat().replace("+00:00", "Z")
    ended = _TIMED_OPERATIONS.get(change.previous)
    if ended is not None:
        times: OperationTimes = getattr(history, ended)
        history = replace(history, **{ended: replace(times, end=stamp)})
    started = _TIMED_OPERATIONS.get(change.state)
    if started is not None:
        history = replace(history, **{started: OperationTimes(start=stamp)})
    return history


def _state_changed(state: HostState, e: ev.ProvisioningStateChanged) -> HostState:
    new = replace(state, provisioning_state=e.state, operation_history=_history(state, e))
    if e.state is PS.INSPECTING:
        new = replace(new, inspection_requested=False)
    if e.state is PS.PROVISIONED and e.previous is PS.EXTERNALLY_PROVISIONED:
        # Leaving "externally provisioned": what the spec says is installed becomes the status image.
        new = replace(
            new,
            provisioned_image=state.spec.image,
            provisioned_custom_deploy=state.spec.custom_deploy,
        )
    if e.state not in BUSY_STATES:
        new = replace(new, delayed=False)
    return new


def evolve(state: HostState, event: Event | UnknownEvent | UndecodableEvent) -> HostState:
    """Apply one event to a host's state."""
    match event:
        case ev.HostCreated():
            return HostState(
                exists=True,
                namespace=event.namespace,
                name=event.name,
                uid=event.uid,
                generation=event.generation,
                spec=event.spec,
                max_provisioning_retries=event.max_provisioning_retries,
            )
        case ev.SpecChanged():
            return replace(
                state,
                generation=event.generation,
                spec=event.spec,
                max_provisioning_retries=event.max_provisioning_retries,
            )
        case ev.CredentialsObserved():
            return replace(state, credentials=event.credentials)
        case ev.Paused():
            return replace(state, paused=True)
        case ev.Resumed():
            return replace(state, paused=False)
        case ev.DetachRequested():
            completed = state.detach.completed if state.detach is not None else False
            detach = DetachState(delete_action=event.delete_action, force=event.force, completed=completed)
            return replace(state, detach=detach)
        case ev.DetachCompleted():
            detach = state.detach or DetachState()
            return replace(state, detach=replace(detach, completed=True), provisioning_id=None)
        case ev.AttachRequested():
            needs_adoption = state.provisioning_state in (PS.PROVISIONED, PS.EXTERNALLY_PROVISIONED)
            return replace(state, detach=None, provisioning_id=None, needs_adoption=needs_adoption)
        case ev.RebootRequested():
            requests = tuple((k, m) for k, m in state.reboot_requests if k != event.key)
            return replace(
                state,
                reboot_requests=(*requests, (event.key, event.mode)),
                reboot_power_off_pending=True,
            )
        case ev.RebootCompleted():
            requests = tuple((k, m) for k, m in state.reboot_requests if k != event.key)
            return replace(
                state,
                reboot_requests=requests,
                reboot_power_off_pending=state.reboot_power_off_pending and bool(requests),
            )
        case ev.InspectionRequested():
            return replace(state, inspection_requested=True)
        case ev.StatusRestored():
            return replace(
                state,
                provisioning_state=event.provisioning_state,
                provisioning_id=event.provisioning_id,
                needs_adoption=event.provisioning_state in (PS.PROVISIONED, PS.EXTERNALLY_PROVISIONED),
                provisioned_image=event.image,
                provisioned_custom_deploy=event.custom_deploy,
                hardware=event.hardware,
                powered_on=event.powered_on,
                good_credentials=event.good_credentials,
                operation_history=event.operation_history,
            )
        case ev.DeletionRequested():
            return replace(state, deletion_requested=True)
        case ev.ConsumerClaimed():
            return replace(state, consumer=event.consumer)
        case ev.ConsumerReleased():
            return replace(state, consumer=None)
        case ev.ProvisioningStateChanged():
            return _state_changed(state, event)
        case ev.ErrorRecorded():
            return replace(
                state,
                error_type=event.error_type,
                error_message=event.message,
                error_count=event.error_count,
                retry_not_before=event.retry_not_before,
            )
        case ev.ErrorCleared():
            return replace(state, error_type=None, error_message="", error_count=0, retry_not_before=None)
        case ev.ProvisioningAttemptStarted():
            return replace(
                state,
                last_attempted_image=event.image,
                last_attempted_custom_deploy=event.custom_deploy,
                last_attempt_failed=False,
            )
        case ev.ProvisioningAttemptFailed():
            return replace(state, provisioning_fail_count=event.fail_count, last_attempt_failed=True)
        case ev.ProvisioningFailCountReset():
            return replace(state, provisioning_fail_count=0, last_attempt_failed=False)
        case ev.RegistrationSucceeded():
            return replace(
                state,
                provisioning_id=event.provisioning_id,
                good_credentials=event.credentials or state.good_credentials,
            )
        case ev.BmcAccessValidated():
            return replace(state, good_credentials=event.credentials or state.good_credentials)
        case ev.RegistrationLost():
            needs_adoption = state.needs_adoption or state.provisioning_state in (
                PS.PROVISIONED,
                PS.EXTERNALLY_PROVISIONED,
            )
            return replace(state, provisioning_id=None, needs_adoption=needs_adoption)
        case ev.HardwareInspected():
            return replace(state, hardware=event.hardware)
        case ev.PreparationCompleted():
            return replace(
                state,
                prepared_raid=event.raid,
                prepared_root_device_hints=event.root_device_hints,
                prepared_firmware_settings=event.firmware_settings,
                prepared_firmware_updates=event.firmware_updates,
            )
        case ev.FirmwareConfigChanged():
            return replace(
                state,
                firmware_settings=event.settings,
                firmware_updates=event.updates,
                firmware_settings_generation=event.settings_generation,
                firmware_updates_generation=event.updates_generation,
            )
        case ev.ProvisioningCompleted():
            return replace(
                state,
                provisioned_image=event.image,
                provisioned_custom_deploy=event.custom_deploy,
                provisioned_root_device_hints=event.root_device_hints,
                provisioned_boot_mode=event.boot_mode,
                last_attempt_failed=False,
            )
        case ev.DeprovisioningCompleted():
            return replace(
                state,
                provisioned_image=None,
                provisioned_custom_deploy=None,
                provisioned_root_device_hints=None,
                provisioned_boot_mode=None,
            )
        case ev.Adopted():
            return replace(state, needs_adoption=False)
        case ev.PowerObserved():
            return replace(
                state,
                powered_on=event.powered_on,
                reboot_power_off_pending=state.reboot_power_off_pending and event.powered_on,
            )
        case ev.Delayed():
            return replace(state, delayed=True)
        case ev.Undelayed():
            return replace(state, delayed=False)
        case ev.HostDeleted():
            return replace(state, deleted=True, provisioning_id=None)
        case UnknownEvent() | UndecodableEvent():
            return state
        case _:
            # An event of another aggregate type never reaches this fold; keep it total anyway.
            return state
