from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState, evolve
from core.aggregates.host_transitions import follow_up
from core.aggregates.hosts import DEFINITION, decide
from core.errors import DomainError
from core.events import hosts as ev
from core.events.base import Event, UnknownEvent
from core.events.codec import encode
from core.events.host_values import (
    ConsumerRef,
    CustomDeploy,
    ErrorType,
    HardwareDetails,
    HostSpec,
    ProvisioningState,
    RAIDConfig,
    RootDeviceHints,
    SoftwareRAIDVolume,
)
from tests.core.aggregates.histories import (
    HARDWARE,
    IMAGE,
    IMAGE_2,
    MACHINE,
    NAME,
    NAMESPACE,
    NODE,
    OTHER_MACHINE,
    OTHER_UID,
    SECRET,
    SPEC,
    T0,
    UID,
)

PS = ProvisioningState

SPECS = [
    SPEC,
    replace(SPEC, image=IMAGE),
    replace(SPEC, image=IMAGE_2),
    replace(SPEC, image=IMAGE, online=False),
    replace(SPEC, custom_deploy=CustomDeploy(method="install_coreos")),
    replace(SPEC, externally_provisioned=True),
    replace(SPEC, externally_provisioned=True, image=IMAGE),
    replace(SPEC, inspection_mode="disabled"),
    replace(SPEC, inspection_mode="disabled", image=IMAGE),
    replace(SPEC, raid=RAIDConfig(software_raid_volumes=(SoftwareRAIDVolume(level="1"),))),
    replace(SPEC, root_device_hints=RootDeviceHints(device_name="/dev/sdb"), image=IMAGE),
    replace(SPEC, disable_power_off=True, image=IMAGE),
    HostSpec(online=True),
    HostSpec(online=True, image=IMAGE),
]
RESTORED = [
    ev.StatusRestored(provisioning_state=PS.PROVISIONED, provisioning_id=NODE, image=IMAGE, powered_on=True),
    ev.StatusRestored(provisioning_state=PS.EXTERNALLY_PROVISIONED, provisioning_id=NODE, powered_on=True),
    ev.StatusRestored(provisioning_state=PS.READY, provisioning_id=NODE, hardware=HARDWARE),
    ev.StatusRestored(provisioning_state=PS.MATCH_PROFILE, provisioning_id=NODE),
]
CONSUMERS = [MACHINE, OTHER_MACHINE]
JITTER = st.floats(0.0, 1.0, exclude_max=True, allow_nan=False)

IDEMPOTENT = (
    cmd.ApplySpec,
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
    cmd.ResetProvisioningFailCount,
    cmd.RecordRegistration,
    cmd.RecordBmcAccess,
    cmd.RecordRegistrationLost,
    cmd.RecordAdopted,
    cmd.RecordPower,
    cmd.RecordDelayed,
    cmd.RecordUndelayed,
    cmd.RecordDetached,
)
"""Command types that, repeated at once with the same arguments, must record nothing."""


@dataclass(frozen=True)
class SpecIntent:
    """An ApplySpec whose generation is relative to the host's (the host is only known per step)."""

    generation_offset: int
    new_uid: bool
    spec: HostSpec
    max_provisioning_retries: int
    restored_status: ev.StatusRestored | None

    def command(self, state: HostState, now: datetime) -> cmd.ApplySpec:
        uid = OTHER_UID if self.new_uid else (state.uid or UID)
        return cmd.ApplySpec(
            now=now,
            namespace=NAMESPACE,
            name=NAME,
            uid=uid,
            generation=max(1, state.generation + self.generation_offset),
            spec=self.spec,
            max_provisioning_retries=self.max_provisioning_retries,
            restored_status=self.restored_status,
        )


SPEC_INTENTS = st.builds(
    SpecIntent,
    generation_offset=st.integers(-1, 2),
    new_uid=st.sampled_from([False, False, False, True]),
    spec=st.sampled_from(SPECS),
    max_provisioning_retries=st.sampled_from([5, 5, 2, 0]),
    restored_status=st.none() | st.none() | st.sampled_from(RESTORED),
)
_CONSUMER = st.sampled_from(CONSUMERS)
COMMANDS: st.SearchStrategy[cmd.HostCommand | SpecIntent] = st.one_of(  # built at T0, see _finish
    SPEC_INTENTS,
    st.builds(
        cmd.ObserveCredentials,
        now=st.just(T0),
        secret_name=st.just(SECRET),
        version=st.sampled_from([None, "1", "2"]),
        problem=st.sampled_from([None, None, "no 'password' key"]),
        jitter=JITTER,
    ),
    st.sampled_from(
        [
            cmd.Pause(now=T0),
            cmd.Resume(now=T0),
            cmd.Reattach(now=T0),
            cmd.RequestInspection(now=T0),
            cmd.RequestDeletion(now=T0),
            cmd.ResetProvisioningFailCount(now=T0),
            cmd.RecordInspection(now=T0, hardware=HARDWARE),
            cmd.RecordPreparation(now=T0),
            cmd.RecordProvisioned(now=T0),
            cmd.RecordDeprovisioned(now=T0),
            cmd.RecordAdopted(now=T0),
            cmd.RecordDelayed(now=T0),
            cmd.RecordUndelayed(now=T0),
            cmd.RecordDetached(now=T0),
            cmd.RecordNodeDeleted(now=T0),
            cmd.RecordRegistrationLost(now=T0, reason="ironic database lost"),
            cmd.ProvideHardwareDetails(now=T0, hardware=HardwareDetails(ram_mebibytes=2048)),
        ]
    ),
    st.builds(
        cmd.Detach, now=st.just(T0), delete_action=st.sampled_from(["delete", "delay"]), force=st.booleans()
    ),
    st.builds(
        cmd.RequestReboot,
        now=st.just(T0),
        key=st.sampled_from(["", "a", "b"]),
        mode=st.sampled_from(["soft", "hard"]),
        force=st.booleans(),
    ),
    st.builds(cmd.CompleteReboot, now=st.just(T0), key=st.sampled_from(["", "a", "b"])),
    st.builds(cmd.ClaimHost, now=st.just(T0), consumer=_CONSUMER),
    st.builds(cmd.ReleaseHost, now=st.just(T0), consumer=_CONSUMER),
    st.builds(
        cmd.RecordRegistration,
        now=st.just(T0),
        provisioning_id=st.sampled_from([NODE, "node-2"]),
        credentials_version=st.sampled_from([None, "1", "2"]),
    ),
    st.builds(cmd.RecordBmcAccess, now=st.just(T0), credentials_version=st.sampled_from([None, "1", "2"])),
    st.builds(cmd.RecordPower, now=st.just(T0), powered_on=st.booleans()),
    st.builds(
        cmd.RecordFailure,
        now=st.just(T0),
        error_type=st.sampled_from(list(ErrorType)),
        message=st.sampled_from(["timeout", "BMC said no"]),
        jitter=JITTER,
    ),
)


def _finish(drawn: cmd.HostCommand | SpecIntent, state: HostState, now: datetime) -> cmd.HostCommand:
    if isinstance(drawn, SpecIntent):
        return drawn.command(state, now)
    return replace(drawn, now=now)


def _progress(state: HostState, now: datetime) -> list[cmd.HostCommand]:
    """What usually moves a host of this state along its path (an empty list: nothing obvious)."""
    next_spec = cmd.ApplySpec(
        now=now, namespace=NAMESPACE, name=NAME, uid=state.uid, generation=state.generation + 1, spec=SPEC
    )
    if state.paused:
        return [cmd.Resume(now=now)]
    if state.detach is not None:
        if not state.detach.completed:
            return [cmd.RecordDetached(now=now)]
        return [cmd.Reattach(now=now), cmd.RequestDeletion(now=now)]
    match state.provisioning_state:
        case PS.REGISTERING:
            return [cmd.RecordRegistration(now=now, provisioning_id=NODE, credentials_version="1")]
        case PS.INSPECTING:
            return [cmd.RecordInspection(now=now, hardware=HARDWARE)]
        case PS.PREPARING:
            return [cmd.RecordPreparation(now=now)]
        case PS.AVAILABLE:
            return [*(replace(next_spec, spec=spec) for spec in SPECS[1:3]), cmd.RequestInspection(now=now)]
        case PS.PROVISIONING:
            return [
                cmd.RecordProvisioned(now=now),
                cmd.RecordFailure(now=now, error_type=ErrorType.PROVISIONING, message="deploy failed"),
                cmd.RecordUndelayed(now=now) if state.delayed else cmd.RecordDelayed(now=now),
            ]
        case PS.PROVISIONED | PS.EXTERNALLY_PROVISIONED:
            return [next_spec, cmd.RequestDeletion(now=now), cmd.Detach(now=now)]
        case PS.DEPROVISIONING:
            return [
                cmd.RecordDeprovisioned(now=now),
                cmd.RecordFailure(now=now, error_type=ErrorType.PROVISIONING, message="clean failed"),
            ]
        case PS.POWERING_OFF_BEFORE_DELETE:
            return [
                cmd.RecordPower(now=now, powered_on=False),
                cmd.RecordFailure(now=now, error_type=ErrorType.POWER_MANAGEMENT, message="power off failed"),
            ]
        case PS.DELETING:
            return [cmd.RecordNodeDeleted(now=now)]
        case _:
            return []


def _check_events(before: HostState, events: list[Event], owner: ConsumerRef | None) -> ConsumerRef | None:
    """Check each new event against the state it is applied to; return the consumer afterwards."""
    running = before
    completed = False
    for event in events:
        assert ev.CODEC.decode(encode(event)) == event, "every recorded event survives the wire"
        match event:
            case ev.ProvisioningStateChanged():
                assert event.previous is running.provisioning_state, "state changes form a chain"
                assert event.state is not event.previous, "no self-transitions"
                if event.state is PS.PROVISIONED:
                    assert completed or event.previous is PS.EXTERNALLY_PROVISIONED, (
                        "provisioned only after ProvisioningCompleted (or when externally provisioned)"
                    )
                if event.state is PS.PROVISIONING:
                    assert not running.deletion_requested, "a host being deleted never starts provisioning"
            case ev.ProvisioningCompleted():
                completed = True
            case ev.ProvisioningAttemptStarted():
                assert not running.deletion_requested
            case ev.ConsumerClaimed():
                assert owner is None, "a claim never replaces another consumer"
                owner = event.consumer
            case ev.ConsumerReleased():
                assert owner == event.consumer, "only the consumer releases"
                owner = None
            case ev.HostCreated():
                owner = None
            case _:
                pass
        running = evolve(running, event)
    return owner


def _check_state(state: HostState, owner: ConsumerRef | None, now: datetime) -> None:
    assert isinstance(state.provisioning_state, ProvisioningState)
    assert state.consumer == owner
    assert state.error_count >= 0
    assert (state.error_count == 0) == (state.error_type is None)
    assert (state.retry_not_before is None) == (state.error_type is None)
    assert state.provisioning_fail_count >= 0
    if state.deleted:
        assert state.provisioning_state is PS.DELETING
    if state.exists and not state.paused:
        assert follow_up(state, now) == [], "every decision leaves the host settled"
    assert evolve(state, UnknownEvent(type="host.from_the_future", data=b"{}")) == state


@settings(
    max_examples=200,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_random_command_sequences_keep_the_host_invariants(data: st.DataObject) -> None:
    state = DEFINITION.initial
    log: list[Event] = []
    owner: ConsumerRef | None = None
    now = T0
    for _ in range(data.draw(st.integers(1, 60), label="steps")):
        now += timedelta(seconds=data.draw(st.integers(0, 3600), label="wait"))
        progress = _progress(state, now) if state.exists and not state.deleted else []
        choice = data.draw(st.integers(0, 3), label="progress") if progress else 0
        if choice:
            command = progress[(choice - 1) % len(progress)]
        else:
            command = _finish(data.draw(COMMANDS, label="command"), state, now)
        try:
            events = decide(state, command)
        except DomainError:
            continue
        assert decide(state, command) == events, "decide is deterministic"
        owner = _check_events(state, events, owner)
        state = DEFINITION.fold(events, state)
        _check_state(state, owner, now)
        assert DEFINITION.fold(log + events) == state, "replaying the log rebuilds the state"
        log += events
        if events and isinstance(command, IDEMPOTENT):
            assert decide(state, command) == [], f"repeating {type(command).__name__} records nothing"

    split = data.draw(st.integers(0, len(log)), label="split")
    assert DEFINITION.fold(log[split:], DEFINITION.fold(log[:split])) == DEFINITION.fold(log)
