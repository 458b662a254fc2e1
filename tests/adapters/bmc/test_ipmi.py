"""The IPMI client against the pyghmi-based simulator (one process, many BMCs)."""

from __future__ import annotations

import socket
import time

import pytest

from adapters.bmc import addresses, errors
from adapters.bmc.credentials import Credentials
from adapters.bmc.ipmi import IpmiClient
from adapters.bmc.ports import BootDevice, BootMode, BootSettings, PowerAction
from metalstream.devstack.ipmi_sim import IpmiSimulator
from tests.adapters.bmc.conftest import USER, free_port, ipmi_client, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_validate_access_logs_in_and_reads_power(ipmi_sim: IpmiSimulator) -> None:
    endpoint = ipmi_sim.endpoint("ipmi-0")
    async with ipmi_client(ipmi_sim, "ipmi-0") as client:
        info = await client.validate_access()

    assert info.system_id == f"ipmi://127.0.0.1:{endpoint.port}"
    assert info.powered_on is False


async def test_wrong_password_is_an_authentication_error(ipmi_sim: IpmiSimulator) -> None:
    async with ipmi_client(ipmi_sim, "ipmi-1", password="wrong-ipmi-pw") as client:
        with pytest.raises(errors.BmcAuthenticationFailed, match="Incorrect password") as caught:
            await client.validate_access()

    assert caught.value.kind == "permanent"


async def test_unknown_user_is_an_authentication_error(ipmi_sim: IpmiSimulator) -> None:
    async with ipmi_client(ipmi_sim, "ipmi-1", username="nobody") as client:
        with pytest.raises(errors.BmcAuthenticationFailed, match="Unauthorized name"):
            await client.validate_access()


async def test_unreachable_port_fails_in_bounded_time_as_transient() -> None:
    port = free_port(socket.SOCK_DGRAM)
    access = addresses.parse(f"ipmi://127.0.0.1:{port}")
    started = time.monotonic()
    async with IpmiClient.for_access(access, Credentials(USER, "whatever")) as client:
        with pytest.raises(errors.BmcUnreachable) as caught:
            await client.validate_access()

    took = time.monotonic() - started
    assert took < 12
    assert caught.value.kind == "transient"
    assert f"127.0.0.1:{port}" in str(caught.value)


async def test_power_on_and_off_are_observed(ipmi_sim: IpmiSimulator) -> None:
    async with ipmi_client(ipmi_sim, "ipmi-2") as client:
        assert await client.get_power() is False

        await client.set_power(PowerAction.ON)
        assert await client.get_power() is True

        await client.set_power(PowerAction.OFF)
        assert await client.get_power() is False


async def test_delayed_power_changes_are_observed_with_a_deadline(ipmi_sim: IpmiSimulator) -> None:
    async with ipmi_client(ipmi_sim, "slow") as client:
        assert await client.get_power() is False
        requested = time.monotonic()
        await client.set_power(PowerAction.ON)

        await wait_until(client.get_power, deadline=5, interval=0.05)
        assert 0.95 <= time.monotonic() - requested < 4  # the simulator holds the change for 1 s

        await client.set_power(PowerAction.SOFT_OFF)
        await wait_until(lambda: _is_off(client), deadline=5, interval=0.1)


async def test_reboot_and_soft_reboot(ipmi_sim: IpmiSimulator) -> None:
    async with ipmi_client(ipmi_sim, "ipmi-3") as client:
        await client.set_power(PowerAction.REBOOT)  # off -> on
        assert await client.get_power() is True

        await client.set_power(PowerAction.REBOOT)  # hard reset keeps it on
        assert await client.get_power() is True

        await client.set_power(PowerAction.SOFT_REBOOT)  # soft off, wait for off, on
        assert await client.get_power() is True


@pytest.mark.parametrize(
    ("device", "persistent", "mode"),
    [
        pytest.param(BootDevice.PXE, False, BootMode.UEFI, id="pxe-once-uefi"),
        pytest.param(BootDevice.DISK, True, BootMode.LEGACY, id="disk-persistent-legacy"),
        pytest.param(BootDevice.CDROM, True, BootMode.UEFI, id="cd-persistent-uefi"),
        pytest.param(BootDevice.BIOS, False, BootMode.LEGACY, id="setup-once"),
    ],
)
async def test_boot_device_and_persistence_are_kept(
    ipmi_sim: IpmiSimulator, device: BootDevice, *, persistent: bool, mode: BootMode
) -> None:
    async with ipmi_client(ipmi_sim, "ipmi-4") as client:
        await client.set_boot_device(device, persistent=persistent, mode=mode)

        assert await client.get_boot() == BootSettings(device=device, persistent=persistent, mode=mode)


async def test_operator_privilege_from_the_address_is_used(ipmi_sim: IpmiSimulator) -> None:
    async with ipmi_client(ipmi_sim, "ipmi-5", query="?privilegelevel=OPERATOR") as client:
        await client.set_power(PowerAction.ON)
        assert await client.get_power() is True


async def test_a_session_is_reused_and_reopened_after_close(ipmi_sim: IpmiSimulator) -> None:
    client = ipmi_client(ipmi_sim, "ipmi-6")
    for _ in range(3):
        assert await client.get_power() is False
    await client.aclose()
    assert await client.get_power() is False
    await client.aclose()
    await client.aclose()


async def test_a_redfish_address_is_refused_by_the_ipmi_client() -> None:
    with pytest.raises(errors.BmcUnsupportedOperation, match="not reached over IPMI"):
        IpmiClient.for_access(
            addresses.parse("redfish://10.0.0.1/redfish/v1/Systems/1"), Credentials(USER, "x")
        )


async def _is_off(client: IpmiClient) -> bool:
    return not await client.get_power()
