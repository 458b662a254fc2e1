"""Which host events become Kubernetes Events, with Metal3's reasons.

``kubectl describe bmh`` is where operators look first, and scripts grep for Metal3's reasons
(``ProvisioningComplete``, ``RegistrationError``...). Each recorded host event maps to at most one
Kubernetes Event; messages carry what happened and never a secret (host events hold none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from core.events import hosts as ev
from core.events.base import Event, UndecodableEvent, UnknownEvent
from core.events.host_values import ErrorType, ProvisioningState

PS = ProvisioningState

ERROR_REASONS: Final = {
    ErrorType.REGISTRATION: "RegistrationError",
    ErrorType.PROVISIONED_REGISTRATION: "ProvisionedRegistrationError",
    ErrorType.INSPECTION: "InspectionError",
    ErrorType.PREPARATION: "PreparationError",
    ErrorType.PROVISIONING: "ProvisioningError",
    ErrorType.POWER_MANAGEMENT: "PowerManagementError",
    ErrorType.DETACH: "DetachError",
    ErrorType.SERVICING: "ServicingError",
}

_ENTERED: Final = {
    PS.INSPECTING: ("InspectionStarted", "Hardware inspection started"),
    PS.PROVISIONING: ("ProvisioningStarted", "Image provisioning started"),
    PS.DEPROVISIONING: ("DeprovisioningStarted", "Image deprovisioning started"),
}


@dataclass(frozen=True, slots=True)
class Notice:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


def notice(event: Event | UnknownEvent | UndecodableEvent) -> Notice | None:
    """The Kubernetes Event for ``event``, or None when Metal3 would not show one."""
    match event:
        case ev.RegistrationSucceeded():
            return Notice("Normal", "Registered", "Registered new host")
        case ev.BmcAccessValidated():
            return Notice("Normal", "BMCAccessValidated", "Verified access to BMC")
        case ev.HardwareInspected(source="annotation"):
            return Notice("Normal", "UpdateHardwareDetails", "Set HardwareDetails from annotation")
        case ev.HardwareInspected():
            return Notice("Normal", "InspectionComplete", "Hardware inspection completed")
        case ev.ProvisioningCompleted(image=image):
            url = image.url if image is not None else "custom deploy"
            return Notice("Normal", "ProvisioningComplete", f"Image provisioning completed for {url}")
        case ev.DeprovisioningCompleted():
            return Notice("Normal", "DeprovisioningComplete", "Image deprovisioning completed")
        case ev.PowerObserved(powered_on=on):
            return Notice("Normal", "PowerOn" if on else "PowerOff", f"Host powered {'on' if on else 'off'}")
        case ev.ErrorRecorded(error_type=kind, message=message):
            return Notice("Warning", ERROR_REASONS[kind], message)
        case ev.ProvisioningStateChanged(state=state):
            entered = _ENTERED.get(state)
            return Notice("Normal", *entered) if entered else None
        case ev.Delayed():
            return Notice("Normal", "Delayed", "Waiting for capacity in Ironic (provisioning limit reached)")
        case ev.DetachCompleted():
            return Notice("Normal", "Detached", "Host detached from the provisioner")
        case _:
            return None
