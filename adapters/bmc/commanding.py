"""Turning BMC observations into host commands: the BMC adapter's way into the event log.

The adapter does not decide what an observation means for the host; it reports it as a command
and the host aggregate decides (a power state seen during deletion moves the host on; the same
state seen while idle is just recorded, and a repeated one records nothing). Transient failures
(an unreachable or busy BMC) become no command at all: the caller retries, and the host's status
is not polluted with an error that fixes itself. Permanent failures (wrong credentials, TLS,
missing system) are recorded as the host error type Metal3 would show for the operation.
"""

from __future__ import annotations

from datetime import datetime

from adapters.bmc import observing
from core.aggregates import host_commands as cmd
from core.events.host_values import ErrorType

_ERROR_TYPES: dict[str, ErrorType] = {
    "validate access": ErrorType.REGISTRATION,
    "inspect hardware": ErrorType.INSPECTION,
}
"""Operation -> host error type; every other operation is power or boot management."""


def commands_for(
    observation: observing.Observation,
    *,
    now: datetime,
    credentials_version: str | None = None,
    jitter: float = 0.0,
) -> list[cmd.HostCommand]:
    """The host commands that record ``observation`` (empty for a transient failure)."""
    match observation:
        case observing.AccessValidated():
            return [
                cmd.RecordBmcAccess(credentials_version=credentials_version, now=now),
                cmd.RecordPower(powered_on=observation.powered_on, now=now),
            ]
        case observing.PowerObserved():
            return [cmd.RecordPower(powered_on=observation.powered_on, now=now)]
        case observing.HardwareInspected():
            return [cmd.RecordInspection(hardware=observation.details, now=now)]
        case observing.BmcFailed():
            if observation.error_kind == "transient":
                return []
            error_type = _ERROR_TYPES.get(observation.operation, ErrorType.POWER_MANAGEMENT)
            message = observation.message
            return [cmd.RecordFailure(error_type=error_type, message=message, jitter=jitter, now=now)]
