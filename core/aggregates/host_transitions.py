"""The automatic part of the BareMetalHost state machine.

Metal3's controller is level-triggered: on every reconcile it looks at the host and moves it on
when a condition holds (registered -> inspect, image set -> provision, deletion requested ->
deprovision or power off, ...). Here the same conditions are checked after every command, on the
state the command's events produced, and their transitions are recorded in the same append. So a
host never sits in a state whose exit condition already holds, and no polling is needed for it.

Transitions that wait for the outside world (inspection finished, image written, node deleted)
are not here: they follow observation commands in ``hosts.decide``.
"""

from __future__ import annotations

from datetime import datetime

from core.aggregates.host_state import HostState
from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import ErrorType, ProvisioningState

PS = ProvisioningState

GIVE_UP_AFTER_ERRORS = 3
"""Deletion stops waiting for a failing deprovision or power-off after this many errors (Metal3)."""

_POWER_OFF_FIRST = frozenset(
    {
        PS.INSPECTING,
        PS.PREPARING,
        PS.AVAILABLE,
        PS.READY,
        PS.EXTERNALLY_PROVISIONED,
        PS.MATCH_PROFILE,
    }
)


def has_bmc(state: HostState) -> bool:
    """Whether the spec names a BMC or a credentials Secret (otherwise the host is unmanaged).

    Like Metal3's ``HasBMCDetails``, either one is enough: a host with only one of them goes on
    to ``registering``, where the missing half is reported as a registration error.
    """
    return bool(state.spec.bmc.address or state.spec.bmc.credentials_name)


def inspection_disabled(state: HostState) -> bool:
    return state.spec.inspection_mode == "disabled"


def retry_limit_reached(state: HostState) -> bool:
    limit = state.max_provisioning_retries
    return limit > 0 and state.provisioning_fail_count >= limit


def retry_limit_message(state: HostState) -> str:
    return (
        f"provisioning failed {state.provisioning_fail_count} times, retry limit "
        f"({state.max_provisioning_retries}) reached; change image or reset provisioningFailCount to retry"
    )


def needs_provisioning(state: HostState) -> bool:
    """Metal3's NeedsProvisioning: online, and an image or custom deploy not yet on the host."""
    spec = state.spec
    if not spec.online:
        return False
    if spec.image is not None and spec.image.url and state.provisioned_image is None:
        return True
    return spec.custom_deploy is not None and state.provisioned_custom_deploy is None


def _image_url(state: HostState) -> str | None:
    return state.spec.image.url if state.spec.image is not None else None


def _custom_method(state: HostState) -> str | None:
    return state.spec.custom_deploy.method if state.spec.custom_deploy is not None else None


def provisioning_cancelled(state: HostState) -> bool:
    """While provisioning: the image or custom deploy being written was removed or changed."""
    attempted_url = state.last_attempted_image.url if state.last_attempted_image else None
    attempted_method = (
        state.last_attempted_custom_deploy.method if state.last_attempted_custom_deploy else None
    )
    return _image_url(state) != attempted_url or _custom_method(state) != attempted_method


def provisioned_image_changed(state: HostState) -> bool:
    """While provisioned: the spec no longer asks for what is on the disk."""
    installed_url = state.provisioned_image.url if state.provisioned_image else None
    installed_method = state.provisioned_custom_deploy.method if state.provisioned_custom_deploy else None
    return _image_url(state) != installed_url or _custom_method(state) != installed_method


def firmware_preparation_needed(state: HostState) -> bool:
    """The declared BIOS settings or firmware updates differ from what the last preparation applied.

    Metal3 prepares again when HostFirmwareSettings or HostFirmwareComponents detect a change
    (``ChangeDetected``); what was applied is the status those conditions compare against.
    """
    return (
        state.firmware_settings != state.prepared_firmware_settings
        or state.firmware_updates != state.prepared_firmware_updates
    )


def preparation_needed(state: HostState) -> bool:
    """RAID, root device hints or firmware differ from what the last preparation applied."""
    return (
        state.spec.raid != state.prepared_raid
        or state.spec.root_device_hints != state.prepared_root_device_hints
        or firmware_preparation_needed(state)
    )


def _to(state: HostState, target: ProvisioningState, reason: str, now: datetime) -> list[Event]:
    return [
        ev.ProvisioningStateChanged(previous=state.provisioning_state, state=target, reason=reason, at=now)
    ]


_POWER_OFF_FAILURES = frozenset({ErrorType.POWER_MANAGEMENT, ErrorType.REGISTRATION})


def _unreachable(state: HostState) -> bool:
    """Ironic does not know the node and the BMC credentials cannot be used to register it."""
    return state.provisioning_id is None and state.error_type is ErrorType.REGISTRATION


def _deletion_step(state: HostState, now: datetime) -> list[Event]:
    """Metal3's checkInitiateDelete and the delete-time exits of each state."""
    current = state.provisioning_state
    if current is PS.DELETING:
        return []
    if state.detach is not None and state.detach.completed:
        if state.detach.delete_action == "delay":
            return []
        return _to(state, PS.DELETING, "deleted while detached", now)
    if current in (PS.NONE, PS.UNMANAGED, PS.REGISTERING):
        return _to(state, PS.DELETING, "deleted before registration completed", now)
    if current in (PS.PROVISIONING, PS.PROVISIONED):
        return _to(state, PS.DEPROVISIONING, "deleted while provisioned", now)
    if current is PS.DEPROVISIONING:
        if _unreachable(state):
            return _to(state, PS.DELETING, "not registered and no usable credentials", now)
        if state.error_count > GIVE_UP_AFTER_ERRORS:
            if state.error_type is ErrorType.REGISTRATION:
                return _to(state, PS.DELETING, "cannot reach the BMC; deleting without deprovisioning", now)
            return _to(state, PS.POWERING_OFF_BEFORE_DELETE, "deprovisioning keeps failing; giving up", now)
        return []
    if current is PS.POWERING_OFF_BEFORE_DELETE:
        if not state.powered_on or state.spec.disable_power_off:
            return _to(state, PS.DELETING, "powered off", now)
        # Only failures of this state count: a host that gave up deprovisioning arrives here with
        # more than 3 errors already, and Metal3 still tries to power it off once.
        if state.error_count > GIVE_UP_AFTER_ERRORS and state.error_type in _POWER_OFF_FAILURES:
            return _to(state, PS.DELETING, "power off keeps failing; deleting anyway", now)
        if _unreachable(state):
            return _to(state, PS.DELETING, "not registered and no usable credentials", now)
        return []
    if current in _POWER_OFF_FIRST:
        return _to(state, PS.POWERING_OFF_BEFORE_DELETE, "deleted", now)
    return []


def _provisioning_error_cleared(state: HostState) -> list[Event]:
    return [ev.ErrorCleared()] if state.error_type is ErrorType.PROVISIONING else []


def _available_step(state: HostState, now: datetime) -> list[Event]:
    if state.spec.externally_provisioned:
        return _to(state, PS.EXTERNALLY_PROVISIONED, "externallyProvisioned set", now)
    if state.inspection_requested and not inspection_disabled(state):
        return _to(state, PS.INSPECTING, "inspection requested", now)
    if firmware_preparation_needed(state):
        return _to(state, PS.PREPARING, "firmware settings or updates changed", now)
    if preparation_needed(state):
        return _to(state, PS.PREPARING, "RAID or root device hints changed", now)
    nothing_requested = state.spec.image is None and state.spec.custom_deploy is None
    if state.provisioning_fail_count > 0 and nothing_requested:
        # Like the other two resets, this one withdraws the failure it was counting.
        return [ev.ProvisioningFailCountReset(reason="image removed"), *_provisioning_error_cleared(state)]
    if not needs_provisioning(state):
        return []
    image_changed = (
        state.spec.image != state.last_attempted_image
        or state.spec.custom_deploy != state.last_attempted_custom_deploy
    )
    if state.provisioning_fail_count > 0 and image_changed:
        return [ev.ProvisioningFailCountReset(reason="image changed"), *_provisioning_error_cleared(state)]
    if retry_limit_reached(state):
        message = retry_limit_message(state)
        if state.error_type is ErrorType.PROVISIONING and state.error_message == message:
            return []
        return [
            ev.ErrorRecorded(
                error_type=ErrorType.PROVISIONING,
                message=message,
                error_count=state.error_count + 1,
                retry_not_before=now,
            )
        ]
    return [
        ev.ProvisioningAttemptStarted(
            image=state.spec.image,
            custom_deploy=state.spec.custom_deploy,
            fail_count=state.provisioning_fail_count,
        ),
        *_to(state, PS.PROVISIONING, "image requested", now),
    ]


def follow_up(state: HostState, now: datetime) -> list[Event]:
    """The events of the next automatic step from ``state``, or nothing when it should stay."""
    if not state.exists or state.deleted or state.paused:
        return []
    if state.deletion_requested:
        return _deletion_step(state, now)
    if state.detach is not None:
        return []
    match state.provisioning_state:
        case PS.NONE:
            if has_bmc(state):
                return _to(state, PS.REGISTERING, "BMC details present", now)
            return _to(state, PS.UNMANAGED, "no BMC details", now)
        case PS.UNMANAGED:
            if has_bmc(state):
                return _to(state, PS.REGISTERING, "BMC details added", now)
            return []
        case PS.REGISTERING:
            if state.provisioning_id is None:
                return []
            if state.spec.externally_provisioned:
                return _to(state, PS.EXTERNALLY_PROVISIONED, "registered; externally provisioned", now)
            if inspection_disabled(state):
                return _to(state, PS.PREPARING, "registered; inspection disabled", now)
            return _to(state, PS.INSPECTING, "registered", now)
        case PS.MATCH_PROFILE:
            return _to(state, PS.PREPARING, "legacy state", now)
        case PS.READY:
            return _to(state, PS.AVAILABLE, "legacy state", now)
        case PS.AVAILABLE:
            return _available_step(state, now)
        case PS.PROVISIONING:
            if provisioning_cancelled(state):
                return _to(state, PS.DEPROVISIONING, "provisioning cancelled: image changed or removed", now)
            return []
        case PS.PROVISIONED:
            if state.provisioned_image is None and state.provisioned_custom_deploy is None:
                return _to(state, PS.DEPROVISIONING, "nothing is provisioned", now)
            if provisioned_image_changed(state):
                return _to(state, PS.DEPROVISIONING, "image changed or removed", now)
            return []
        case PS.EXTERNALLY_PROVISIONED:
            if not state.spec.externally_provisioned:
                return _to(state, PS.PROVISIONED, "externallyProvisioned cleared", now)
            return []
        case _:
            return []
