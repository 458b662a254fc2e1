from __future__ import annotations

import pytest
from msgspec.structs import replace

from core.aggregates import host_commands as cmd
from core.aggregates.hosts import decide
from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import ErrorType, ProvisioningState
from tests.core.aggregates.gwt import given
from tests.core.aggregates.histories import (
    IMAGE,
    MACHINE,
    NOW,
    SECRET,
    SPEC,
    apply,
    available_host,
    created,
    deleting_host,
    deprovisioning_host,
    detached_host,
    externally_provisioned_host,
    failed,
    inspecting_host,
    moved,
    powering_off_host,
    preparing_host,
    provisioned_host,
    provisioning_host,
    registering_host,
    unmanaged_host,
)

PS = ProvisioningState
DELETE = cmd.RequestDeletion(now=NOW)
REQUESTED = ev.DeletionRequested()


def _deleting_while_deprovisioning() -> list[Event]:
    return [
        *provisioned_host(),
        REQUESTED,
        moved(PS.PROVISIONED, PS.DEPROVISIONING, "deleted while provisioned"),
    ]


def _errors(error_type: ErrorType, count: int) -> list[Event]:
    return [failed(error_type, n) for n in range(1, count + 1)]


DELETION_FROM_EVERY_STATE = [
    pytest.param(
        [created()],
        [REQUESTED, moved(PS.NONE, PS.DELETING, "deleted before registration completed", NOW)],
        id="none -> deleting",
    ),
    pytest.param(
        unmanaged_host(),
        [REQUESTED, moved(PS.UNMANAGED, PS.DELETING, "deleted before registration completed", NOW)],
        id="unmanaged -> deleting",
    ),
    pytest.param(
        registering_host(),
        [REQUESTED, moved(PS.REGISTERING, PS.DELETING, "deleted before registration completed", NOW)],
        id="registering -> deleting",
    ),
    pytest.param(
        inspecting_host(),
        [REQUESTED, moved(PS.INSPECTING, PS.POWERING_OFF_BEFORE_DELETE, "deleted", NOW)],
        id="inspecting -> powering off before delete",
    ),
    pytest.param(
        preparing_host(),
        [REQUESTED, moved(PS.PREPARING, PS.POWERING_OFF_BEFORE_DELETE, "deleted", NOW)],
        id="preparing -> powering off before delete",
    ),
    pytest.param(
        available_host(),
        [REQUESTED, moved(PS.AVAILABLE, PS.POWERING_OFF_BEFORE_DELETE, "deleted", NOW)],
        id="available -> powering off before delete",
    ),
    pytest.param(
        externally_provisioned_host(),
        [REQUESTED, moved(PS.EXTERNALLY_PROVISIONED, PS.POWERING_OFF_BEFORE_DELETE, "deleted", NOW)],
        id="externally provisioned -> powering off before delete",
    ),
    pytest.param(
        [*available_host(), ev.PowerObserved(powered_on=False)],
        [
            REQUESTED,
            moved(PS.AVAILABLE, PS.POWERING_OFF_BEFORE_DELETE, "deleted", NOW),
            moved(PS.POWERING_OFF_BEFORE_DELETE, PS.DELETING, "powered off", NOW),
        ],
        id="available and already off -> powering off before delete -> deleting",
    ),
    pytest.param(
        available_host(replace(SPEC, disable_power_off=True)),
        [
            REQUESTED,
            moved(PS.AVAILABLE, PS.POWERING_OFF_BEFORE_DELETE, "deleted", NOW),
            moved(PS.POWERING_OFF_BEFORE_DELETE, PS.DELETING, "powered off", NOW),
        ],
        id="disablePowerOff -> deleting without powering off",
    ),
    pytest.param(
        provisioning_host(),
        [REQUESTED, moved(PS.PROVISIONING, PS.DEPROVISIONING, "deleted while provisioned", NOW)],
        id="provisioning -> deprovisioning",
    ),
    pytest.param(
        provisioned_host(),
        [REQUESTED, moved(PS.PROVISIONED, PS.DEPROVISIONING, "deleted while provisioned", NOW)],
        id="provisioned -> deprovisioning",
    ),
    pytest.param(deprovisioning_host(None), [REQUESTED], id="deprovisioning goes on deprovisioning"),
    pytest.param(
        detached_host(),
        [REQUESTED, moved(PS.PROVISIONED, PS.DELETING, "deleted while detached", NOW)],
        id="detached provisioned -> deleting without deprovisioning",
    ),
    pytest.param(
        detached_host(available_host()),
        [REQUESTED, moved(PS.AVAILABLE, PS.DELETING, "deleted while detached", NOW)],
        id="detached available -> deleting without powering off",
    ),
    pytest.param(
        detached_host(delete_action="delay"),
        [REQUESTED],
        id="detached with deleteAction delay stays until reattached or the action changes",
    ),
    pytest.param(
        [*provisioned_host(), ev.DetachRequested()],
        [REQUESTED, moved(PS.PROVISIONED, PS.DEPROVISIONING, "deleted while provisioned", NOW)],
        id="detach requested but not done -> deprovisioning as usual",
    ),
    pytest.param(
        [*available_host(), ev.Paused()],
        [REQUESTED],
        id="paused -> deletion recorded, nothing moves",
    ),
]


@pytest.mark.parametrize(("history", "expected"), DELETION_FROM_EVERY_STATE)
def test_deletion_request_starts_the_metal3_delete_path_of_the_current_state(
    history: list[Event], expected: list[Event]
) -> None:
    given(history).when(DELETE).then(*expected)


def test_deleting_a_provisioned_host_deprovisions_powers_off_then_deletes() -> None:
    history: list[Event] = provisioned_host()
    steps: list[tuple[cmd.HostCommand, list[Event]]] = [
        (DELETE, [REQUESTED, moved(PS.PROVISIONED, PS.DEPROVISIONING, "deleted while provisioned", NOW)]),
        (
            cmd.RecordDeprovisioned(now=NOW),
            [
                ev.DeprovisioningCompleted(),
                moved(PS.DEPROVISIONING, PS.POWERING_OFF_BEFORE_DELETE, "deprovisioning complete", NOW),
            ],
        ),
        (
            cmd.RecordPower(now=NOW, powered_on=False),
            [
                ev.PowerObserved(powered_on=False),
                moved(PS.POWERING_OFF_BEFORE_DELETE, PS.DELETING, "powered off", NOW),
            ],
        ),
        (cmd.RecordNodeDeleted(now=NOW), [ev.HostDeleted()]),
    ]
    for command, expected in steps:
        given(history).when(command).then(*expected)
        history = [*history, *expected]

    state = given(history).state
    assert state.deleted
    assert state.provisioning_state is PS.DELETING
    assert state.provisioning_id is None


def test_repeated_deletion_request_records_nothing() -> None:
    given(powering_off_host()).when(DELETE).then_nothing()


def test_deprovisioning_keeps_trying_through_three_failures_while_deleting() -> None:
    given(_deleting_while_deprovisioning(), _errors(ErrorType.PROVISIONING, 2)).when(
        cmd.RecordFailure(now=NOW, error_type=ErrorType.PROVISIONING, message="clean failed")
    ).then(failed(ErrorType.PROVISIONING, 3, "clean failed", NOW))


def test_deprovisioning_failing_a_fourth_time_while_deleting_gives_up_and_powers_off() -> None:
    state = (
        given(_deleting_while_deprovisioning(), _errors(ErrorType.PROVISIONING, 3))
        .when(cmd.RecordFailure(now=NOW, error_type=ErrorType.PROVISIONING, message="clean failed"))
        .then(
            failed(ErrorType.PROVISIONING, 4, "clean failed", NOW),
            moved(
                PS.DEPROVISIONING,
                PS.POWERING_OFF_BEFORE_DELETE,
                "deprovisioning keeps failing; giving up",
                NOW,
            ),
        )
    )

    assert state.provisioning_state is PS.POWERING_OFF_BEFORE_DELETE


def _gave_up_deprovisioning() -> list[Event]:
    return [
        *_deleting_while_deprovisioning(),
        *_errors(ErrorType.PROVISIONING, 4),
        moved(PS.DEPROVISIONING, PS.POWERING_OFF_BEFORE_DELETE, "deprovisioning keeps failing; giving up"),
    ]


def test_host_that_gave_up_deprovisioning_is_still_powered_off_before_delete() -> None:
    given(_gave_up_deprovisioning()).when(cmd.RecordPower(now=NOW, powered_on=False)).then(
        ev.PowerObserved(powered_on=False),
        moved(PS.POWERING_OFF_BEFORE_DELETE, PS.DELETING, "powered off", NOW),
    )


def test_host_that_gave_up_deprovisioning_is_deleted_after_one_failed_power_off() -> None:
    given(_gave_up_deprovisioning()).when(
        cmd.RecordFailure(now=NOW, error_type=ErrorType.POWER_MANAGEMENT, message="power off failed")
    ).then(
        failed(ErrorType.POWER_MANAGEMENT, 5, "power off failed", NOW),
        moved(PS.POWERING_OFF_BEFORE_DELETE, PS.DELETING, "power off keeps failing; deleting anyway", NOW),
    )


def test_deprovisioning_that_cannot_reach_the_bmc_a_fourth_time_deletes_without_deprovisioning() -> None:
    given(_deleting_while_deprovisioning(), _errors(ErrorType.REGISTRATION, 3)).when(
        cmd.RecordFailure(now=NOW, error_type=ErrorType.REGISTRATION, message="BMC unreachable")
    ).then(
        failed(ErrorType.REGISTRATION, 4, "BMC unreachable", NOW),
        moved(PS.DEPROVISIONING, PS.DELETING, "cannot reach the BMC; deleting without deprovisioning", NOW),
    )


def test_power_off_failing_three_times_keeps_trying() -> None:
    given(powering_off_host(), _errors(ErrorType.POWER_MANAGEMENT, 2)).when(
        cmd.RecordFailure(now=NOW, error_type=ErrorType.POWER_MANAGEMENT, message="power off failed")
    ).then(failed(ErrorType.POWER_MANAGEMENT, 3, "power off failed", NOW))


def test_power_off_failing_a_fourth_time_deletes_anyway() -> None:
    given(powering_off_host(), _errors(ErrorType.POWER_MANAGEMENT, 3)).when(
        cmd.RecordFailure(now=NOW, error_type=ErrorType.POWER_MANAGEMENT, message="power off failed")
    ).then(
        failed(ErrorType.POWER_MANAGEMENT, 4, "power off failed", NOW),
        moved(PS.POWERING_OFF_BEFORE_DELETE, PS.DELETING, "power off keeps failing; deleting anyway", NOW),
    )


MISSING_SECRET = cmd.ObserveCredentials(now=NOW, secret_name=SECRET, version=None)
MISSING_MESSAGE = f"BMC credentials Secret {SECRET!r} not found"
LOST = ev.RegistrationLost(reason="ironic database lost")


def test_powering_off_an_unregistered_host_without_credentials_skips_to_deleting() -> None:
    given(powering_off_host(), LOST).when(MISSING_SECRET).then(
        failed(ErrorType.REGISTRATION, 1, MISSING_MESSAGE, NOW),
        moved(PS.POWERING_OFF_BEFORE_DELETE, PS.DELETING, "not registered and no usable credentials", NOW),
    )


def test_deprovisioning_an_unregistered_host_without_credentials_skips_to_deleting() -> None:
    given(_deleting_while_deprovisioning(), LOST).when(MISSING_SECRET).then(
        failed(ErrorType.REGISTRATION, 1, MISSING_MESSAGE, NOW),
        moved(PS.DEPROVISIONING, PS.DELETING, "not registered and no usable credentials", NOW),
    )


def test_deprovisioning_a_registered_host_goes_on_when_the_credentials_secret_disappears() -> None:
    given(_deleting_while_deprovisioning()).when(MISSING_SECRET).then(
        failed(ErrorType.REGISTRATION, 1, MISSING_MESSAGE, NOW)
    )


def test_missing_credentials_secret_is_not_an_error_once_deleting() -> None:
    given(deleting_host()).when(MISSING_SECRET).then_nothing()


def test_resuming_a_host_deleted_while_paused_starts_its_delete_path() -> None:
    given(available_host(), ev.Paused(), REQUESTED).when(cmd.Resume(now=NOW)).then(
        ev.Resumed(), moved(PS.AVAILABLE, PS.POWERING_OFF_BEFORE_DELETE, "deleted", NOW)
    )


def test_host_being_deleted_does_not_start_provisioning_when_given_an_image() -> None:
    history = [*available_host(), ev.Paused(), REQUESTED]
    state = (
        given(history)
        .when(apply(replace(SPEC, image=IMAGE), history))
        .then(ev.SpecChanged(generation=2, spec=replace(SPEC, image=IMAGE)))
    )

    assert state.provisioning_state is PS.AVAILABLE


def test_detached_host_whose_deletion_is_delayed_is_deleted_when_delete_action_becomes_delete() -> None:
    given(detached_host(delete_action="delay"), REQUESTED).when(
        cmd.Detach(now=NOW, delete_action="delete")
    ).then(
        ev.DetachRequested(delete_action="delete"),
        moved(PS.PROVISIONED, PS.DELETING, "deleted while detached", NOW),
    )


def test_reattaching_a_detached_host_whose_deletion_is_delayed_deprovisions_it() -> None:
    given(detached_host(delete_action="delay"), REQUESTED).when(cmd.Reattach(now=NOW)).then(
        ev.AttachRequested(),
        moved(PS.PROVISIONED, PS.DEPROVISIONING, "deleted while provisioned", NOW),
    )


def test_node_deleted_marks_the_host_deleted() -> None:
    state = given(deleting_host()).when(cmd.RecordNodeDeleted(now=NOW)).then(ev.HostDeleted())

    assert state.deleted


def test_consumer_cannot_claim_a_host_being_deleted() -> None:
    given(deprovisioning_host(None), REQUESTED).when(cmd.ClaimHost(now=NOW, consumer=MACHINE)).then_rejected(
        rule="no-claim-while-deleting"
    )


def _deleted_after_three_failed_provisioning_attempts() -> list[Event]:
    history: list[Event] = provisioning_host()
    for attempt in range(1, 4):
        history += [
            failed(ErrorType.PROVISIONING, attempt, "deploy failed"),
            ev.ProvisioningAttemptFailed(fail_count=attempt),
            moved(PS.PROVISIONING, PS.DEPROVISIONING, "provisioning failed"),
        ]
        if attempt < 3:
            history += [
                ev.DeprovisioningCompleted(),
                moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete"),
                ev.ProvisioningAttemptStarted(image=IMAGE, fail_count=attempt),
                moved(PS.AVAILABLE, PS.PROVISIONING, "image requested"),
            ]
    return [*history, REQUESTED]


def test_deprovisioning_done_while_deleting_drops_the_failed_provisioning_error() -> None:
    given(_deleted_after_three_failed_provisioning_attempts()).when(cmd.RecordDeprovisioned(now=NOW)).then(
        ev.DeprovisioningCompleted(),
        ev.ErrorCleared(),
        moved(PS.DEPROVISIONING, PS.POWERING_OFF_BEFORE_DELETE, "deprovisioning complete", NOW),
    )


def test_power_off_after_failed_provisioning_attempts_still_gets_four_tries() -> None:
    history = _deleted_after_three_failed_provisioning_attempts()
    history += decide(given(history).state, cmd.RecordDeprovisioned(now=NOW))

    given(history).when(
        cmd.RecordFailure(now=NOW, error_type=ErrorType.POWER_MANAGEMENT, message="power off failed")
    ).then(failed(ErrorType.POWER_MANAGEMENT, 1, "power off failed", NOW))
