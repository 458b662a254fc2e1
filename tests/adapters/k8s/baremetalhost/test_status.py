from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from adapters.k8s.baremetalhost import status as host_status
from adapters.k8s.baremetalhost.notices import notice
from core.aggregates.host_state import HostState
from core.events import hosts as ev
from core.events.host_values import (
    CredentialsRef,
    ErrorType,
    HardwareDetails,
    Image,
    ProvisioningState,
)

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PS = ProvisioningState


def _state(**changes: object) -> HostState:
    base = HostState(
        exists=True,
        namespace="metal",
        name="w0",
        uid="u",
        generation=3,
        provisioning_state=PS.PROVISIONED,
        provisioning_id="node-uuid",
        provisioned_image=Image(url="http://images/os.img", checksum="abc"),
        powered_on=True,
        good_credentials=CredentialsRef(name="w0-bmc", version="7"),
        credentials=CredentialsRef(name="w0-bmc", version="7"),
        hardware=HardwareDetails(ram_mebibytes=4096),
    )
    return (
        base
        if not changes
        else HostState(**{**{f: getattr(base, f) for f in base.__struct_fields__}, **changes})
    )


def test_status_has_metal3s_shape_and_names() -> None:
    status = host_status.render(_state(), {}, NOW)
    assert status["operationalStatus"] == "OK"
    assert status["provisioning"]["state"] == "provisioned"
    assert status["provisioning"]["ID"] == "node-uuid"
    assert status["provisioning"]["image"] == {"url": "http://images/os.img", "checksum": "abc"}
    assert status["poweredOn"] is True
    assert status["errorMessage"] == ""
    assert "errorType" not in status
    assert status["goodCredentials"] == {
        "credentials": {"name": "w0-bmc", "namespace": "metal"},
        "credentialsVersion": "7",
    }
    assert status["hardware"]["ramMebibytes"] == 4096
    kinds = {c["type"]: c for c in status["conditions"]}
    assert kinds["Provisioned"]["status"] == "True"
    assert kinds["Provisioned"]["observedGeneration"] == 3
    assert kinds["AvailableForProvisioning"]["status"] == "False"


def test_an_error_shows_in_status_and_conditions() -> None:
    failed = _state(
        error_type=ErrorType.REGISTRATION, error_message="Failed to get power state", error_count=2
    )
    status = host_status.render(failed, {}, NOW)
    assert status["operationalStatus"] == "error"
    assert status["errorType"] == "registration error"
    assert status["errorCount"] == 2
    kinds = {c["type"]: c for c in status["conditions"]}
    assert (kinds["Manageable"]["status"], kinds["Manageable"]["reason"]) == ("False", "RegistrationFailed")
    assert kinds["Ready"]["message"] == "Failed to get power state"


def test_transition_times_move_only_when_a_condition_changes() -> None:
    first = host_status.render(_state(), {}, NOW)
    later = NOW + timedelta(minutes=5)
    same = host_status.render(_state(), first, later)
    assert [c["lastTransitionTime"] for c in same["conditions"]] == [
        c["lastTransitionTime"] for c in first["conditions"]
    ]
    assert not host_status.differs(first, same)  # only lastUpdated moved
    changed = host_status.render(_state(provisioning_state=PS.DEPROVISIONING), first, later)
    assert host_status.differs(first, changed)
    times = {c["type"]: c["lastTransitionTime"] for c in changed["conditions"]}
    assert times["Provisioned"] == "2026-11-24T10:05:00Z"


def test_the_status_annotation_restores_a_moved_host() -> None:
    saved = host_status.render(_state(), {}, NOW)
    saved.pop("hardware")
    restored = host_status.restored(json.dumps(saved))
    assert restored.provisioning_state is PS.PROVISIONED
    assert restored.provisioning_id == "node-uuid"
    assert restored.image == Image(url="http://images/os.img", checksum="abc")
    assert restored.good_credentials == CredentialsRef(name="w0-bmc", version="7")
    with pytest.raises(ValueError, match=r"baremetalhost\.metal3\.io/status"):
        host_status.restored('{"provisioning": {"state": "levitating"}}')


def test_host_events_become_metal3_kubernetes_events() -> None:
    assert notice(ev.RegistrationSucceeded(provisioning_id="n")) is not None
    error = notice(
        ev.ErrorRecorded(
            error_type=ErrorType.INSPECTION, message="no disks", error_count=1, retry_not_before=NOW
        )
    )
    assert error is not None
    assert (error.type, error.reason) == ("Warning", "InspectionError")
    started = notice(
        ev.ProvisioningStateChanged(previous=PS.AVAILABLE, state=PS.PROVISIONING, reason="spec", at=NOW)
    )
    assert started is not None
    assert started.reason == "ProvisioningStarted"
    done = notice(ev.ProvisioningCompleted(image=Image(url="http://i/os.img")))
    assert done is not None
    assert done.reason == "ProvisioningComplete"
    assert "http://i/os.img" in done.message
    assert notice(ev.Paused()) is None
