from __future__ import annotations

import msgspec
import pytest

from adapters.bmc import errors, inventory, observing
from adapters.bmc.ports import AccessInfo, BootDevice, BootMode, BootSettings, PowerAction


class ScriptedBmc:
    """A BMC client that answers from a script: a value, or an error to raise."""

    def __init__(
        self, *, power: bool | errors.BmcError = False, access: AccessInfo | errors.BmcError
    ) -> None:
        self._power = power
        self._access = access

    async def validate_access(self) -> AccessInfo:
        if isinstance(self._access, errors.BmcError):
            raise self._access
        return self._access

    async def get_power(self) -> bool:
        if isinstance(self._power, errors.BmcError):
            raise self._power
        return self._power

    async def set_power(self, action: PowerAction) -> None:
        self._power = action in (PowerAction.ON, PowerAction.REBOOT, PowerAction.SOFT_REBOOT)

    async def get_boot(self) -> BootSettings:
        return BootSettings(device=None, persistent=None, mode=None)

    async def set_boot_device(
        self, device: BootDevice, *, persistent: bool = False, mode: BootMode | None = None
    ) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def inspect(self) -> inventory.HardwareDetails:
        return inventory.HardwareDetails(hostname="h")


ACCESS = AccessInfo(system_id="/redfish/v1/Systems/1", powered_on=True, manufacturer="Contoso")


async def test_success_becomes_access_validated_and_power_observed() -> None:
    client = ScriptedBmc(power=True, access=ACCESS)

    assert await observing.validate_access("ns/h", client) == observing.AccessValidated(
        host_id="ns/h", system_id="/redfish/v1/Systems/1", powered_on=True, manufacturer="Contoso"
    )
    assert await observing.observe_power("ns/h", client) == observing.PowerObserved(
        host_id="ns/h", powered_on=True
    )
    inspected = await observing.inspect_hardware("ns/h", client)
    assert inspected == observing.HardwareInspected(
        host_id="ns/h", details=inventory.HardwareDetails(hostname="h")
    )


@pytest.mark.parametrize(
    ("error", "kind", "reason"),
    [
        pytest.param(
            errors.BmcUnreachable("no route", address="a"), "transient", "unreachable", id="unreachable"
        ),
        pytest.param(errors.BmcTimeout("slow", address="a"), "transient", "timeout", id="timeout"),
        pytest.param(errors.BmcBusy("busy", address="a"), "transient", "busy", id="busy"),
        pytest.param(errors.BmcServerError("500", address="a"), "transient", "server_error", id="5xx"),
        pytest.param(
            errors.BmcAuthenticationFailed("401", address="a"),
            "permanent",
            "authentication_failed",
            id="auth",
        ),
        pytest.param(
            errors.BmcTlsVerificationFailed("tls", address="a"),
            "permanent",
            "tls_verification_failed",
            id="tls",
        ),
        pytest.param(
            errors.BmcSystemNotFound("404", address="a"), "permanent", "system_not_found", id="system"
        ),
        pytest.param(
            errors.BmcUnsupportedOperation("no", address="a"),
            "permanent",
            "unsupported_operation",
            id="unsupported",
        ),
        pytest.param(
            errors.UnknownBmcTypeError("x://a", "x"), "permanent", "unknown_bmc_type", id="unknown-type"
        ),
    ],
)
async def test_errors_become_bmc_failed_with_their_kind(
    error: errors.BmcError, kind: errors.ErrorKind, reason: str
) -> None:
    failed = await observing.validate_access("ns/h", ScriptedBmc(access=error))

    assert failed == observing.BmcFailed(
        host_id="ns/h", operation="validate access", error_kind=kind, reason=reason, message=str(error)
    )


def test_observations_encode_with_camel_case_keys() -> None:
    failed = observing.BmcFailed(
        host_id="ns/h", operation="o", error_kind="transient", reason="timeout", message="m"
    )

    assert msgspec.json.decode(msgspec.json.encode(failed)) == {
        "hostId": "ns/h",
        "operation": "o",
        "errorKind": "transient",
        "reason": "timeout",
        "message": "m",
    }


def test_each_error_class_has_a_distinct_reason() -> None:
    classes: list[type[errors.BmcError]] = [
        errors.BmcUnreachable,
        errors.BmcTimeout,
        errors.BmcServerError,
        errors.BmcBusy,
        errors.BmcAuthenticationFailed,
        errors.BmcTlsVerificationFailed,
        errors.BmcSystemNotFound,
        errors.BmcUnsupportedOperation,
        errors.BmcRequestRejected,
        errors.UnknownBmcTypeError,
        errors.InvalidBmcAddressError,
        errors.CredentialsValidationError,
    ]
    assert len({c.reason for c in classes}) == len(classes)
    for c in classes:
        assert issubclass(c, errors.BmcTransientError) != issubclass(c, errors.BmcPermanentError)
