"""Metal3's BareMetalHost conditions, computed from the host's state.

``kubectl wait --for=condition=Provisioned`` and dashboards read these. The types and reasons are
Metal3's (``Manageable``, ``Provisioned``, ``Ready``, ``AvailableForProvisioning``,
``Progressing``, ``Healthy``). ``lastTransitionTime`` only moves when a condition's status
changes, so it is carried over from the object's current conditions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, TypeAlias

from core.aggregates.host_state import HostState
from core.events.host_values import ErrorType, ProvisioningState

PS = ProvisioningState
Status: TypeAlias = Literal["True", "False", "Unknown"]

_PROGRESS_REASONS: Final = {
    PS.REGISTERING: "Registering",
    PS.INSPECTING: "Inspecting",
    PS.PREPARING: "Preparing",
    PS.PROVISIONING: "Provisioning",
    PS.DEPROVISIONING: "Deprovisioning",
    PS.POWERING_OFF_BEFORE_DELETE: "PoweringOffBeforeDelete",
    PS.DELETING: "Deleting",
}


def _condition(kind: str, status: Status, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def _manageable(state: HostState) -> dict[str, Any]:
    if state.provisioning_state in (PS.NONE, PS.UNMANAGED):
        return _condition("Manageable", "False", "NotManaged", "the host has no usable BMC details")
    if state.error_type in (ErrorType.REGISTRATION, ErrorType.PROVISIONED_REGISTRATION):
        return _condition("Manageable", "False", "RegistrationFailed", state.error_message)
    if state.error_type is ErrorType.POWER_MANAGEMENT:
        return _condition("Manageable", "False", "PowerFailure", state.error_message)
    if state.provisioning_state is PS.REGISTERING:
        return _condition("Manageable", "False", "Registering")
    return _condition("Manageable", "True", "Manageable")


def _provisioned(state: HostState) -> dict[str, Any]:
    if state.provisioning_state in (PS.PROVISIONED, PS.EXTERNALLY_PROVISIONED):
        return _condition("Provisioned", "True", "Provisioned")
    if state.provisioning_state is PS.PROVISIONING:
        return _condition("Provisioned", "False", "Provisioning")
    return _condition("Provisioned", "False", "NotProvisioned")


def _ready(state: HostState) -> dict[str, Any]:
    if state.error_type is not None:
        return _condition("Ready", "False", "Error", state.error_message)
    if state.detach is not None and state.detach.completed:
        return _condition("Ready", "False", "Detached")
    return _condition("Ready", "True", "Ready")


def _available(state: HostState) -> dict[str, Any]:
    if state.provisioning_state is PS.INSPECTING:
        return _condition("AvailableForProvisioning", "False", "Inspecting")
    usable = state.provisioning_state in (PS.AVAILABLE, PS.READY) and state.error_type is None
    if usable and state.consumer is None and not state.paused and state.detach is None:
        return _condition("AvailableForProvisioning", "True", "Available")
    return _condition("AvailableForProvisioning", "False", "NotAvailable")


def _progressing(state: HostState) -> dict[str, Any]:
    reason = _PROGRESS_REASONS.get(state.provisioning_state)
    if reason is None or state.error_type is not None or state.paused:
        return _condition("Progressing", "False", "NotProgressing")
    return _condition("Progressing", "True", reason)


def conditions(
    state: HostState, previous: Sequence[Mapping[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """The conditions for ``state``; transition times kept from ``previous`` when unchanged."""
    before = {str(c.get("type")): c for c in previous}
    computed = [
        _manageable(state),
        _provisioned(state),
        _ready(state),
        _available(state),
        _progressing(state),
        # Ironic's node health (API >= 1.109) is not read yet, so Metal3's "Unknown" applies.
        _condition("Healthy", "Unknown", "Unknown"),
    ]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for condition in computed:
        condition["observedGeneration"] = state.generation
        old = before.get(condition["type"])
        same = old is not None and old.get("status") == condition["status"]
        condition["lastTransitionTime"] = str(old.get("lastTransitionTime")) if old and same else stamp
    return computed
