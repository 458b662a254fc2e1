from __future__ import annotations

import pytest
from msgspec.structs import replace

from core.aggregates import host_commands as cmd
from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import ConsumerRef
from tests.core.aggregates.gwt import given
from tests.core.aggregates.histories import (
    MACHINE,
    NOW,
    OTHER_MACHINE,
    available_host,
    deleting_host,
    powering_off_host,
    provisioned_host,
    registering_host,
)

CLAIMED = ev.ConsumerClaimed(consumer=MACHINE)


def _claim(consumer: ConsumerRef = MACHINE) -> cmd.ClaimHost:
    return cmd.ClaimHost(now=NOW, consumer=consumer)


def _release(consumer: ConsumerRef = MACHINE) -> cmd.ReleaseHost:
    return cmd.ReleaseHost(now=NOW, consumer=consumer)


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(registering_host(), id="registering"),
        pytest.param(available_host(), id="available"),
        pytest.param(provisioned_host(), id="provisioned"),
    ],
)
def test_unclaimed_host_can_be_claimed(history: list[Event]) -> None:
    state = given(history).when(_claim()).then(CLAIMED)

    assert state.consumer == MACHINE


def test_second_claim_by_another_consumer_is_rejected() -> None:
    given(available_host(), CLAIMED).when(_claim(OTHER_MACHINE)).then_rejected(rule="one-consumer-per-host")


def test_claim_by_a_same_named_consumer_of_another_kind_is_rejected() -> None:
    given(available_host(), CLAIMED).when(_claim(replace(MACHINE, kind="HostClaim"))).then_rejected(
        rule="one-consumer-per-host"
    )


def test_repeated_claim_by_the_same_consumer_records_nothing() -> None:
    given(available_host(), CLAIMED).when(_claim()).then_nothing()


def test_repeated_claim_by_the_same_consumer_with_a_new_uid_records_nothing() -> None:
    given(available_host(), CLAIMED).when(_claim(replace(MACHINE, uid="new-uid"))).then_nothing()


def test_owner_can_release_the_host() -> None:
    state = given(provisioned_host(), CLAIMED).when(_release()).then(ev.ConsumerReleased(consumer=MACHINE))

    assert state.consumer is None


def test_release_by_another_consumer_is_rejected() -> None:
    given(available_host(), CLAIMED).when(_release(OTHER_MACHINE)).then_rejected(
        rule="release-by-consumer-only"
    )


def test_release_of_an_unclaimed_host_records_nothing() -> None:
    given(available_host()).when(_release()).then_nothing()


def test_released_host_can_be_claimed_by_another_consumer() -> None:
    given(available_host(), CLAIMED, ev.ConsumerReleased(consumer=MACHINE)).when(_claim(OTHER_MACHINE)).then(
        ev.ConsumerClaimed(consumer=OTHER_MACHINE)
    )


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(
            [*provisioned_host(), ev.DeletionRequested()], id="deletion requested, still deprovisioning"
        ),
        pytest.param(powering_off_host(), id="powering off before delete"),
        pytest.param(deleting_host(), id="deleting"),
    ],
)
def test_host_being_deleted_cannot_be_claimed(history: list[Event]) -> None:
    given(history).when(_claim()).then_rejected(rule="no-claim-while-deleting")


def test_owner_can_still_release_a_host_being_deleted() -> None:
    given(powering_off_host(), CLAIMED).when(_release()).then(ev.ConsumerReleased(consumer=MACHINE))
