"""fake-hardware nodes whose power, management (and inspect) interfaces speak a real BMC protocol.

Ironic's driver factory accepts any enabled interface on a ``fake-hardware`` node, so power,
management and inspection can go to the sushy-tools Redfish emulator or the pyghmi IPMI simulator
(through Debian's ipmitool) while deploy and boot stay fake and no agent is needed.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Final

import aiohttp

from adapters.ironic import wire
from adapters.ironic.client import IronicClient
from metalstream.devstack import ipmitool
from metalstream.devstack.ipmi_sim import BmcSpec, IpmiSimulator
from metalstream.devstack.sushy import FakeNic, FakeSystem, SushyEmulator
from tests.adapters.ironic.conftest import unique, wait_for_state, wait_until

USER: Final = "admin"
PASSWORD: Final = "Bmc-pw-ironic-5d2c"
"""At most 20 characters: the IPMI v2 limit (ipmitool cuts longer ones and the session fails)."""
SYSTEM: Final = FakeSystem(
    uuid="22222222-0000-0000-0000-000000000001",
    name="mix-0",
    nics=(FakeNic(mac="52:54:00:22:00:01", ip="192.0.2.21"),),
    cpus=6,
    memory_gb=24,
    disk_gb=120,
)


def redfish_node(emulator: SushyEmulator, *, password: str = PASSWORD) -> wire.NodeCreate:
    return wire.NodeCreate(
        name=unique("redfish"),
        driver="fake-hardware",
        power_interface="redfish",
        management_interface="redfish",
        inspect_interface="redfish",
        deploy_interface="fake",
        boot_interface="fake",
        driver_info={
            "redfish_address": emulator.base_url,
            "redfish_system_id": SYSTEM.path,
            "redfish_username": USER,
            "redfish_password": password,
            # Ironic 39 looks up a config group named after the node's driver when verify_ca is
            # left at True, and fails with "no such option fake-hardware in group [DEFAULT]".
            "redfish_verify_ca": False,
        },
    )


async def emulator_system(emulator: SushyEmulator) -> dict[str, Any]:
    auth = {"Authorization": aiohttp.encode_basic_auth(USER, PASSWORD)}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.get(f"{emulator.base_url}{SYSTEM.path}", headers=auth) as response,
    ):
        body: dict[str, Any] = await response.json()
        return body


async def test_redfish_power_management_and_inspection_with_fake_deploy(client: IronicClient) -> None:
    timings: dict[str, float] = {}
    async with SushyEmulator([SYSTEM], users={USER: PASSWORD}, power_delay=(0, 0)) as emulator:
        node = await client.create_node(redfish_node(emulator))
        assert (node.power_interface, node.deploy_interface, node.boot_interface) == (
            "redfish",
            "fake",
            "fake",
        )

        began = time.monotonic()
        await client.set_provision_state(node.uuid, "manage")
        managed = await wait_for_state(client, node.uuid, "manageable")
        timings["manage"] = time.monotonic() - began
        assert managed.power_state == "power off"

        for target, shown in (("power on", "On"), ("power off", "Off")):
            began = time.monotonic()
            await client.set_power_state(node.uuid, target)  # type: ignore[arg-type]

            async def applied(target: str = target, shown: str = shown) -> bool:
                ironic_sees = (await client.get_node(node.uuid)).power_state == target
                return ironic_sees and (await emulator_system(emulator))["PowerState"] == shown

            await wait_until(applied, deadline=30)
            timings[target] = time.monotonic() - began

        await client.set_boot_device(node.uuid, "pxe", persistent=True)
        assert (await emulator_system(emulator))["Boot"]["BootSourceOverrideTarget"] == "Pxe"

        began = time.monotonic()
        await client.set_provision_state(node.uuid, "inspect")
        inspected = await wait_for_state(client, node.uuid, "manageable", deadline=60)
        timings["inspect"] = time.monotonic() - began
        assert inspected.properties["memory_mb"] == 24 * 1024
        inventory = (await client.get_inventory(node.uuid)).inventory
        assert inventory["cpu"]["count"] == 6
        assert inventory["memory"]["physical_mb"] == 24 * 1024
        assert [i["mac_address"] for i in inventory["interfaces"]] == ["52:54:00:22:00:01"]
        assert [p.address for p in await client.list_ports(node.uuid)] == ["52:54:00:22:00:01"]

        for label, target, state in (("provide", "provide", "available"), ("deploy", "active", "active")):
            if target == "active":
                info = {"image_source": "http://127.0.0.1:1/img.qcow2", "image_checksum": "0" * 32}
                await client.patch_node(node.uuid, [wire.PatchOp.add("/instance_info", info)])
            began = time.monotonic()
            await client.set_provision_state(node.uuid, target)  # type: ignore[arg-type]
            await wait_for_state(client, node.uuid, state, deadline=60)
            timings[label] = time.monotonic() - began

        began = time.monotonic()
        await client.set_provision_state(node.uuid, "deleted")
        await wait_for_state(client, node.uuid, "available", deadline=60)
        timings["deprovision"] = time.monotonic() - began
        await client.set_provision_state(node.uuid, "manage")
        await wait_for_state(client, node.uuid, "manageable")
        await client.delete_node(node.uuid)
    print("fake-hardware + redfish seconds:", {k: round(v, 2) for k, v in timings.items()})


async def test_redfish_wrong_password_leaves_the_node_in_enroll_with_ironics_error(
    client: IronicClient,
) -> None:
    async with SushyEmulator([SYSTEM], users={USER: PASSWORD}, power_delay=(0, 0)) as emulator:
        node = await client.create_node(redfish_node(emulator, password="wrong-pw-77"))
        await client.set_provision_state(node.uuid, "manage")

        async def failed() -> bool:
            found = await client.get_node(node.uuid)
            return found.state == "enroll" and found.target_provision_state is None

        await wait_until(failed, deadline=60)
        error = (await client.get_node(node.uuid)).last_error or ""
        print("redfish wrong password last_error:", error)
        assert "wrong-pw-77" not in error
        assert "401" in error or "authentication" in error.lower() or "unauthorized" in error.lower()
        await client.delete_node(node.uuid)


async def ipmi_power_status(port: int) -> str:
    bin_dir = await ipmitool.ensure_ipmitool()
    process = await asyncio.create_subprocess_exec(
        str(bin_dir / "ipmitool"),
        *("-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", USER, "-E"),
        *("chassis", "power", "status"),
        env={**os.environ, "IPMI_PASSWORD": PASSWORD},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with asyncio.timeout(15):
        out, _ = await process.communicate()
    return out.decode().strip()


async def test_ipmitool_power_and_management_with_fake_deploy(client: IronicClient) -> None:
    timings: dict[str, float] = {}
    async with IpmiSimulator([BmcSpec(name="mix-ipmi", username=USER, password=PASSWORD)]) as sim:
        bmc = sim.endpoint("mix-ipmi")
        node = await client.create_node(
            wire.NodeCreate(
                name=unique("ipmi"),
                driver="fake-hardware",
                power_interface="ipmitool",
                management_interface="ipmitool",
                deploy_interface="fake",
                boot_interface="fake",
                driver_info={
                    "ipmi_address": bmc.host,
                    "ipmi_port": bmc.port,
                    "ipmi_username": USER,
                    "ipmi_password": PASSWORD,
                },
            )
        )
        began = time.monotonic()
        await client.set_provision_state(node.uuid, "manage")
        managed = await wait_for_state(client, node.uuid, "manageable", deadline=60)
        timings["manage"] = time.monotonic() - began
        assert managed.power_state == "power off"

        for target, shown in (("power on", "Chassis Power is on"), ("power off", "Chassis Power is off")):
            began = time.monotonic()
            await client.set_power_state(node.uuid, target)  # type: ignore[arg-type]

            async def applied(target: str = target, shown: str = shown) -> bool:
                ironic_sees = (await client.get_node(node.uuid)).power_state == target
                return ironic_sees and await ipmi_power_status(bmc.port) == shown

            await wait_until(applied, deadline=60, interval=0.3)
            timings[target] = time.monotonic() - began

        began = time.monotonic()
        await client.set_boot_device(node.uuid, "pxe")
        timings["boot device"] = time.monotonic() - began

        for label, target, state in (
            ("inspect (fake)", "inspect", "manageable"),
            ("provide", "provide", "available"),
            ("deploy", "active", "active"),
            ("deprovision", "deleted", "available"),
        ):
            began = time.monotonic()
            await client.set_provision_state(node.uuid, target)  # type: ignore[arg-type]
            await wait_for_state(client, node.uuid, state, deadline=60)
            timings[label] = time.monotonic() - began
        await client.set_provision_state(node.uuid, "manage")
        await wait_for_state(client, node.uuid, "manageable")
        await client.delete_node(node.uuid)
    print("fake-hardware + ipmitool seconds:", {k: round(v, 2) for k, v in timings.items()})
