"""The leader-election settings: off by default, read from the environment, unsafe values refused."""

from __future__ import annotations

import pytest

from adapters.k8s.leader import Timings
from metalstream import settings


def test_leader_election_is_off_by_default_with_controller_runtime_timings() -> None:
    kube = settings.load({}).kube
    assert kube.leader_election is False
    assert kube.leader_election_namespace is None
    assert kube.leader_election_id == "metalstream-leader"
    timings = (
        kube.leader_election_lease_duration,
        kube.leader_election_renew_deadline,
        kube.leader_election_retry_period,
    )
    default = Timings()
    assert timings == (default.lease_duration, default.renew_deadline, default.retry_period)


def test_leader_election_is_read_from_the_environment() -> None:
    kube = settings.load(
        {
            "METALSTREAM_KUBE_LEADER_ELECTION": "true",
            "METALSTREAM_KUBE_LEADER_ELECTION_NAMESPACE": "metal3",
            "METALSTREAM_KUBE_LEADER_ELECTION_ID": "metalstream.example.com",
            "METALSTREAM_KUBE_LEADER_ELECTION_LEASE_DURATION": "30",
            "METALSTREAM_KUBE_LEADER_ELECTION_RENEW_DEADLINE": "20",
            "METALSTREAM_KUBE_LEADER_ELECTION_RETRY_PERIOD": "4",
        }
    ).kube
    assert kube.leader_election is True
    assert kube.leader_election_namespace == "metal3"
    assert kube.leader_election_id == "metalstream.example.com"
    assert (
        kube.leader_election_lease_duration,
        kube.leader_election_renew_deadline,
        kube.leader_election_retry_period,
    ) == (30.0, 20.0, 4.0)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"METALSTREAM_KUBE_LEADER_ELECTION_RENEW_DEADLINE": "15"},
            "renew deadline < lease duration",
            id="deadline-not-below-duration",
        ),
        pytest.param(
            {"METALSTREAM_KUBE_LEADER_ELECTION_RETRY_PERIOD": "9"},
            "1.2 x retry period < renew deadline",
            id="retry-too-long",
        ),
        pytest.param(
            {"METALSTREAM_KUBE_LEADER_ELECTION_RETRY_PERIOD": "0"},
            "unsafe",
            id="no-retry-period",
        ),
        pytest.param(
            {"METALSTREAM_KUBE_LEADER_ELECTION_ID": "Metalstream_Leader"},
            "not a valid Lease name",
            id="id-not-a-name",
        ),
        pytest.param(
            {"METALSTREAM_KUBE_LEADER_ELECTION_NAMESPACE": "metal3.io"},
            "not a namespace name",
            id="namespace-not-a-label",
        ),
    ],
)
def test_unusable_values_are_refused_with_the_rule(environ: dict[str, str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.load(environ)


def test_every_leader_election_setting_is_documented() -> None:
    text = settings.reference()
    for field in settings.KubeSettings.__struct_fields__:
        if field.startswith("leader_election"):
            row = next(line for line in text.splitlines() if f"`METALSTREAM_KUBE_{field.upper()}`" in line)
            assert row.endswith(" |"), f"{field}: its docstring must be one line to fit the table"
