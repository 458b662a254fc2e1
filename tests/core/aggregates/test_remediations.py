from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from core.aggregates import remediations as rem
from core.aggregates.base import Stored
from core.events import remediations as ev
from core.events.codec import encode
from core.events.machine_values import HostRef
from tests.core.aggregates.gwt import Given

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
HOST = HostRef(namespace="metal3", name="node-1")
STRATEGY = ev.RemediationStrategy(retry_limit=2, timeout_seconds=300)
CREATED = ev.RemediationCreated(
    namespace="metal3", name="m-0", uid="u-1", machine="m3m-0", host=HOST, strategy=STRATEGY
)
RUNNING = [CREATED, ev.RemediationStarted(at=T0)]
WAITING = [*RUNNING, ev.RemediationPoweredOff(at=T0 + timedelta(seconds=20))]


def given(*history: Stored | Sequence[Stored]) -> Given[rem.RemediationState, rem.RemediationCommand]:
    flat: list[Stored] = []
    for item in history:
        flat.extend(item if isinstance(item, Sequence) else [item])
    return Given(rem.DEFINITION, tuple(flat))


def create(strategy: ev.RemediationStrategy = STRATEGY) -> rem.ApplyRemediation:
    return rem.ApplyRemediation(
        now=T0, namespace="metal3", name="m-0", uid="u-1", machine="m3m-0", host=HOST, strategy=strategy
    )


def test_defaults_are_capm3s() -> None:
    assert ev.RemediationStrategy() == ev.RemediationStrategy(
        type="Reboot", retry_limit=1, timeout_seconds=600
    )


def test_created_remediation_has_no_phase_yet() -> None:
    state = given().when(create()).then(CREATED)
    assert (state.phase, state.retry_count) == ("", 0)


@pytest.mark.parametrize(
    "strategy",
    [
        pytest.param(ev.RemediationStrategy(timeout_seconds=99), id="timeout-below-100"),
        pytest.param(ev.RemediationStrategy(retry_limit=-1), id="negative-retries"),
    ],
)
def test_invalid_strategy_is_rejected(strategy: ev.RemediationStrategy) -> None:
    given().when(create(strategy)).then_rejected(rule="strategy-invalid")


def test_start_runs_the_first_reboot() -> None:
    state = (
        given(CREATED).when(rem.StartRemediation(now=T0, host_online=True)).then(ev.RemediationStarted(at=T0))
    )
    assert (state.phase, state.last_remediated) == ("Running", T0)


def test_host_meant_to_be_off_fails_the_remediation() -> None:
    state = (
        given(CREATED)
        .when(rem.StartRemediation(now=T0, host_online=False))
        .then(ev.RemediationFailed(reason="the host's spec.online is false"))
    )
    assert state.phase == "Failed"
    given(WAITING).when(rem.RecordHostOffline(now=T0)).then(
        ev.RemediationFailed(reason="the host's spec.online is false")
    )


def test_power_off_moves_to_waiting() -> None:
    at = T0 + timedelta(seconds=20)
    state = given(RUNNING).when(rem.RecordPoweredOff(now=at)).then(ev.RemediationPoweredOff(at=at))
    assert state.phase == "Waiting"
    given(WAITING).when(rem.RecordPoweredOff(now=at)).then_nothing()
    given(CREATED).when(rem.RecordPoweredOff(now=at)).then_rejected(rule="step-out-of-phase")


def test_healthy_node_ends_the_remediation() -> None:
    state = (
        given(WAITING)
        .when(rem.RecordNodeHealthy(now=T0 + timedelta(seconds=90)))
        .then(ev.RemediationSucceeded(at=T0 + timedelta(seconds=90)))
    )
    assert state.succeeded
    assert state.phase == "Waiting"


@pytest.mark.parametrize("seconds", [0, 299, 300])
def test_no_retry_before_the_timeout(seconds: int) -> None:
    given(WAITING).when(rem.CheckTimeout(now=T0 + timedelta(seconds=seconds))).then_nothing()


def test_timeout_retries_while_below_the_limit_then_gives_up() -> None:
    first = T0 + timedelta(seconds=301)
    state = (
        given(WAITING).when(rem.CheckTimeout(now=first)).then(ev.RemediationRetried(retry_count=1, at=first))
    )
    assert (state.phase, state.retry_count, state.last_remediated) == ("Running", 1, first)
    second = first + timedelta(seconds=301)
    history = [*WAITING, ev.RemediationRetried(retry_count=1, at=first), ev.RemediationPoweredOff(at=first)]
    given(history).when(rem.CheckTimeout(now=second - timedelta(seconds=2))).then_nothing()
    given(history).when(rem.CheckTimeout(now=second)).then(ev.RemediationRetried(retry_count=2, at=second))
    exhausted = [
        *history,
        ev.RemediationRetried(retry_count=2, at=second),
        ev.RemediationPoweredOff(at=second),
    ]
    third = second + timedelta(seconds=301)
    state = given(exhausted).when(rem.CheckTimeout(now=third)).then(ev.RemediationGaveUp(at=third))
    assert state.phase == "Deleting machine"
    assert rem.UNHEALTHY_ANNOTATION_VALUE == "capm3/UnhealthyNode"


def test_zero_retry_limit_gives_up_after_the_first_timeout() -> None:
    created = ev.RemediationCreated(
        namespace="metal3",
        name="m-0",
        uid="u-1",
        machine="m3m-0",
        host=HOST,
        strategy=ev.RemediationStrategy(retry_limit=0),
    )
    history = [created, ev.RemediationStarted(at=T0), ev.RemediationPoweredOff(at=T0)]
    late = T0 + timedelta(seconds=601)
    given(history).when(rem.CheckTimeout(now=late)).then(ev.RemediationGaveUp(at=late))


def test_timeout_check_only_applies_while_waiting() -> None:
    given(RUNNING).when(rem.CheckTimeout(now=T0 + timedelta(days=1))).then_rejected(rule="step-out-of-phase")


def test_deletion_is_final() -> None:
    state = given(WAITING).when(rem.RequestRemediationDeletion(now=T0)).then(ev.RemediationDeleted())
    assert state.deleted
    given(WAITING, ev.RemediationDeleted()).when(
        rem.StartRemediation(now=T0, host_online=True)
    ).then_rejected(rule="deleted-is-final")


def test_events_round_trip_through_the_codec() -> None:
    for event in [*WAITING, ev.RemediationRetried(retry_count=1, at=T0), ev.RemediationGaveUp(at=T0)]:
        assert ev.CODEC.decode(encode(event)) == event
