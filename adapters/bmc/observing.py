"""What the BMC adapter saw, as plain values ready to become host commands.

The adapter never writes events itself: the host aggregate decides what a fact means (a power
state observed while provisioning is not the same news as one observed while idle). These
observation values carry only what the aggregate needs and nothing secret: addresses without
userinfo, error messages already redacted by the clients, no credentials of any kind. The
functions here run one client call and turn its outcome, success or ``BmcError``, into an
observation, so the caller's loop has no ``try`` of its own.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from adapters.bmc import errors
from adapters.bmc.inventory import HardwareDetails
from adapters.bmc.ports import AccessInfo, BmcClient, InventoryClient


class AccessValidated(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The BMC accepted the credentials and the system exists."""

    host_id: str
    system_id: str
    powered_on: bool
    manufacturer: str = ""
    model: str = ""


class PowerObserved(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    host_id: str
    powered_on: bool


class HardwareInspected(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Out-of-band inspection finished."""

    host_id: str
    details: HardwareDetails


class BmcFailed(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A BMC operation failed; ``error_kind`` tells the caller whether to retry."""

    host_id: str
    operation: str
    error_kind: errors.ErrorKind
    reason: str
    """The error's stable code, e.g. ``authentication_failed``, ``unreachable``."""
    message: str


Observation: TypeAlias = AccessValidated | PowerObserved | HardwareInspected | BmcFailed


def failed(host_id: str, operation: str, error: errors.BmcError) -> BmcFailed:
    """The observation for a failed BMC call."""
    return BmcFailed(
        host_id=host_id,
        operation=error.operation or operation,
        error_kind=error.kind,
        reason=error.reason,
        message=str(error),
    )


def access_validated(host_id: str, info: AccessInfo) -> AccessValidated:
    return AccessValidated(
        host_id=host_id,
        system_id=info.system_id,
        powered_on=info.powered_on,
        manufacturer=info.manufacturer,
        model=info.model,
    )


async def validate_access(host_id: str, client: BmcClient) -> AccessValidated | BmcFailed:
    try:
        return access_validated(host_id, await client.validate_access())
    except errors.BmcError as e:
        return failed(host_id, "validate access", e)


async def observe_power(host_id: str, client: BmcClient) -> PowerObserved | BmcFailed:
    try:
        return PowerObserved(host_id=host_id, powered_on=await client.get_power())
    except errors.BmcError as e:
        return failed(host_id, "get power state", e)


async def inspect_hardware(host_id: str, client: InventoryClient) -> HardwareInspected | BmcFailed:
    try:
        return HardwareInspected(host_id=host_id, details=await client.inspect())
    except errors.BmcError as e:
        return failed(host_id, "inspect hardware", e)
