"""Credential values never reach log records, error messages, reprs or observations."""

from __future__ import annotations

import logging
import traceback

import msgspec
import pytest

from adapters.bmc import errors, observing
from adapters.bmc.ipmi import IpmiClient
from adapters.bmc.ports import BmcClient, PowerAction
from adapters.bmc.redfish import RedfishClient
from metalstream.devstack.ipmi_sim import IpmiSimulator
from metalstream.devstack.sushy import SushyEmulator
from tests.adapters.bmc.conftest import PASSWORD, USER, ipmi_client, ipmi_password, redfish_client

pytestmark = pytest.mark.asyncio(loop_scope="module")

WRONG_PASSWORD = "Wrong-pw-58c2e1"
WRONG_USER = "operator-4d1b"


def _shown(error: BaseException) -> str:
    """Everything a log line with ``exc_info`` would print, causes included."""
    return "".join(traceback.format_exception(error)) + repr(error)


async def _exercise(host_id: str, client: BmcClient, seen: list[str]) -> None:
    seen.append(repr(client))
    seen.append(msgspec.json.encode(await observing.validate_access(host_id, client)).decode())
    await client.set_power(PowerAction.ON)
    seen.append(msgspec.json.encode(await observing.observe_power(host_id, client)).decode())
    if isinstance(client, RedfishClient):
        seen.append(msgspec.json.encode(await observing.inspect_hardware(host_id, client)).decode())
    await client.aclose()


async def _failing(host_id: str, client: BmcClient, seen: list[str]) -> errors.BmcError:
    with pytest.raises(errors.BmcError) as caught:
        await client.validate_access()
    seen.append(_shown(caught.value))
    seen.append(msgspec.json.encode(observing.failed(host_id, "validate access", caught.value)).decode())
    await client.aclose()
    return caught.value


async def test_no_credential_value_is_logged_or_shown(
    sushy: SushyEmulator, ipmi_sim: IpmiSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    await _exercise("metal3/r0", redfish_client(sushy, sushy.systems[0]), seen)
    await _exercise("metal3/i0", ipmi_client(ipmi_sim, "ipmi-0"), seen)
    failures = [
        await _failing("metal3/r1", redfish_client(sushy, sushy.systems[1], password=WRONG_PASSWORD), seen),
        await _failing("metal3/r2", redfish_client(sushy, sushy.systems[2], username=WRONG_USER), seen),
        await _failing("metal3/i1", ipmi_client(ipmi_sim, "ipmi-1", password=WRONG_PASSWORD), seen),
        await _failing("metal3/i2", ipmi_client(ipmi_sim, "ipmi-2", username=WRONG_USER), seen),
    ]

    assert [type(f) for f in failures] == [errors.BmcAuthenticationFailed] * 4
    assert any(r.name.startswith("sushy") for r in caplog.records), (
        "sushy logged nothing: the check is vacuous"
    )
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records) + "\n".join(seen)
    for secret in (
        PASSWORD,
        WRONG_PASSWORD,
        ipmi_password(0),
        ipmi_password(1),
        ipmi_password(2),
        WRONG_USER,
        USER,
    ):
        assert secret not in text, f"{secret!r} leaked"


async def test_clients_never_show_credentials_in_repr(sushy: SushyEmulator, ipmi_sim: IpmiSimulator) -> None:
    clients: list[RedfishClient | IpmiClient] = [
        redfish_client(sushy, sushy.systems[0]),
        ipmi_client(ipmi_sim, "ipmi-0"),
    ]
    for client in clients:
        assert PASSWORD not in repr(client)
        assert ipmi_password(0) not in repr(client)
        assert USER not in repr(client)
        await client.aclose()
