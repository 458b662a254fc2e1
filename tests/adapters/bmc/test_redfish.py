"""The Redfish client against a real sushy-tools emulator (fake driver, basic auth)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from adapters.bmc import addresses, errors
from adapters.bmc.credentials import Credentials
from adapters.bmc.ports import BootDevice, BootMode, BootSettings, PowerAction
from adapters.bmc.redfish import RedfishClient, RedfishTimeouts
from metalstream.devstack.sushy import SushyEmulator
from tests.adapters.bmc.conftest import PASSWORD, USER, fake_system, free_port, redfish_client, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_validate_access_reads_the_system(sushy: SushyEmulator) -> None:
    system = sushy.systems[1]
    async with redfish_client(sushy, system) as client:
        info = await client.validate_access()

    assert info.system_id == system.path
    assert info.powered_on is True
    assert info.manufacturer == "Sushy Emulator"


async def test_wrong_password_is_an_authentication_error(sushy: SushyEmulator) -> None:
    async with redfish_client(sushy, sushy.systems[0], password="wrong-pw-1") as client:
        with pytest.raises(errors.BmcAuthenticationFailed) as caught:
            await client.validate_access()

    assert caught.value.kind == "permanent"
    assert "401" in str(caught.value)


async def test_wrong_username_is_an_authentication_error(sushy: SushyEmulator) -> None:
    async with redfish_client(sushy, sushy.systems[0], username="nobody") as client:
        with pytest.raises(errors.BmcAuthenticationFailed):
            await client.validate_access()


async def test_unreachable_port_is_a_transient_unreachable_error() -> None:
    port = free_port(socket.SOCK_STREAM)
    access = addresses.parse(f"redfish+http://127.0.0.1:{port}{fake_system(0).path}")
    started = time.monotonic()
    async with RedfishClient.for_access(access, Credentials(USER, PASSWORD)) as client:
        with pytest.raises(errors.BmcUnreachable) as caught:
            await client.validate_access()

    assert caught.value.kind == "transient"
    assert time.monotonic() - started < 5
    assert f"127.0.0.1:{port}" in str(caught.value)


async def test_wrong_system_id_is_system_not_found(sushy: SushyEmulator) -> None:
    access = addresses.parse(f"redfish+http://{sushy.host}/redfish/v1/Systems/no-such-system")
    async with RedfishClient.for_access(access, Credentials(USER, PASSWORD)) as client:
        with pytest.raises(errors.BmcSystemNotFound) as caught:
            await client.validate_access()

    assert "no-such-system" in str(caught.value)
    assert caught.value.kind == "permanent"


async def test_an_address_without_system_path_needs_a_single_system(sushy: SushyEmulator) -> None:
    access = addresses.parse(f"redfish+http://{sushy.host}/redfish/v1/")
    async with RedfishClient.for_access(access, Credentials(USER, PASSWORD)) as client:
        with pytest.raises(errors.BmcSystemNotFound, match="has 16 systems"):
            await client.validate_access()


async def test_the_four_access_failures_are_distinct_errors(sushy: SushyEmulator) -> None:
    system = sushy.systems[0]
    cases = {
        "wrong password": redfish_client(sushy, system, password="nope"),
        "unreachable": RedfishClient(
            base_url=f"http://127.0.0.1:{free_port(socket.SOCK_STREAM)}",
            credentials=Credentials(USER, PASSWORD),
        ),
        "wrong system": RedfishClient(
            base_url=sushy.base_url,
            credentials=Credentials(USER, PASSWORD),
            system_id="/redfish/v1/Systems/x",
        ),
    }
    kinds: dict[str, type[errors.BmcError]] = {}
    for name, client in cases.items():
        async with client:
            with pytest.raises(errors.BmcError) as caught:
                await client.validate_access()
        kinds[name] = type(caught.value)

    assert kinds == {
        "wrong password": errors.BmcAuthenticationFailed,
        "unreachable": errors.BmcUnreachable,
        "wrong system": errors.BmcSystemNotFound,
    }


async def test_power_on_and_off_are_observed(sushy: SushyEmulator) -> None:
    async with redfish_client(sushy, sushy.systems[2]) as client:
        assert await client.get_power() is False

        await client.set_power(PowerAction.ON)
        await wait_until(client.get_power, deadline=15)

        await client.set_power(PowerAction.OFF)
        await wait_until(lambda: _is_off(client), deadline=15)


async def test_soft_off_and_reboots_are_applied(sushy: SushyEmulator) -> None:
    async with redfish_client(sushy, sushy.systems[3]) as client:
        assert await client.get_power() is True

        await client.set_power(PowerAction.SOFT_OFF)
        await wait_until(lambda: _is_off(client), deadline=15)

        # Rebooting a host that is off powers it on, as Ironic does.
        await client.set_power(PowerAction.SOFT_REBOOT)
        await wait_until(client.get_power, deadline=15)

        await client.set_power(PowerAction.REBOOT)
        await wait_until(client.get_power, deadline=15)


@pytest.mark.parametrize(
    ("device", "persistent", "mode"),
    [
        pytest.param(BootDevice.PXE, False, BootMode.UEFI, id="pxe-once-uefi"),
        pytest.param(BootDevice.DISK, True, BootMode.UEFI, id="disk-persistent"),
        pytest.param(BootDevice.CDROM, False, BootMode.LEGACY, id="cd-once-legacy"),
        pytest.param(BootDevice.PXE, True, BootMode.LEGACY, id="pxe-persistent-legacy"),
    ],
)
async def test_boot_device_mode_and_persistence_are_set(
    sushy: SushyEmulator, device: BootDevice, *, persistent: bool, mode: BootMode
) -> None:
    async with redfish_client(sushy, sushy.systems[4]) as client:
        await client.set_boot_device(device, persistent=persistent, mode=mode)

        assert await client.get_boot() == BootSettings(device=device, persistent=persistent, mode=mode)


async def test_boot_device_without_mode_keeps_the_mode(sushy: SushyEmulator) -> None:
    async with redfish_client(sushy, sushy.systems[5]) as client:
        await client.set_boot_device(BootDevice.PXE, persistent=True, mode=BootMode.LEGACY)
        await client.set_boot_device(BootDevice.DISK)

        assert await client.get_boot() == BootSettings(
            device=BootDevice.DISK, persistent=False, mode=BootMode.LEGACY
        )


async def test_boot_targets_the_bmc_does_not_offer_are_unsupported(sushy: SushyEmulator) -> None:
    async with redfish_client(sushy, sushy.systems[5]) as client:
        with pytest.raises(errors.BmcUnsupportedOperation, match="BiosSetup"):
            await client.set_boot_device(BootDevice.BIOS)


async def test_inventory_matches_the_emulator_configuration(sushy: SushyEmulator) -> None:
    system = sushy.systems[6]
    async with redfish_client(sushy, system) as client:
        details = await client.inspect()

    assert details.cpu.count == system.cpus
    assert details.cpu.model == system.cpu_model
    assert details.cpu.arch == "x86_64"
    assert details.ram_mebibytes == system.memory_gb * 1024
    assert [nic.mac for nic in details.nics] == [nic.mac for nic in system.nics]
    assert [(disk.name, disk.size_bytes) for disk in details.storage] == [("disk0", system.disk_gb * 1024**3)]
    assert details.storage[0].type == "HDD"
    assert details.firmware.bios.version == system.bios_version
    assert details.system_vendor.manufacturer == "Sushy Emulator"


async def test_virtual_media_insert_and_eject(sushy: SushyEmulator, iso_server: str) -> None:
    async with redfish_client(sushy, sushy.systems[7]) as client:
        inserted = await client.insert_media(iso_server)
        assert (inserted.device, inserted.image, inserted.inserted) == ("Cd", iso_server, True)
        assert await client.get_media() == inserted

        ejected = await client.eject_media()
        assert (ejected.image, ejected.inserted) == ("", False)
        assert await client.eject_media() == ejected  # ejecting an empty drive is a no-op


async def test_virtual_media_download_failure_is_reported(sushy: SushyEmulator, iso_server: str) -> None:
    async with redfish_client(sushy, sushy.systems[7]) as client:
        with pytest.raises(errors.BmcRequestRejected, match="400"):
            await client.insert_media(iso_server.replace("boot.iso", "missing.iso"))


async def test_an_ipmi_address_is_refused_by_the_redfish_client() -> None:
    with pytest.raises(errors.BmcUnsupportedOperation, match="not reached over Redfish"):
        RedfishClient.for_access(addresses.parse("ipmi://10.0.0.1"), Credentials(USER, PASSWORD))


@pytest_asyncio.fixture(loop_scope="module")
async def silent_server() -> AsyncIterator[int]:
    """A TCP server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_bmc_that_never_answers_times_out_within_the_budget(silent_server: int) -> None:
    client = RedfishClient(
        base_url=f"http://127.0.0.1:{silent_server}",
        credentials=Credentials(USER, PASSWORD),
        timeouts=RedfishTimeouts(connect=1, read=2, operation=0.5),
    )
    started = time.monotonic()
    async with client:
        with pytest.raises(errors.BmcTimeout) as caught:
            await client.validate_access()

    assert time.monotonic() - started < 1.5
    assert caught.value.kind == "transient"
    assert "within 0.5s" in str(caught.value)


async def _is_off(client: RedfishClient) -> bool:
    return not await client.get_power()
