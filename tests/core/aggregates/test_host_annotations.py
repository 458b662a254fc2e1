from __future__ import annotations

import pytest
from msgspec.structs import replace

from core.aggregates import host_commands as cmd
from core.aggregates.hosts import DEFINITION, decide
from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import (
    BMCDetails,
    ErrorType,
    HardwareDetails,
    HostSpec,
    OperationalStatus,
    OperationHistory,
    OperationTimes,
    ProvisioningState,
)
from tests.core.aggregates.gwt import given, step
from tests.core.aggregates.histories import (
    CREDS_V1,
    HARDWARE,
    IMAGE,
    IMAGE_2,
    MACHINE,
    NODE,
    NOW,
    SECRET,
    SPEC,
    apply,
    available_host,
    create,
    created,
    deprovisioning_host,
    detached_host,
    externally_provisioned_host,
    failed,
    inspecting_host,
    moved,
    preparing_host,
    provisioned_host,
    provisioning_host,
    registering_host,
)

PS = ProvisioningState
WITH_IMAGE = replace(SPEC, image=IMAGE)
PAUSED = ev.Paused()

# --- baremetalhost.metal3.io/paused ---------------------------------------------------------------

OBSERVATIONS = [
    pytest.param(
        registering_host(), cmd.RecordRegistration(now=NOW, provisioning_id=NODE), id="registration"
    ),
    pytest.param(registering_host(), cmd.RecordRegistrationLost(now=NOW, reason="x"), id="registration lost"),
    pytest.param(inspecting_host(), cmd.RecordInspection(now=NOW, hardware=HARDWARE), id="inspection"),
    pytest.param(preparing_host(), cmd.RecordPreparation(now=NOW), id="preparation"),
    pytest.param(provisioning_host(), cmd.RecordProvisioned(now=NOW), id="provisioned"),
    pytest.param(deprovisioning_host(), cmd.RecordDeprovisioned(now=NOW), id="deprovisioned"),
    pytest.param(provisioned_host(), cmd.RecordAdopted(now=NOW), id="adopted"),
    pytest.param(available_host(), cmd.RecordPower(now=NOW, powered_on=False), id="power"),
    pytest.param(
        inspecting_host(),
        cmd.RecordFailure(now=NOW, error_type=ErrorType.INSPECTION, message="x"),
        id="failure",
    ),
    pytest.param(provisioning_host(), cmd.RecordDelayed(now=NOW), id="delayed"),
    pytest.param(provisioning_host(), cmd.RecordUndelayed(now=NOW), id="undelayed"),
    pytest.param([*provisioned_host(), ev.DetachRequested()], cmd.RecordDetached(now=NOW), id="detached"),
]


@pytest.mark.parametrize(("history", "command"), OBSERVATIONS)
def test_paused_host_rejects_observations(history: list[Event], command: cmd.HostCommand) -> None:
    given(history, PAUSED).when(command).then_rejected(rule="paused")


DECLARATIONS = [
    pytest.param(
        apply(WITH_IMAGE, available_host()),
        [ev.SpecChanged(generation=2, spec=WITH_IMAGE)],
        id="spec",
    ),
    pytest.param(
        cmd.ObserveCredentials(now=NOW, secret_name=SECRET, version="2000"),
        [ev.CredentialsObserved(credentials=replace(CREDS_V1, version="2000"))],
        id="credentials",
    ),
    pytest.param(cmd.Pause(now=NOW), [], id="pause again"),
    pytest.param(cmd.Detach(now=NOW), [ev.DetachRequested()], id="detach"),
    pytest.param(cmd.RequestReboot(now=NOW), [ev.RebootRequested(key="")], id="reboot"),
    pytest.param(cmd.RequestInspection(now=NOW), [ev.InspectionRequested()], id="inspection request"),
    pytest.param(cmd.RequestDeletion(now=NOW), [ev.DeletionRequested()], id="deletion"),
    pytest.param(
        cmd.ClaimHost(now=NOW, consumer=MACHINE), [ev.ConsumerClaimed(consumer=MACHINE)], id="claim"
    ),
]


@pytest.mark.parametrize(("command", "expected"), DECLARATIONS)
def test_paused_host_records_declarations_without_acting_on_them(
    command: cmd.HostCommand, expected: list[Event]
) -> None:
    state = given(available_host(), PAUSED).when(command).then(*expected)

    assert state.provisioning_state is PS.AVAILABLE


def test_pausing_records_the_pause() -> None:
    state = given(available_host()).when(cmd.Pause(now=NOW)).then(PAUSED)

    assert state.paused


def test_resuming_settles_transitions_declared_while_paused() -> None:
    given(available_host(), PAUSED, ev.SpecChanged(generation=2, spec=WITH_IMAGE)).when(
        cmd.Resume(now=NOW)
    ).then(
        ev.Resumed(),
        ev.ProvisioningAttemptStarted(image=IMAGE),
        moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", NOW),
    )


def test_resuming_a_host_that_is_not_paused_records_nothing() -> None:
    given(available_host()).when(cmd.Resume(now=NOW)).then_nothing()


def test_re_created_host_starts_unpaused() -> None:
    state = given(available_host(), PAUSED).state

    assert state.paused
    assert not given(available_host(), PAUSED, created(uid="another")).state.paused


# --- baremetalhost.metal3.io/detached ------------------------------------------------------------

DETACH_ALLOWED = [
    pytest.param(provisioned_host(), id="provisioned"),
    pytest.param(externally_provisioned_host(), id="externally provisioned"),
    pytest.param(available_host(), id="available"),
]


@pytest.mark.parametrize("history", DETACH_ALLOWED)
def test_detach_is_accepted_in_steady_states(history: list[Event]) -> None:
    given(history).when(cmd.Detach(now=NOW)).then(ev.DetachRequested())


DETACH_REFUSED = [
    pytest.param(registering_host(), id="registering"),
    pytest.param(inspecting_host(), id="inspecting"),
    pytest.param(preparing_host(), id="preparing"),
    pytest.param(provisioning_host(), id="provisioning"),
    pytest.param(deprovisioning_host(), id="deprovisioning"),
]


@pytest.mark.parametrize("history", DETACH_REFUSED)
def test_detach_outside_steady_states_is_rejected(history: list[Event]) -> None:
    given(history).when(cmd.Detach(now=NOW)).then_rejected(rule="detach-states")


@pytest.mark.parametrize("history", DETACH_REFUSED)
def test_forced_detach_is_accepted_in_any_state(history: list[Event]) -> None:
    given(history).when(cmd.Detach(now=NOW, force=True)).then(ev.DetachRequested(force=True))


def test_repeated_detach_with_the_same_arguments_records_nothing() -> None:
    given(provisioned_host(), ev.DetachRequested(delete_action="delay")).when(
        cmd.Detach(now=NOW, delete_action="delay")
    ).then_nothing()


def test_changed_detach_arguments_are_recorded_and_keep_the_host_detached() -> None:
    state = (
        given(detached_host())
        .when(cmd.Detach(now=NOW, delete_action="delay"))
        .then(ev.DetachRequested(delete_action="delay"))
    )

    assert state.operational_status is OperationalStatus.DETACHED


def test_detach_completion_forgets_the_ironic_node_and_shows_detached() -> None:
    state = (
        given(provisioned_host(), ev.DetachRequested())
        .when(cmd.RecordDetached(now=NOW))
        .then(ev.DetachCompleted())
    )

    assert state.provisioning_id is None
    assert state.operational_status is OperationalStatus.DETACHED
    assert state.provisioning_state is PS.PROVISIONED


def test_detached_host_is_not_deprovisioned_when_its_image_changes() -> None:
    history = detached_host()
    spec = replace(SPEC, image=IMAGE_2)

    given(history).when(apply(spec, history)).then(ev.SpecChanged(generation=3, spec=spec))


def test_detached_available_host_is_not_provisioned() -> None:
    history = detached_host(available_host())

    given(history).when(apply(WITH_IMAGE, history)).then(ev.SpecChanged(generation=2, spec=WITH_IMAGE))


def test_reattached_provisioned_host_needs_adoption_not_provisioning() -> None:
    history = detached_host()
    history = step(history, cmd.Reattach(now=NOW), ev.AttachRequested())
    assert given(history).state.needs_adoption
    assert given(history).state.operational_status is OperationalStatus.OK
    history = step(
        history,
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE, credentials_version=CREDS_V1.version),
        ev.RegistrationSucceeded(provisioning_id=NODE, credentials=CREDS_V1),
    )
    history = step(history, cmd.RecordAdopted(now=NOW), ev.Adopted())

    state = given(history).state
    assert not state.needs_adoption
    assert state.provisioning_state is PS.PROVISIONED
    assert state.provisioned_image == IMAGE


def test_reattached_available_host_does_not_need_adoption() -> None:
    state = given(detached_host(available_host())).when(cmd.Reattach(now=NOW)).then(ev.AttachRequested())

    assert not state.needs_adoption
    assert state.detach is None


def test_reattaching_a_host_that_is_not_detached_records_nothing() -> None:
    given(provisioned_host()).when(cmd.Reattach(now=NOW)).then_nothing()


def test_bmc_address_may_change_while_detached() -> None:
    history = detached_host()
    moved_bmc = replace(WITH_IMAGE, bmc=BMCDetails(address="redfish://192.0.2.99/x", credentials_name=SECRET))

    given(history).when(apply(moved_bmc, history)).then(ev.SpecChanged(generation=3, spec=moved_bmc))


# --- registration lost and adoption ---------------------------------------------------------------


def test_losing_the_registration_of_a_provisioned_host_requires_adoption() -> None:
    state = (
        given(provisioned_host())
        .when(cmd.RecordRegistrationLost(now=NOW, reason="ironic db lost"))
        .then(ev.RegistrationLost(reason="ironic db lost"))
    )

    assert state.needs_adoption
    assert state.provisioning_id is None
    assert state.provisioning_state is PS.PROVISIONED


def test_losing_the_registration_of_an_inspecting_host_does_not_require_adoption() -> None:
    state = (
        given(inspecting_host())
        .when(cmd.RecordRegistrationLost(now=NOW, reason="ironic db lost"))
        .then(ev.RegistrationLost(reason="ironic db lost"))
    )

    assert not state.needs_adoption


def test_adoption_after_lost_registration_keeps_the_host_provisioned() -> None:
    history = [*provisioned_host(), ev.RegistrationLost(reason="x")]
    history = step(
        history,
        cmd.RecordRegistration(now=NOW, provisioning_id="new-node", credentials_version=CREDS_V1.version),
        ev.RegistrationSucceeded(provisioning_id="new-node", credentials=CREDS_V1),
    )

    state = given(history).when(cmd.RecordAdopted(now=NOW)).then(ev.Adopted())
    assert state.provisioning_id == "new-node"
    assert not state.needs_adoption


# --- status restore (baremetalhost.metal3.io/status) ------------------------------------------------

RESTORED = ev.StatusRestored(
    provisioning_state=PS.PROVISIONED,
    provisioning_id=NODE,
    image=IMAGE,
    hardware=HARDWARE,
    powered_on=True,
    good_credentials=CREDS_V1,
    operation_history=OperationHistory(provision=OperationTimes(start="2024-01-01T00:00:00Z")),
)


def test_host_created_with_a_restored_status_is_provisioned_and_needs_adoption() -> None:
    restoring = replace(create(WITH_IMAGE), restored_status=RESTORED)

    state = given().when(restoring).then(created(WITH_IMAGE), RESTORED)

    assert state.provisioning_state is PS.PROVISIONED
    assert state.needs_adoption
    assert state.provisioned_image == IMAGE
    assert state.hardware == HARDWARE
    assert state.operation_history == RESTORED.operation_history
    given([created(WITH_IMAGE), RESTORED]).when(cmd.RecordAdopted(now=NOW)).then(ev.Adopted())


def test_restored_status_is_ignored_for_a_host_that_already_exists() -> None:
    restoring = replace(apply(WITH_IMAGE, available_host()), restored_status=RESTORED)

    given(available_host()).when(restoring).then(
        ev.SpecChanged(generation=2, spec=WITH_IMAGE),
        ev.ProvisioningAttemptStarted(image=IMAGE),
        moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", NOW),
    )


def test_restored_status_whose_image_is_no_longer_wanted_is_deprovisioned() -> None:
    restoring = replace(create(SPEC), restored_status=RESTORED)

    given().when(restoring).then(
        created(SPEC), RESTORED, moved(PS.PROVISIONED, PS.DEPROVISIONING, "image changed or removed", NOW)
    )


LEGACY = [
    pytest.param(PS.READY, [moved(PS.READY, PS.AVAILABLE, "legacy state", NOW)], id="ready -> available"),
    pytest.param(
        PS.MATCH_PROFILE,
        [moved(PS.MATCH_PROFILE, PS.PREPARING, "legacy state", NOW)],
        id="match profile -> preparing",
    ),
]


@pytest.mark.parametrize(("restored_state", "expected"), LEGACY)
def test_legacy_states_restored_from_status_move_on(restored_state: PS, expected: list[Event]) -> None:
    restored = ev.StatusRestored(provisioning_state=restored_state, provisioning_id=NODE)

    given().when(replace(create(), restored_status=restored)).then(created(), restored, *expected)


# --- reboot.metal3.io[/<key>] -----------------------------------------------------------------------


def test_keyless_reboot_request_is_soft_by_default() -> None:
    state = given(provisioned_host()).when(cmd.RequestReboot(now=NOW)).then(ev.RebootRequested(key=""))

    assert state.reboot_mode == "soft"
    assert state.reboot_power_off_pending


def test_hard_reboot_wins_over_soft_ones() -> None:
    state = (
        given(provisioned_host(), ev.RebootRequested(key=""))
        .when(cmd.RequestReboot(now=NOW, key="remediation", mode="hard"))
        .then(ev.RebootRequested(key="remediation", mode="hard"))
    )

    assert state.reboot_requests == (("", "soft"), ("remediation", "hard"))
    assert state.reboot_mode == "hard"


def test_soft_reboot_asked_after_a_hard_one_does_not_soften_it() -> None:
    state = (
        given(provisioned_host(), ev.RebootRequested(key="remediation", mode="hard"))
        .when(cmd.RequestReboot(now=NOW, key="upgrade"))
        .then(ev.RebootRequested(key="upgrade"))
    )

    assert state.reboot_mode == "hard"


def test_same_reboot_request_again_records_nothing() -> None:
    given(provisioned_host(), ev.RebootRequested(key="a")).when(
        cmd.RequestReboot(now=NOW, key="a")
    ).then_nothing()


def test_reboot_request_with_a_new_mode_replaces_the_old_one() -> None:
    state = (
        given(provisioned_host(), ev.RebootRequested(key="a"))
        .when(cmd.RequestReboot(now=NOW, key="a", mode="hard"))
        .then(ev.RebootRequested(key="a", mode="hard"))
    )

    assert state.reboot_requests == (("a", "hard"),)


def test_completing_one_keyed_reboot_keeps_the_others_pending() -> None:
    state = (
        given(provisioned_host(), ev.RebootRequested(key="a"), ev.RebootRequested(key="b", mode="hard"))
        .when(cmd.CompleteReboot(now=NOW, key="b"))
        .then(ev.RebootCompleted(key="b"))
    )

    assert state.reboot_requests == (("a", "soft"),)
    assert state.reboot_mode == "soft"
    assert state.reboot_power_off_pending


def test_completing_the_last_reboot_clears_the_pending_power_off() -> None:
    state = (
        given(provisioned_host(), ev.RebootRequested(key=""))
        .when(cmd.CompleteReboot(now=NOW))
        .then(ev.RebootCompleted(key=""))
    )

    assert state.reboot_mode is None
    assert not state.reboot_power_off_pending


def test_completing_a_reboot_nobody_asked_for_records_nothing() -> None:
    given(provisioned_host()).when(cmd.CompleteReboot(now=NOW, key="nobody")).then_nothing()


def test_seeing_the_host_powered_off_satisfies_the_reboot_power_off() -> None:
    state = (
        given(provisioned_host(), ev.RebootRequested(key=""))
        .when(cmd.RecordPower(now=NOW, powered_on=False))
        .then(ev.PowerObserved(powered_on=False))
    )

    assert not state.reboot_power_off_pending
    assert state.reboot_mode == "soft"


# --- inspect.metal3.io and inspect.metal3.io/hardwaredetails -----------------------------------------


def test_inspection_request_while_provisioned_waits_until_the_host_is_available_again() -> None:
    history = step(provisioned_host(), cmd.RequestInspection(now=NOW), ev.InspectionRequested())
    history = step(
        history,
        apply(SPEC, history),
        ev.SpecChanged(generation=3, spec=SPEC),
        moved(PS.PROVISIONED, PS.DEPROVISIONING, "image changed or removed", NOW),
    )

    state = (
        given(history)
        .when(cmd.RecordDeprovisioned(now=NOW))
        .then(
            ev.DeprovisioningCompleted(),
            moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete", NOW),
            moved(PS.AVAILABLE, PS.INSPECTING, "inspection requested", NOW),
        )
    )
    assert not state.inspection_requested


def test_inspection_request_is_ignored_when_inspection_is_disabled() -> None:
    state = (
        given(available_host(replace(SPEC, inspection_mode="disabled")))
        .when(cmd.RequestInspection(now=NOW))
        .then(ev.InspectionRequested())
    )

    assert state.provisioning_state is PS.AVAILABLE


OTHER_HARDWARE = HardwareDetails(ram_mebibytes=1024)


def test_hardware_details_annotation_fills_in_missing_details() -> None:
    state = (
        given(registering_host())
        .when(cmd.ProvideHardwareDetails(now=NOW, hardware=HARDWARE))
        .then(ev.HardwareInspected(hardware=HARDWARE, source="annotation"))
    )

    assert state.hardware == HARDWARE


def test_hardware_details_annotation_does_not_override_inspection() -> None:
    given(available_host()).when(cmd.ProvideHardwareDetails(now=NOW, hardware=OTHER_HARDWARE)).then_nothing()


def test_hardware_details_annotation_replaces_details_when_inspection_is_disabled() -> None:
    given(available_host(replace(SPEC, inspection_mode="disabled"))).when(
        cmd.ProvideHardwareDetails(now=NOW, hardware=OTHER_HARDWARE)
    ).then(ev.HardwareInspected(hardware=OTHER_HARDWARE, source="annotation"))


def test_same_hardware_details_annotation_again_records_nothing() -> None:
    history = [*registering_host(HostSpec(bmc=SPEC.bmc, online=True, inspection_mode="disabled"))]
    history.append(ev.HardwareInspected(hardware=HARDWARE, source="annotation"))

    given(history).when(cmd.ProvideHardwareDetails(now=NOW, hardware=HARDWARE)).then_nothing()


# --- capacity (PROVISIONING_LIMIT) ------------------------------------------------------------------


def test_delayed_host_shows_delayed_until_capacity_frees_up() -> None:
    history = step(provisioning_host(), cmd.RecordDelayed(now=NOW), ev.Delayed())
    assert given(history).state.operational_status is OperationalStatus.DELAYED
    given(history).when(cmd.RecordDelayed(now=NOW)).then_nothing()

    state = given(history).when(cmd.RecordUndelayed(now=NOW)).then(ev.Undelayed())
    assert state.operational_status is OperationalStatus.OK


def test_leaving_a_busy_state_ends_the_delay() -> None:
    state = (
        given(provisioning_host(), ev.Delayed())
        .when(cmd.RecordProvisioned(now=NOW))
        .then(
            ev.ProvisioningCompleted(image=IMAGE),
            moved(PS.PROVISIONING, PS.PROVISIONED, "provisioning complete", NOW),
        )
    )

    assert not state.delayed


def test_failure_while_delayed_shows_error() -> None:
    state = given(provisioning_host(), ev.Delayed(), failed(ErrorType.REGISTRATION, 1)).state

    assert state.operational_status is OperationalStatus.ERROR


def test_a_reboot_of_a_host_that_is_already_off_is_not_stuck_waiting_for_power_off() -> None:
    state = DEFINITION.fold(
        [*provisioned_host(), ev.PowerObserved(powered_on=False), ev.RebootRequested(key="", mode="hard")]
    )
    assert not state.powered_on
    assert state.reboot_power_off_pending
    events = decide(state, cmd.RecordPower(powered_on=False, now=NOW))
    assert events == [ev.PowerObserved(powered_on=False)]
    assert not DEFINITION.fold(events, state).reboot_power_off_pending
