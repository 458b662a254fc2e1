"""The Lease record, the leader-election decisions and the helpers that need no API server."""

from __future__ import annotations

import datetime
import socket
from pathlib import Path

import pytest

from adapters.k8s import leader_record
from adapters.k8s.leader import Timings, default_identity, pod_namespace
from adapters.k8s.leader_record import LeaseRecord, Observation

UTC = datetime.UTC
T0 = datetime.datetime(2026, 11, 24, 3, 16, 33, 123456, tzinfo=UTC)


def test_micro_time_is_utc_with_six_fractional_digits() -> None:
    assert leader_record.format_micro_time(T0) == "2026-11-24T03:16:33.123456Z"
    assert leader_record.format_micro_time(T0.replace(microsecond=0)) == "2026-11-24T03:16:33.000000Z"
    plus_one = datetime.timezone(datetime.timedelta(hours=1))
    assert leader_record.format_micro_time(T0.astimezone(plus_one)) == "2026-11-24T03:16:33.123456Z"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2026-11-24T03:16:33.123456Z", T0, id="micro-time"),
        pytest.param("2026-11-24T03:16:33Z", T0.replace(microsecond=0), id="whole-seconds"),
        pytest.param("2026-11-24T04:16:33.123456+01:00", T0, id="offset"),
    ],
)
def test_times_parse_to_utc(text: str, expected: datetime.datetime) -> None:
    parsed = leader_record.parse_micro_time(text)
    assert parsed == expected
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize("text", ["2026-11-24T03:16:33", "yesterday", ""])
def test_times_without_zone_or_not_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - fromisoformat's messages vary by input
        leader_record.parse_micro_time(text)


def test_a_naive_datetime_is_not_formatted() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        leader_record.format_micro_time(datetime.datetime(2026, 1, 1))  # noqa: DTZ001 - the point


def test_a_spec_round_trips_through_the_record() -> None:
    record = LeaseRecord(holder="a_1", lease_duration=15, acquire_time=T0, renew_time=T0, transitions=3)
    spec = leader_record.to_spec(record)
    assert spec == {
        "holderIdentity": "a_1",
        "leaseDurationSeconds": 15,
        "acquireTime": "2026-11-24T03:16:33.123456Z",
        "renewTime": "2026-11-24T03:16:33.123456Z",
        "leaseTransitions": 3,
    }
    assert leader_record.from_spec(spec) == record


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(None, LeaseRecord(), id="no-spec"),
        pytest.param({}, LeaseRecord(), id="empty-spec"),
        pytest.param(
            {"holderIdentity": "x", "leaseDurationSeconds": "15", "renewTime": "soon"},
            LeaseRecord(holder="x"),
            id="unreadable-fields-count-as-absent",
        ),
        pytest.param({"leaseTransitions": True}, LeaseRecord(), id="bool-is-not-a-count"),
    ],
)
def test_missing_or_unreadable_fields_take_zero_values(
    spec: dict[str, object] | None, expected: LeaseRecord
) -> None:
    assert leader_record.from_spec(spec) == expected


def test_the_clock_restarts_only_when_the_record_changes() -> None:
    record = LeaseRecord(holder="a", lease_duration=15, renew_time=T0)
    first = leader_record.observe(None, record, 100.0)
    assert first == Observation(record=record, at=100.0)
    assert leader_record.observe(first, record, 110.0) is first
    renewed = LeaseRecord(holder="a", lease_duration=15, renew_time=T0 + datetime.timedelta(seconds=2))
    assert leader_record.observe(first, renewed, 110.0) == Observation(record=renewed, at=110.0)


def test_a_record_expires_its_duration_after_it_was_first_seen() -> None:
    observation = Observation(record=LeaseRecord(holder="a", lease_duration=15), at=100.0)
    assert not observation.expired(100.0)
    assert not observation.expired(114.999)
    assert observation.expired(115.0)


def test_expiry_ignores_the_renew_time_written_by_another_clock() -> None:
    # Written by a node whose clock is an hour behind ours: still valid, by our observation.
    stale = T0 - datetime.timedelta(hours=1)
    observation = Observation(record=LeaseRecord(holder="a", lease_duration=15, renew_time=stale), at=100.0)
    assert not observation.expired(101.0)


@pytest.mark.parametrize(
    ("holder", "now", "allowed"),
    [
        pytest.param("me", 101.0, True, id="held-by-me"),
        pytest.param("", 101.0, True, id="released"),
        pytest.param("other", 101.0, False, id="held-by-other"),
        pytest.param("other", 115.0, True, id="held-by-other-expired"),
    ],
)
def test_who_may_claim(holder: str, now: float, allowed: bool) -> None:
    observation = Observation(record=LeaseRecord(holder=holder, lease_duration=15), at=100.0)
    assert leader_record.may_claim(observation, "me", now) is allowed


def test_a_new_lease_starts_with_no_transitions() -> None:
    record = leader_record.claim(None, identity="me", lease_duration=15, now=T0)
    assert record == LeaseRecord(
        holder="me", lease_duration=15, acquire_time=T0, renew_time=T0, transitions=0
    )


def test_renewing_keeps_the_acquire_time_and_the_transitions() -> None:
    mine = LeaseRecord(holder="me", lease_duration=15, acquire_time=T0, renew_time=T0, transitions=2)
    later = T0 + datetime.timedelta(seconds=2)
    renewed = leader_record.claim(mine, identity="me", lease_duration=15, now=later)
    assert renewed == LeaseRecord(
        holder="me", lease_duration=15, acquire_time=T0, renew_time=later, transitions=2
    )


@pytest.mark.parametrize("previous", ["other", ""])
def test_taking_over_counts_a_transition(previous: str) -> None:
    theirs = LeaseRecord(holder=previous, lease_duration=15, acquire_time=T0, renew_time=T0, transitions=2)
    later = T0 + datetime.timedelta(seconds=20)
    taken = leader_record.claim(theirs, identity="me", lease_duration=15, now=later)
    assert taken == LeaseRecord(
        holder="me", lease_duration=15, acquire_time=later, renew_time=later, transitions=3
    )


def test_a_released_lease_has_no_holder_and_one_second() -> None:
    mine = LeaseRecord(holder="me", lease_duration=15, acquire_time=T0, renew_time=T0, transitions=4)
    later = T0 + datetime.timedelta(seconds=5)
    assert leader_record.released(mine, later) == LeaseRecord(
        holder="", lease_duration=1, acquire_time=later, renew_time=later, transitions=4
    )


@pytest.mark.parametrize(
    ("duration", "seconds"), [(15.0, 15), (2.5, 3), (0.2, 1)], ids=["whole", "rounded-up", "at-least-one"]
)
def test_lease_durations_are_whole_seconds_rounded_up(duration: float, seconds: int) -> None:
    assert leader_record.whole_seconds(duration) == seconds


def test_default_timings_are_controller_runtimes() -> None:
    assert Timings() == Timings(lease_duration=15.0, renew_deadline=10.0, retry_period=2.0)


@pytest.mark.parametrize(
    ("duration", "deadline", "retry"),
    [
        pytest.param(10.0, 10.0, 2.0, id="deadline-not-below-duration"),
        pytest.param(15.0, 2.0, 2.0, id="retry-not-below-deadline"),
        pytest.param(15.0, 10.0, 0.0, id="no-retry-period"),
    ],
)
def test_unsafe_timings_are_refused(duration: float, deadline: float, retry: float) -> None:
    with pytest.raises(ValueError, match="renew deadline < lease duration"):
        Timings(lease_duration=duration, renew_deadline=deadline, retry_period=retry)


async def test_the_pod_namespace_is_read_from_the_service_account(tmp_path: Path) -> None:
    path = tmp_path / "namespace"
    assert await pod_namespace(path) is None
    path.write_text("metalstream-system\n")
    assert await pod_namespace(path) == "metalstream-system"
    path.write_text("")
    assert await pod_namespace(path) is None


def test_identities_name_the_host_and_differ_per_elector() -> None:
    first, second = default_identity(), default_identity()
    assert first.startswith(socket.gethostname() + "_")
    assert first != second
