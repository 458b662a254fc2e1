from __future__ import annotations

from datetime import timedelta

import pytest
from msgspec.structs import replace

from core.aggregates import host_commands as cmd
from core.aggregates.hosts import DEFINITION, decide
from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import ErrorType, Image, OperationalStatus, ProvisioningState
from tests.core.aggregates.gwt import given, step
from tests.core.aggregates.histories import (
    CREDS_V1,
    CREDS_V2,
    HARDWARE,
    IMAGE,
    IMAGE_2,
    NODE,
    NOW,
    SECRET,
    SPEC,
    apply,
    available_host,
    deleting_host,
    detached_host,
    externally_provisioned_host,
    failed,
    inspecting_host,
    moved,
    preparing_host,
    provisioned_host,
    provisioning_host,
    registering_host,
    unmanaged_host,
)

PS = ProvisioningState
WITH_IMAGE = replace(SPEC, image=IMAGE)


def _fail(error_type: ErrorType, message: str = "it failed", jitter: float = 0.0) -> cmd.RecordFailure:
    return cmd.RecordFailure(now=NOW, error_type=error_type, message=message, jitter=jitter)


ALLOWED = [
    pytest.param(registering_host(), ErrorType.REGISTRATION, id="registration error while registering"),
    pytest.param(available_host(), ErrorType.REGISTRATION, id="registration error while available"),
    pytest.param(provisioned_host(), ErrorType.REGISTRATION, id="registration error while provisioned"),
    pytest.param(
        provisioned_host(), ErrorType.PROVISIONED_REGISTRATION, id="adoption error while provisioned"
    ),
    pytest.param(
        externally_provisioned_host(),
        ErrorType.PROVISIONED_REGISTRATION,
        id="adoption error while externally provisioned",
    ),
    pytest.param(inspecting_host(), ErrorType.INSPECTION, id="inspection error while inspecting"),
    pytest.param(preparing_host(), ErrorType.PREPARATION, id="preparation error while preparing"),
    pytest.param(available_host(), ErrorType.POWER_MANAGEMENT, id="power error while available"),
    pytest.param(provisioned_host(), ErrorType.POWER_MANAGEMENT, id="power error while provisioned"),
    pytest.param(
        [*provisioned_host(), ev.DetachRequested()], ErrorType.DETACH, id="detach error while detaching"
    ),
    pytest.param(provisioned_host(), ErrorType.SERVICING, id="servicing error while provisioned"),
]


@pytest.mark.parametrize(("history", "error_type"), ALLOWED)
def test_failure_is_recorded_with_a_count_and_a_retry_time(
    history: list[Event], error_type: ErrorType
) -> None:
    state = (
        given(history).when(_fail(error_type, "BMC said no")).then(failed(error_type, 1, "BMC said no", NOW))
    )

    assert (state.error_type, state.error_message, state.error_count) == (error_type, "BMC said no", 1)
    assert state.retry_not_before == NOW + timedelta(minutes=2)
    assert state.operational_status is OperationalStatus.ERROR
    assert state.provisioning_state is given(history).state.provisioning_state


OUT_OF_STATE = [
    pytest.param(available_host(), ErrorType.INSPECTION, id="inspection error while available"),
    pytest.param(inspecting_host(), ErrorType.PREPARATION, id="preparation error while inspecting"),
    pytest.param(available_host(), ErrorType.SERVICING, id="servicing error while available"),
    pytest.param(inspecting_host(), ErrorType.POWER_MANAGEMENT, id="power error while inspecting"),
    pytest.param(available_host(), ErrorType.PROVISIONED_REGISTRATION, id="adoption error while available"),
    pytest.param(provisioned_host(), ErrorType.PROVISIONING, id="provisioning error while provisioned"),
    pytest.param(unmanaged_host(), ErrorType.REGISTRATION, id="registration error while unmanaged"),
    pytest.param(deleting_host(), ErrorType.REGISTRATION, id="registration error while deleting"),
]


@pytest.mark.parametrize(("history", "error_type"), OUT_OF_STATE)
def test_failure_that_cannot_happen_in_the_current_state_is_rejected(
    history: list[Event], error_type: ErrorType
) -> None:
    given(history).when(_fail(error_type)).then_rejected(rule="error-out-of-state")


BACKOFF = [
    pytest.param(0, 0.0, timedelta(minutes=2), id="1st failure: 2 min"),
    pytest.param(0, 0.5, timedelta(minutes=1.5), id="1st failure, jitter 0.5: 1.5 min"),
    pytest.param(
        0, 0.999, timedelta(minutes=2) * (1 - 0.999 / 2), id="1st failure, most jitter: just over 1 min"
    ),
    pytest.param(1, 0.0, timedelta(minutes=4), id="2nd failure: 4 min"),
    pytest.param(2, 0.0, timedelta(minutes=8), id="3rd failure: 8 min"),
    pytest.param(8, 0.0, timedelta(minutes=512), id="9th failure: 512 min"),
    pytest.param(9, 0.0, timedelta(minutes=512), id="10th failure: capped at 2^9 min"),
    pytest.param(20, 0.5, timedelta(minutes=384), id="21st failure, jitter 0.5: capped, minus a quarter"),
]


@pytest.mark.parametrize(("earlier", "jitter", "delay"), BACKOFF)
def test_retry_waits_two_to_the_error_count_minutes_minus_jitter(
    earlier: int, jitter: float, delay: timedelta
) -> None:
    history = [*inspecting_host(), *(failed(ErrorType.INSPECTION, n) for n in range(1, earlier + 1))]

    given(history).when(_fail(ErrorType.INSPECTION, "timeout", jitter)).then(
        ev.ErrorRecorded(
            error_type=ErrorType.INSPECTION,
            message="timeout",
            error_count=earlier + 1,
            retry_not_before=NOW + delay,
        )
    )


def test_failures_of_different_kinds_add_up_to_one_consecutive_count() -> None:
    given(available_host(), failed(ErrorType.POWER_MANAGEMENT, 1)).when(_fail(ErrorType.REGISTRATION)).then(
        failed(ErrorType.REGISTRATION, 2, at=NOW)
    )


CLEARED_BY_SUCCESS = [
    pytest.param(
        [*inspecting_host(), failed(ErrorType.INSPECTION, 2)],
        cmd.RecordInspection(now=NOW, hardware=HARDWARE),
        [
            ev.HardwareInspected(hardware=HARDWARE),
            ev.ErrorCleared(),
            moved(PS.INSPECTING, PS.PREPARING, "inspection complete", NOW),
        ],
        id="inspection error by a completed inspection",
    ),
    pytest.param(
        [*preparing_host(), failed(ErrorType.PREPARATION, 1)],
        cmd.RecordPreparation(now=NOW),
        [
            ev.PreparationCompleted(),
            ev.ErrorCleared(),
            moved(PS.PREPARING, PS.AVAILABLE, "preparation complete", NOW),
        ],
        id="preparation error by a completed preparation",
    ),
    pytest.param(
        [*available_host(), failed(ErrorType.POWER_MANAGEMENT, 1)],
        cmd.RecordPower(now=NOW, powered_on=False),
        [ev.PowerObserved(powered_on=False), ev.ErrorCleared()],
        id="power error by a power change",
    ),
    pytest.param(
        [*available_host(), failed(ErrorType.POWER_MANAGEMENT, 1)],
        cmd.RecordPower(now=NOW, powered_on=True),
        [ev.ErrorCleared()],
        id="power error by a successful power reading",
    ),
    pytest.param(
        [*registering_host(), failed(ErrorType.REGISTRATION, 3)],
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE, credentials_version=CREDS_V1.version),
        [
            ev.RegistrationSucceeded(provisioning_id=NODE, credentials=CREDS_V1),
            ev.ErrorCleared(),
            moved(PS.REGISTERING, PS.INSPECTING, "registered", NOW),
        ],
        id="registration error by a registration",
    ),
    pytest.param(
        [*available_host(), failed(ErrorType.REGISTRATION, 1)],
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE, credentials_version=CREDS_V1.version),
        [ev.ErrorCleared()],
        id="registration error by the same registration seen again",
    ),
    pytest.param(
        [*provisioned_host(), ev.RegistrationLost(reason="x"), failed(ErrorType.PROVISIONED_REGISTRATION, 1)],
        cmd.RecordAdopted(now=NOW),
        [ev.Adopted(), ev.ErrorCleared()],
        id="adoption error by an adoption",
    ),
    pytest.param(
        [*provisioned_host(), ev.DetachRequested(), failed(ErrorType.DETACH, 1)],
        cmd.RecordDetached(now=NOW),
        [ev.DetachCompleted(), ev.ErrorCleared()],
        id="detach error by a completed detach",
    ),
    pytest.param(
        [
            *provisioning_host(),
            failed(ErrorType.PROVISIONING, 1),
            ev.ProvisioningAttemptFailed(fail_count=1),
            moved(PS.PROVISIONING, PS.DEPROVISIONING, "provisioning failed"),
            ev.DeprovisioningCompleted(),
            moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete"),
            ev.ProvisioningAttemptStarted(image=IMAGE, fail_count=1),
            moved(PS.AVAILABLE, PS.PROVISIONING, "image requested"),
        ],
        cmd.RecordProvisioned(now=NOW),
        [
            ev.ProvisioningCompleted(image=IMAGE),
            ev.ProvisioningFailCountReset(reason="provisioning succeeded"),
            ev.ErrorCleared(),
            moved(PS.PROVISIONING, PS.PROVISIONED, "provisioning complete", NOW),
        ],
        id="provisioning error and fail count by a successful retry",
    ),
]


@pytest.mark.parametrize(("history", "command", "expected"), CLEARED_BY_SUCCESS)
def test_error_is_cleared_by_the_matching_success(
    history: list[Event], command: cmd.HostCommand, expected: list[Event]
) -> None:
    state = given(history).when(command).then(*expected)

    assert (state.error_type, state.error_message, state.error_count, state.retry_not_before) == (
        None,
        "",
        0,
        None,
    )


NOT_CLEARED = [
    pytest.param(
        [*available_host(), failed(ErrorType.POWER_MANAGEMENT, 1)],
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE, credentials_version=CREDS_V1.version),
        [],
        id="power error survives a registration",
    ),
    pytest.param(
        [*inspecting_host(), failed(ErrorType.INSPECTION, 1)],
        cmd.RecordPower(now=NOW, powered_on=False),
        [ev.PowerObserved(powered_on=False)],
        id="inspection error survives a power change",
    ),
    pytest.param(
        [*available_host(), failed(ErrorType.REGISTRATION, 1, "BMC rejected the password")],
        cmd.ObserveCredentials(now=NOW, secret_name=SECRET, version=CREDS_V2.version),
        [ev.CredentialsObserved(credentials=CREDS_V2)],
        id="registration error from the BMC survives a new Secret until registration succeeds",
    ),
    pytest.param(
        [*detached_host(), failed(ErrorType.DETACH, 1)],
        cmd.RecordDetached(now=NOW),
        [],
        id="detach error survives a repeated detach observation",
    ),
]


@pytest.mark.parametrize(("history", "command", "expected"), NOT_CLEARED)
def test_error_is_kept_when_an_unrelated_success_is_observed(
    history: list[Event], command: cmd.HostCommand, expected: list[Event]
) -> None:
    state = given(history).when(command).then(*expected)

    assert state.error_type is given(history).state.error_type


MISSING = cmd.ObserveCredentials(now=NOW, secret_name=SECRET, version=None)
MISSING_MESSAGE = f"BMC credentials Secret {SECRET!r} not found"
UNUSABLE = cmd.ObserveCredentials(now=NOW, secret_name=SECRET, version="1003", problem="no 'password' key")
UNUSABLE_MESSAGE = f"BMC credentials Secret {SECRET!r} is unusable: no 'password' key"


def test_missing_credentials_secret_is_a_registration_error() -> None:
    state = (
        given(registering_host()).when(MISSING).then(failed(ErrorType.REGISTRATION, 1, MISSING_MESSAGE, NOW))
    )

    assert state.provisioning_state is PS.REGISTERING


def test_unusable_credentials_secret_is_a_registration_error() -> None:
    given(registering_host()).when(UNUSABLE).then(failed(ErrorType.REGISTRATION, 1, UNUSABLE_MESSAGE, NOW))


def test_same_credentials_problem_seen_again_records_nothing() -> None:
    given(registering_host(), failed(ErrorType.REGISTRATION, 1, MISSING_MESSAGE)).when(MISSING).then_nothing()


def test_different_credentials_problem_counts_as_another_failure() -> None:
    given(registering_host(), failed(ErrorType.REGISTRATION, 1, MISSING_MESSAGE)).when(UNUSABLE).then(
        failed(ErrorType.REGISTRATION, 2, UNUSABLE_MESSAGE, NOW)
    )


def test_missing_credentials_secret_is_not_an_error_for_an_unmanaged_host() -> None:
    given(unmanaged_host()).when(MISSING).then_nothing()


def test_new_credentials_secret_version_clears_the_credentials_error_and_registration_resumes() -> None:
    history = [*registering_host(), failed(ErrorType.REGISTRATION, 2, MISSING_MESSAGE)]
    arrived = cmd.ObserveCredentials(now=NOW, secret_name=SECRET, version=CREDS_V2.version)

    given(history).when(arrived).then(ev.CredentialsObserved(credentials=CREDS_V2), ev.ErrorCleared())
    history += [ev.CredentialsObserved(credentials=CREDS_V2), ev.ErrorCleared()]
    state = (
        given(history)
        .when(cmd.RecordRegistration(now=NOW, provisioning_id=NODE, credentials_version=CREDS_V2.version))
        .then(
            ev.RegistrationSucceeded(provisioning_id=NODE, credentials=CREDS_V2),
            moved(PS.REGISTERING, PS.INSPECTING, "registered", NOW),
        )
    )

    assert state.good_credentials == CREDS_V2
    assert state.credentials == CREDS_V2


# --- provisioning retry limit ------------------------------------------------------------------------


def _limit_message(failures: int, limit: int = 5) -> str:
    return (
        f"provisioning failed {failures} times, retry limit ({limit}) reached; "
        "change image or reset provisioningFailCount to retry"
    )


def _provisioning(max_retries: int) -> list[Event]:
    history = provisioning_host()
    if max_retries != 5:
        history.append(ev.SpecChanged(generation=3, spec=WITH_IMAGE, max_provisioning_retries=max_retries))
    return history


def _fail_and_clean(history: list[Event]) -> list[Event]:
    state = DEFINITION.fold(history)
    events = decide(state, _fail(ErrorType.PROVISIONING, "deploy failed"))
    state = DEFINITION.fold(events, state)
    return [*history, *events, *decide(state, cmd.RecordDeprovisioned(now=NOW))]


def _after_failures(count: int, max_retries: int = 5) -> list[Event]:
    history = _provisioning(max_retries)
    for _ in range(count):
        history = _fail_and_clean(history)
    return history


FAIL_DEPLOY = cmd.RecordFailure(now=NOW, error_type=ErrorType.PROVISIONING, message="deploy failed")
DEPROVISIONED = cmd.RecordDeprovisioned(now=NOW)


def _failure_events(attempt: int) -> list[Event]:
    return [
        failed(ErrorType.PROVISIONING, attempt, "deploy failed", NOW),
        ev.ProvisioningAttemptFailed(fail_count=attempt),
        moved(PS.PROVISIONING, PS.DEPROVISIONING, "provisioning failed", NOW),
    ]


def _cleaned_and_retried(attempt: int, image: Image = IMAGE) -> list[Event]:
    return [
        ev.DeprovisioningCompleted(),
        moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete", NOW),
        ev.ProvisioningAttemptStarted(image=image, fail_count=attempt),
        moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", NOW),
    ]


def test_failed_provisioning_is_retried_keeping_the_error_until_the_default_limit_of_five() -> None:
    history = _provisioning(5)
    for attempt in range(1, 5):
        history = step(history, FAIL_DEPLOY, *_failure_events(attempt))
        history = step(history, DEPROVISIONED, *_cleaned_and_retried(attempt))
        assert given(history).state.error_count == attempt
    history = step(history, FAIL_DEPLOY, *_failure_events(5))
    history = step(
        history,
        DEPROVISIONED,
        ev.DeprovisioningCompleted(),
        moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete", NOW),
        ev.ErrorRecorded(
            error_type=ErrorType.PROVISIONING, message=_limit_message(5), error_count=6, retry_not_before=NOW
        ),
    )

    state = given(history).state
    assert state.provisioning_state is PS.AVAILABLE
    assert state.provisioning_fail_count == 5
    assert history == _after_failures(5)


def test_host_at_the_retry_limit_stays_available_through_unrelated_changes() -> None:
    history = _after_failures(5)
    described = replace(WITH_IMAGE, description="rack 4")

    given(history).when(apply(described, history)).then(ev.SpecChanged(generation=3, spec=described))


def test_operator_reset_of_the_fail_count_allows_another_attempt() -> None:
    given(_after_failures(5)).when(cmd.ResetProvisioningFailCount(now=NOW)).then(
        ev.ProvisioningFailCountReset(reason="reset by operator"),
        ev.ErrorCleared(),
        ev.ProvisioningAttemptStarted(image=IMAGE),
        moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", NOW),
    )


def test_new_image_resets_the_fail_count_and_is_provisioned() -> None:
    history = _after_failures(5)
    spec = replace(SPEC, image=IMAGE_2)

    given(history).when(apply(spec, history)).then(
        ev.SpecChanged(generation=3, spec=spec),
        ev.ProvisioningFailCountReset(reason="image changed"),
        ev.ErrorCleared(),
        ev.ProvisioningAttemptStarted(image=IMAGE_2),
        moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", NOW),
    )


def test_image_removal_resets_the_fail_count_and_withdraws_the_error() -> None:
    history = _after_failures(5)

    state = (
        given(history)
        .when(apply(SPEC, history))
        .then(
            ev.SpecChanged(generation=3, spec=SPEC),
            ev.ProvisioningFailCountReset(reason="image removed"),
            ev.ErrorCleared(),
        )
    )

    assert state.provisioning_fail_count == 0
    assert state.operational_status is OperationalStatus.OK


def test_image_removed_after_one_failure_resets_the_count_before_anything_else_is_tried() -> None:
    history = _after_failures(1)
    history = step(
        history,
        apply(SPEC, history),
        ev.SpecChanged(generation=3, spec=SPEC),
        moved(PS.PROVISIONING, PS.DEPROVISIONING, "provisioning cancelled: image changed or removed", NOW),
    )

    given(history).when(DEPROVISIONED).then(
        ev.DeprovisioningCompleted(),
        ev.ErrorCleared(),
        moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete", NOW),
        ev.ProvisioningFailCountReset(reason="image removed"),
    )


def test_retry_limit_follows_max_provisioning_retries() -> None:
    history = _after_failures(1, max_retries=2)
    history = step(history, FAIL_DEPLOY, *_failure_events(2))

    given(history).when(DEPROVISIONED).then(
        ev.DeprovisioningCompleted(),
        moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete", NOW),
        ev.ErrorRecorded(
            error_type=ErrorType.PROVISIONING,
            message=_limit_message(2, 2),
            error_count=3,
            retry_not_before=NOW,
        ),
    )


def test_zero_max_provisioning_retries_retries_forever() -> None:
    history = _after_failures(7, max_retries=0)

    state = given(history).state
    assert state.provisioning_state is PS.PROVISIONING
    assert state.provisioning_fail_count == 7


@pytest.mark.parametrize("jitter", [-0.1, 1.0, 7.0])
def test_jitter_outside_zero_to_one_is_rejected_not_a_crash(jitter: float) -> None:
    given(*registering_host()).when(
        cmd.RecordFailure(error_type=ErrorType.REGISTRATION, message="x", jitter=jitter, now=NOW)
    ).then_rejected(rule="jitter-range")


def test_an_operator_may_reset_the_fail_count_of_a_paused_host() -> None:
    state = DEFINITION.fold([*_after_failures(5), ev.Paused()])
    events = decide(state, cmd.ResetProvisioningFailCount(now=NOW))
    assert any(isinstance(e, ev.ProvisioningFailCountReset) for e in events)


def test_a_host_waiting_for_capacity_while_preparing_shows_delayed() -> None:
    state = DEFINITION.fold(preparing_host())
    events = decide(state, cmd.RecordDelayed(now=NOW))
    assert events == [ev.Delayed()]
    assert DEFINITION.fold(events, state).operational_status is OperationalStatus.DELAYED
