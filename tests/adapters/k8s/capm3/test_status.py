from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.k8s.capm3.clusters import cluster_status, endpoint_problem
from adapters.k8s.capm3.status import Condition, machine_status, merge_conditions
from core.aggregates.machine_state import MachineState
from core.events.host_values import SecretRef
from core.events.machine_values import HostRef, MachineAddress, MachineSpec, ObjectRef

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)


def test_an_unchanged_condition_keeps_its_transition_time() -> None:
    first = merge_conditions([], [Condition("Ready", "False", "WaitingForHost")], T0)
    same = merge_conditions(first, [Condition("Ready", "False", "Provisioning")], T1)
    flipped = merge_conditions(same, [Condition("Ready", "True", "Ready")], T1)
    assert same[0]["lastTransitionTime"] == "2026-11-24T09:00:00Z"
    assert same[0]["reason"] == "Provisioning"
    assert flipped[0]["lastTransitionTime"] == "2026-11-24T09:05:00Z"


def test_a_waiting_machine_says_what_it_waits_for() -> None:
    state = MachineState(
        exists=True, namespace="ns", name="m", spec=MachineSpec(data_template=ObjectRef(name="t"))
    )
    status = machine_status(state, {}, T0, waiting="no available host")
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["AssociateBareMetalHost"]["message"] == "no available host"
    assert conditions["Metal3DataReady"]["status"] == "False"
    assert conditions["Ready"]["status"] == "False"
    assert status["initialization"] == {"provisioned": False}
    assert status["ready"] is False
    assert "renderedData" not in status


def test_a_provisioned_machine_reports_ready_addresses_and_data() -> None:
    state = MachineState(
        exists=True,
        namespace="ns",
        name="m",
        spec=MachineSpec(data_template=ObjectRef(name="t")),
        host=HostRef(namespace="ns", name="h"),
        user_data=SecretRef(name="ud", namespace="ns"),
        data_name="t-0",
        meta_data=SecretRef(name="m-metadata", namespace="ns"),
        network_data=SecretRef(name="m-networkdata", namespace="ns"),
        addresses=(MachineAddress(type="InternalIP", address="10.0.0.1"),),
        provider_id="metal3://ns/h/m",
        provisioned=True,
    )
    status = machine_status(state, {}, T0)
    assert status["ready"] is True
    assert status["initialization"] == {"provisioned": True}
    assert status["addresses"] == [{"type": "InternalIP", "address": "10.0.0.1"}]
    assert status["renderedData"] == {"name": "t-0", "namespace": "ns"}
    assert status["metaData"] == {"name": "m-metadata", "namespace": "ns"}
    assert status["userData"] == {"name": "ud", "namespace": "ns"}
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions.pop("Paused") == "False"
    assert set(conditions.values()) == {"True"}


def test_a_paused_machine_says_so_and_a_waiting_one_says_why() -> None:
    status = machine_status(
        MachineState(), {}, T0, waiting="no bootstrap data", reason="WaitingForBootstrapData", paused=True
    )
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Paused"]["status"], conditions["Paused"]["reason"]) == ("True", "Paused")
    associate = conditions["AssociateBareMetalHost"]
    assert (associate["reason"], associate["message"]) == ("WaitingForBootstrapData", "no bootstrap data")


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ({"host": "10.0.0.1", "port": 6443}, None),
        ({"port": 6443}, "spec.controlPlaneEndpoint.host"),
        ({"host": "api", "port": 0}, "spec.controlPlaneEndpoint.port"),
        ({"host": "api"}, "spec.controlPlaneEndpoint.port"),
    ],
)
def test_a_cluster_is_provisioned_only_with_a_valid_endpoint(
    endpoint: dict[str, object], problem: str | None
) -> None:
    spec = {"controlPlaneEndpoint": endpoint}
    found = endpoint_problem(spec)
    status = cluster_status(spec, {}, T0)
    if problem is None:
        assert found is None
        assert status["initialization"] == {"provisioned": True}
        assert "failureMessage" not in status
    else:
        assert found is not None
        assert problem in found
        assert status["initialization"] == {"provisioned": False}
        assert status["failureMessage"] == found
