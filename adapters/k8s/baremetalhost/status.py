"""The host's state as Metal3's ``BareMetalHost.status``, and back from the status annotation.

The status is a projection: everything in it is derived from the host's events, so it can be
rewritten at any time (after a restart, after someone edited it by hand) and always says the
same thing. Field names and shapes are Metal3's (``provisioning.ID`` with a capital, required
``errorMessage`` and ``poweredOn``), so tools written for Metal3 read it unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import msgspec

from adapters.k8s.baremetalhost.conditions import conditions
from core.aggregates.host_state import HostState
from core.events.host_values import (
    CredentialsRef,
    CustomDeploy,
    HardwareDetails,
    Image,
    OperationHistory,
    ProvisioningState,
)
from core.events.hosts import StatusRestored

VOLATILE: Final = frozenset({"lastUpdated"})
"""Fields that change on every write; a status differing only in these is not written."""


def _plain(value: msgspec.Struct | None) -> Any:
    return None if value is None else msgspec.to_builtins(value)


def _credentials(ref: CredentialsRef | None, namespace: str) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {"credentials": {"name": ref.name, "namespace": namespace}, "credentialsVersion": ref.version}


def render(
    state: HostState, previous: Mapping[str, Any], now: datetime, *, include_hardware: bool = True
) -> dict[str, Any]:
    """``status`` for ``state``; ``previous`` is the object's current status (for transition times)."""
    provisioning: dict[str, Any] = {
        "state": str(state.provisioning_state),
        "ID": state.provisioning_id or "",
        "bootMode": state.provisioned_boot_mode or state.spec.boot_mode,
    }
    optional = {
        "image": _plain(state.provisioned_image),
        "customDeploy": _plain(state.provisioned_custom_deploy),
        "rootDeviceHints": _plain(state.provisioned_root_device_hints or state.prepared_root_device_hints),
        "raid": _plain(state.prepared_raid),
    }
    provisioning.update({k: v for k, v in optional.items() if v is not None})
    if "image" not in provisioning:
        provisioning["image"] = {"url": ""}  # Metal3's Image is not a pointer: always present

    status: dict[str, Any] = {
        "operationalStatus": str(state.operational_status),
        "lastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "provisioning": provisioning,
        "errorMessage": state.error_message,
        "poweredOn": state.powered_on,
        "errorCount": state.error_count,
        "operationHistory": msgspec.to_builtins(state.operation_history),
        "conditions": conditions(state, previous.get("conditions") or (), now),
    }
    if state.error_type is not None:
        status["errorType"] = str(state.error_type)
    if state.provisioning_fail_count:
        status["provisioningFailCount"] = state.provisioning_fail_count
    if state.last_attempted_image is not None:
        status["lastAttemptedImage"] = _plain(state.last_attempted_image)
    good = _credentials(state.good_credentials, state.namespace)
    tried = _credentials(state.credentials, state.namespace)
    if good is not None:
        status["goodCredentials"] = good
    if tried is not None:
        status["triedCredentials"] = tried
    if include_hardware and state.hardware is not None:
        status["hardware"] = msgspec.to_builtins(state.hardware)
    if state.spec.hardware_profile:
        status["hardwareProfile"] = state.spec.hardware_profile
    return status


def differs(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """True when writing ``desired`` over ``current`` changes more than the volatile fields."""

    def stable(status: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in status.items() if k not in VOLATILE}

    return stable(current) != stable(desired)


class _AnnotatedStatus(msgspec.Struct, kw_only=True, rename="camel"):
    """The parts of a saved Metal3 status that a moved host needs back."""

    provisioning: dict[str, Any] = msgspec.field(default_factory=dict)
    hardware: HardwareDetails | None = None
    powered_on: bool = False
    good_credentials: dict[str, Any] | None = None
    operation_history: OperationHistory = OperationHistory()


def restored(value: str) -> StatusRestored:
    """The ``baremetalhost.metal3.io/status`` annotation (a saved Metal3 status) as an event.

    Raises ``ValueError`` naming the annotation when it is not a Metal3 status.
    """
    try:
        saved = msgspec.json.decode(value.encode(), type=_AnnotatedStatus, strict=False)
        provisioning = saved.provisioning
        state = ProvisioningState(str(provisioning.get("state", "")))
        image = provisioning.get("image")
        custom = provisioning.get("customDeploy")
        creds = saved.good_credentials or {}
        good = None
        if creds.get("credentials", {}).get("name"):
            good = CredentialsRef(
                name=creds["credentials"]["name"], version=str(creds.get("credentialsVersion", ""))
            )
        return StatusRestored(
            provisioning_state=state,
            provisioning_id=str(provisioning.get("ID") or "") or None,
            image=msgspec.convert(image, Image) if isinstance(image, dict) and image.get("url") else None,
            custom_deploy=msgspec.convert(custom, CustomDeploy) if isinstance(custom, dict) else None,
            hardware=saved.hardware,
            powered_on=saved.powered_on,
            good_credentials=good,
            operation_history=saved.operation_history,
        )
    except (msgspec.DecodeError, msgspec.ValidationError, ValueError, AttributeError, KeyError) as error:
        msg = f"annotation baremetalhost.metal3.io/status is not a Metal3 status: {error}"
        raise ValueError(msg) from None
