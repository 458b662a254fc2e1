"""The BareMetalHost aggregate: ``decide`` which events a command produces.

``decide`` validates a command against the current state, produces the events that record it,
then lets the automatic state machine (``host_transitions.follow_up``) take every step whose
condition now holds, so one command's events always leave the host in a settled state. Illegal
commands raise ``CommandRejected`` naming the rule and the current state; a command that changes
nothing (a repeated observation, an old spec generation) produces no events.

Observations that arrive in the wrong state are rejected rather than recorded: after a crash the
provisioner may report something twice or too late, and the log must not say it happened then.
"""

from __future__ import annotations

from datetime import datetime

from core.aggregates import host_commands as cmd
from core.aggregates.backoff import retry_not_before
from core.aggregates.base import AggregateDefinition
from core.aggregates.host_state import BUSY_STATES, INITIAL, HostState, evolve
from core.aggregates.host_transitions import GIVE_UP_AFTER_ERRORS, follow_up
from core.aggregates.host_validation import validate_firmware, validate_spec
from core.errors import AggregateNotFound, CommandRejected
from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import CredentialsRef, ErrorType, ProvisioningState

PS = ProvisioningState

MAX_FOLLOW_UPS = 16
"""A guard against a transition rule that would loop; the longest real chain is 4 steps."""

_ERROR_STATES: dict[ErrorType, frozenset[ProvisioningState]] = {
    ErrorType.REGISTRATION: frozenset(set(PS) - {PS.NONE, PS.UNMANAGED, PS.DELETING}),
    ErrorType.PROVISIONED_REGISTRATION: frozenset(
        {PS.PROVISIONED, PS.EXTERNALLY_PROVISIONED, PS.DEPROVISIONING}
    ),
    ErrorType.INSPECTION: frozenset({PS.INSPECTING}),
    ErrorType.PREPARATION: frozenset({PS.PREPARING}),
    ErrorType.PROVISIONING: frozenset({PS.PROVISIONING, PS.DEPROVISIONING, PS.AVAILABLE}),
    ErrorType.POWER_MANAGEMENT: frozenset(
        {PS.AVAILABLE, PS.PROVISIONED, PS.EXTERNALLY_PROVISIONED, PS.POWERING_OFF_BEFORE_DELETE}
    ),
    ErrorType.DETACH: frozenset(set(PS)),
    ErrorType.SERVICING: frozenset({PS.PROVISIONED, PS.EXTERNALLY_PROVISIONED}),
}


def _state_name(state: HostState) -> str:
    if state.deleted:
        return "deleted"
    return str(state.provisioning_state) or "none"


def _reject(state: HostState, rule: str, detail: str) -> CommandRejected:
    return CommandRejected(rule=rule, state=_state_name(state), detail=detail)


def _expect_state(state: HostState, command: object, *allowed: ProvisioningState) -> None:
    if state.provisioning_state not in allowed:
        names = ", ".join(str(s) for s in allowed)
        raise _reject(
            state,
            "observation-out-of-state",
            f"{type(command).__name__} only applies in state {names}",
        )


def _settle(state: HostState, events: list[Event], now: datetime) -> list[Event]:
    """Append the automatic steps that follow ``events``."""
    for event in events:
        state = evolve(state, event)
    for _ in range(MAX_FOLLOW_UPS):
        step = follow_up(state, now)
        if not step:
            return events
        for event in step:
            state = evolve(state, event)
        events.extend(step)
    msg = f"host state machine did not settle after {MAX_FOLLOW_UPS} steps"
    raise RuntimeError(msg)


def _error(
    state: HostState, command: cmd.RecordFailure | cmd.ObserveCredentials, error_type: ErrorType, message: str
) -> ev.ErrorRecorded:
    count = state.error_count + 1
    return ev.ErrorRecorded(
        error_type=error_type,
        message=message,
        error_count=count,
        retry_not_before=retry_not_before(command.now, count, command.jitter),
    )


def _cleared(state: HostState, *types: ErrorType) -> list[Event]:
    if state.error_type is not None and (not types or state.error_type in types):
        return [ev.ErrorCleared()]
    return []


def _apply_spec(state: HostState, c: cmd.ApplySpec) -> list[Event]:
    if state.exists and not state.deleted:
        if c.uid != state.uid:
            raise _reject(
                state,
                "one-object-per-host",
                f"host {state.id} still exists with uid {state.uid}; finish deleting it before re-creating",
            )
        if c.generation <= state.generation:
            return []
        validate_spec(c.spec, state)
        return [
            ev.SpecChanged(
                generation=c.generation, spec=c.spec, max_provisioning_retries=c.max_provisioning_retries
            )
        ]
    if state.deleted and c.uid == state.uid:
        raise _reject(state, "deleted-is-final", f"host {state.id} with uid {c.uid} was deleted")
    validate_spec(c.spec)
    events: list[Event] = [
        ev.HostCreated(
            namespace=c.namespace,
            name=c.name,
            uid=c.uid,
            generation=c.generation,
            spec=c.spec,
            max_provisioning_retries=c.max_provisioning_retries,
        )
    ]
    if c.restored_status is not None:
        events.append(c.restored_status)
    return events


def _apply_firmware(state: HostState, c: cmd.ApplyFirmwareConfig) -> list[Event]:
    if (
        c.settings_generation < state.firmware_settings_generation
        or c.updates_generation < state.firmware_updates_generation
    ):
        return []
    if (c.settings, c.updates) == (state.firmware_settings, state.firmware_updates):
        return []
    validate_firmware(c.settings, c.updates, state)
    return [
        ev.FirmwareConfigChanged(
            settings=dict(c.settings),
            updates=c.updates,
            settings_generation=c.settings_generation,
            updates_generation=c.updates_generation,
        )
    ]


def _observe_credentials(state: HostState, c: cmd.ObserveCredentials) -> list[Event]:
    events: list[Event] = []
    if c.version is None or c.problem is not None:
        if c.version is None:
            message = f"BMC credentials Secret {c.secret_name!r} not found"
        else:
            message = f"BMC credentials Secret {c.secret_name!r} is unusable: {c.problem}"
        if state.error_type is ErrorType.REGISTRATION and state.error_message == message:
            return []
        if state.provisioning_state in (PS.NONE, PS.UNMANAGED, PS.DELETING):
            return []
        return [_error(state, c, ErrorType.REGISTRATION, message)]
    seen = CredentialsRef(name=c.secret_name, version=c.version)
    if state.credentials == seen:
        return []
    events.append(ev.CredentialsObserved(credentials=seen))
    if state.error_type is ErrorType.REGISTRATION and state.error_message.startswith(
        "BMC credentials Secret"
    ):
        events.append(ev.ErrorCleared())
    return events


def _record_failure(state: HostState, c: cmd.RecordFailure) -> list[Event]:
    allowed = _ERROR_STATES[c.error_type]
    if state.provisioning_state not in allowed:
        raise _reject(
            state,
            "error-out-of-state",
            f"a {c.error_type} cannot happen in state {_state_name(state)}",
        )
    events: list[Event] = [_error(state, c, c.error_type, c.message)]
    if c.error_type is ErrorType.PROVISIONING and state.provisioning_state is PS.PROVISIONING:
        events.append(ev.ProvisioningAttemptFailed(fail_count=state.provisioning_fail_count + 1))
        events.append(
            ev.ProvisioningStateChanged(
                previous=PS.PROVISIONING, state=PS.DEPROVISIONING, reason="provisioning failed", at=c.now
            )
        )
    return events


def _claim(state: HostState, c: cmd.ClaimHost) -> list[Event]:
    if state.consumer is not None:
        if (state.consumer.kind, state.consumer.namespace, state.consumer.name) == (
            c.consumer.kind,
            c.consumer.namespace,
            c.consumer.name,
        ):
            return []
        raise _reject(
            state,
            "one-consumer-per-host",
            f"host {state.id} is already consumed by {state.consumer.kind} "
            f"{state.consumer.namespace}/{state.consumer.name}",
        )
    if state.deletion_requested or state.provisioning_state in (PS.DELETING, PS.POWERING_OFF_BEFORE_DELETE):
        raise _reject(state, "no-claim-while-deleting", f"host {state.id} is being deleted")
    return [ev.ConsumerClaimed(consumer=c.consumer)]


def _release(state: HostState, c: cmd.ReleaseHost) -> list[Event]:
    if state.consumer is None:
        return []
    if (state.consumer.kind, state.consumer.namespace, state.consumer.name) != (
        c.consumer.kind,
        c.consumer.namespace,
        c.consumer.name,
    ):
        raise _reject(
            state,
            "release-by-consumer-only",
            f"host {state.id} is consumed by {state.consumer.namespace}/{state.consumer.name}, "
            f"not {c.consumer.namespace}/{c.consumer.name}",
        )
    return [ev.ConsumerReleased(consumer=state.consumer)]


def _detach(state: HostState, c: cmd.Detach) -> list[Event]:
    if state.detach is not None and (state.detach.delete_action, state.detach.force) == (
        c.delete_action,
        c.force,
    ):
        return []
    allowed = (PS.PROVISIONED, PS.EXTERNALLY_PROVISIONED, PS.AVAILABLE, PS.READY)
    if state.detach is None and not c.force and state.provisioning_state not in allowed:
        raise _reject(
            state,
            "detach-states",
            "a host can be detached only when provisioned, externally provisioned or available; "
            'set {"force": true} in the detached annotation to detach anyway',
        )
    return [ev.DetachRequested(delete_action=c.delete_action, force=c.force)]


def _observe(state: HostState, c: cmd.HostCommand) -> list[Event]:
    """Observation commands: what the provisioner or BMC adapter saw happen."""
    match c:
        case cmd.RecordRegistration():
            if state.provisioning_state in (PS.NONE, PS.UNMANAGED, PS.DELETING):
                raise _reject(state, "observation-out-of-state", "registration does not apply now")
            creds = state.credentials
            if c.credentials_version is not None and state.spec.bmc.credentials_name:
                creds = CredentialsRef(name=state.spec.bmc.credentials_name, version=c.credentials_version)
            # No known credentials version means "the ones already recorded" (see evolve).
            if state.provisioning_id == c.provisioning_id and creds in (None, state.good_credentials):
                return _cleared(state, ErrorType.REGISTRATION)
            return [
                ev.RegistrationSucceeded(provisioning_id=c.provisioning_id, credentials=creds),
                *_cleared(state, ErrorType.REGISTRATION),
            ]
        case cmd.RecordBmcAccess():
            if state.provisioning_state in (PS.NONE, PS.UNMANAGED, PS.DELETING):
                raise _reject(state, "observation-out-of-state", "BMC access does not apply now")
            creds = state.credentials
            if c.credentials_version is not None and state.spec.bmc.credentials_name:
                creds = CredentialsRef(name=state.spec.bmc.credentials_name, version=c.credentials_version)
            if creds is None or creds == state.good_credentials:
                return _cleared(state, ErrorType.REGISTRATION)
            return [ev.BmcAccessValidated(credentials=creds), *_cleared(state, ErrorType.REGISTRATION)]
        case cmd.RecordRegistrationLost():
            if state.provisioning_id is None:
                return []
            return [ev.RegistrationLost(reason=c.reason)]
        case cmd.RecordInspection():
            _expect_state(state, c, PS.INSPECTING)
            return [
                ev.HardwareInspected(hardware=c.hardware),
                *_cleared(state),
                ev.ProvisioningStateChanged(
                    previous=PS.INSPECTING, state=PS.PREPARING, reason="inspection complete", at=c.now
                ),
            ]
        case cmd.RecordPreparation():
            _expect_state(state, c, PS.PREPARING)
            settings = state.firmware_settings if c.firmware_settings is None else c.firmware_settings
            updates = state.firmware_updates if c.firmware_updates is None else c.firmware_updates
            return [
                ev.PreparationCompleted(
                    raid=state.spec.raid,
                    root_device_hints=state.spec.root_device_hints,
                    firmware_settings=dict(settings),
                    firmware_updates=updates,
                ),
                *_cleared(state),
                ev.ProvisioningStateChanged(
                    previous=PS.PREPARING, state=PS.AVAILABLE, reason="preparation complete", at=c.now
                ),
            ]
        case cmd.RecordProvisioned():
            _expect_state(state, c, PS.PROVISIONING)
            events: list[Event] = [
                ev.ProvisioningCompleted(
                    image=state.last_attempted_image,
                    custom_deploy=state.last_attempted_custom_deploy,
                    root_device_hints=state.spec.root_device_hints,
                    boot_mode=state.spec.boot_mode,
                )
            ]
            if state.provisioning_fail_count:
                events.append(ev.ProvisioningFailCountReset(reason="provisioning succeeded"))
            events += _cleared(state)
            events.append(
                ev.ProvisioningStateChanged(
                    previous=PS.PROVISIONING, state=PS.PROVISIONED, reason="provisioning complete", at=c.now
                )
            )
            return events
        case cmd.RecordDeprovisioned():
            _expect_state(state, c, PS.DEPROVISIONING)
            target = PS.POWERING_OFF_BEFORE_DELETE if state.deletion_requested else PS.AVAILABLE
            # A failed attempt's error stays visible (and keeps counting) for the next attempt; a host
            # being deleted gets no next attempt, and Metal3 starts its power-off with a zero count.
            keep_error = (
                state.last_attempt_failed
                and state.error_type is ErrorType.PROVISIONING
                and not state.deletion_requested
            )
            return [
                ev.DeprovisioningCompleted(),
                *([] if keep_error else _cleared(state)),
                ev.ProvisioningStateChanged(
                    previous=PS.DEPROVISIONING, state=target, reason="deprovisioning complete", at=c.now
                ),
            ]
        case cmd.RecordAdopted():
            if not state.needs_adoption:
                return []
            return [
                ev.Adopted(),
                *_cleared(state, ErrorType.PROVISIONED_REGISTRATION, ErrorType.REGISTRATION),
            ]
        case cmd.RecordPower():
            # Seeing "off" again still matters while a reboot waits for the host to be off.
            reboot_waiting = state.reboot_power_off_pending and not c.powered_on
            if state.powered_on == c.powered_on and not reboot_waiting:
                return _cleared(state, ErrorType.POWER_MANAGEMENT)
            return [ev.PowerObserved(powered_on=c.powered_on), *_cleared(state, ErrorType.POWER_MANAGEMENT)]
        case cmd.RecordFailure():
            return _record_failure(state, c)
        case cmd.RecordDelayed():
            if state.delayed:
                return []
            _expect_state(state, c, *BUSY_STATES)
            return [ev.Delayed()]
        case cmd.RecordUndelayed():
            return [ev.Undelayed()] if state.delayed else []
        case cmd.RecordDetached():
            if state.detach is None:
                raise _reject(state, "observation-out-of-state", "the host was not asked to detach")
            if state.detach.completed:
                return []
            return [ev.DetachCompleted(), *_cleared(state, ErrorType.DETACH)]
        case cmd.RecordNodeDeleted():
            _expect_state(state, c, PS.DELETING)
            return [ev.HostDeleted()]
        case _:
            msg = f"not an observation: {type(c).__name__}"
            raise TypeError(msg)


def _declare(state: HostState, c: cmd.HostCommand) -> list[Event]:
    """Declaration commands: what the user (or a machine) asked for."""
    match c:
        case cmd.ObserveCredentials():
            return _observe_credentials(state, c)
        case cmd.Pause():
            return [] if state.paused else [ev.Paused()]
        case cmd.Resume():
            return [ev.Resumed()] if state.paused else []
        case cmd.Detach():
            return _detach(state, c)
        case cmd.Reattach():
            return [ev.AttachRequested()] if state.detach is not None else []
        case cmd.RequestReboot():
            if (c.key, c.mode) in state.reboot_requests:
                return []
            return [ev.RebootRequested(key=c.key, mode=c.mode, force=c.force)]
        case cmd.CompleteReboot():
            if all(key != c.key for key, _ in state.reboot_requests):
                return []
            return [ev.RebootCompleted(key=c.key)]
        case cmd.RequestInspection():
            if state.inspection_requested or state.provisioning_state is PS.INSPECTING:
                return []
            return [ev.InspectionRequested()]
        case cmd.ProvideHardwareDetails():
            if state.hardware is not None and state.spec.inspection_mode != "disabled":
                return []
            if state.hardware == c.hardware:
                return []
            return [ev.HardwareInspected(hardware=c.hardware, source="annotation")]
        case cmd.RequestDeletion():
            return [] if state.deletion_requested else [ev.DeletionRequested()]
        case cmd.ClaimHost():
            return _claim(state, c)
        case cmd.ReleaseHost():
            return _release(state, c)
        case cmd.ApplyFirmwareConfig():
            return _apply_firmware(state, c)
        case cmd.ResetProvisioningFailCount():
            if not state.provisioning_fail_count:
                return []
            return [
                ev.ProvisioningFailCountReset(reason="reset by operator"),
                *_cleared(state, ErrorType.PROVISIONING),
            ]
        case _:
            return _observe(state, c)


_DECLARATIONS_WHILE_PAUSED = (
    cmd.ApplySpec,
    cmd.ObserveCredentials,
    cmd.Pause,
    cmd.Resume,
    cmd.Detach,
    cmd.Reattach,
    cmd.RequestReboot,
    cmd.CompleteReboot,
    cmd.RequestInspection,
    cmd.ProvideHardwareDetails,
    cmd.RequestDeletion,
    cmd.ClaimHost,
    cmd.ReleaseHost,
    cmd.ApplyFirmwareConfig,
    cmd.ResetProvisioningFailCount,
)


def decide(state: HostState, command: cmd.HostCommand) -> list[Event]:
    """The events that record ``command`` and every automatic step it makes possible."""
    if isinstance(command, cmd.RecordFailure | cmd.ObserveCredentials) and not 0.0 <= command.jitter < 1.0:
        raise CommandRejected(
            rule="jitter-range",
            state=_state_name(state),
            detail=f"{type(command).__name__}.jitter must be in [0, 1), got {command.jitter}",
        )
    if isinstance(command, cmd.ApplySpec):
        return _settle(state, _apply_spec(state, command), command.now)
    if not state.exists:
        raise AggregateNotFound(f"host {state.id if state.name else '(unknown)'}")
    if state.deleted:
        raise _reject(state, "deleted-is-final", f"host {state.id} was deleted")
    if state.paused and not isinstance(command, _DECLARATIONS_WHILE_PAUSED):
        raise _reject(
            state,
            "paused",
            f"host {state.id} is paused (baremetalhost.metal3.io/paused); remove the annotation first",
        )
    return _settle(state, _declare(state, command), command.now)


DEFINITION: AggregateDefinition[HostState, cmd.HostCommand] = AggregateDefinition(
    type=ev.AGGREGATE_TYPE,
    codec=ev.CODEC,
    initial=INITIAL,
    decide=decide,
    evolve=evolve,
)

__all__ = ["DEFINITION", "GIVE_UP_AFTER_ERRORS", "HostState", "decide", "evolve"]
