"""BIOS settings and firmware updates applied by manual cleaning in the real Ironic.

fake-hardware's ``bios`` interface stores applied settings in Ironic's database (read back with
``GET /v1/nodes/{id}/bios``) and its ``firmware`` interface accepts ``update``; which steps ran is
read from Ironic's log, where the conductor names every clean step it executes.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import aiohttp

from adapters.ironic.client import IronicClient
from core.aggregates import host_commands as cmd
from core.events.host_values import FirmwareUpdate
from metalstream.devstack.ironic import IronicHarness
from tests.adapters.ironic.conftest import provision_transitions
from tests.adapters.ironic.world import PS, World, fake_spec

BMC_FIRMWARE = FirmwareUpdate(component="bmc", url="http://127.0.0.1:1/bmc-2.0.bin")


def executed_steps(log_path: Path, node_uuid: str) -> list[dict[str, Any]]:
    """Clean steps Ironic's conductor executed on the node, in order, as it logged them."""
    prefix, suffix = "Executing {", f"}} on node {node_uuid}"
    steps: list[dict[str, Any]] = []
    for line in log_path.read_text(errors="replace").splitlines():
        start = line.find(prefix)
        if start < 0 or not line.endswith(suffix):
            continue
        steps.append(
            ast.literal_eval(line[start + len("Executing ") : len(line) - len(" on node ") - len(node_uuid)])
        )
    return steps


async def bios_settings(ironic: IronicHarness, node_uuid: str) -> dict[str, str]:
    timeout = aiohttp.ClientTimeout(total=10)
    headers = {"X-OpenStack-Ironic-API-Version": "1.74"}
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(f"{ironic.url}/v1/nodes/{node_uuid}/bios", headers=headers) as response,
    ):
        response.raise_for_status()
        body = await response.json()
    return {s["name"]: s["value"] for s in body["bios"]}


def _firmware(settings: dict[str, str], generation: int, world: World) -> cmd.ApplyFirmwareConfig:
    return cmd.ApplyFirmwareConfig(
        now=world.now(),
        settings=settings,
        updates=(BMC_FIRMWARE,),
        settings_generation=generation,
        updates_generation=1,
    )


async def test_bios_settings_and_firmware_updates_are_applied_by_manual_cleaning(
    client: IronicClient, ironic: IronicHarness
) -> None:
    world = World(client)
    async with world.running():
        host = await world.apply("firmware-0", fake_spec())
        first = await world.wait_state(host, PS.AVAILABLE)
        node_uuid = first.provisioning_id or ""
        cleanings = provision_transitions(ironic.log_path, node_uuid).count(("manageable", "cleaning"))

        await world.declare(
            host, _firmware({"ProcTurboMode": "Disabled", "SriovEnable": "Enabled"}, 1, world)
        )
        prepared = await world.wait_for(
            host, lambda s: s.prepared_firmware_updates == (BMC_FIRMWARE,), what="firmware prepared"
        )
        assert prepared.provisioning_state is PS.AVAILABLE
        assert prepared.error_type is None
        assert await bios_settings(ironic, node_uuid) == {
            "ProcTurboMode": "Disabled",
            "SriovEnable": "Enabled",
        }
        steps = [(s["interface"], s["step"], s["args"]) for s in executed_steps(ironic.log_path, node_uuid)]
        assert steps == [
            (
                "bios",
                "apply_configuration",
                {
                    "settings": [
                        {"name": "ProcTurboMode", "value": "Disabled"},
                        {"name": "SriovEnable", "value": "Enabled"},
                    ]
                },
            ),
            ("firmware", "update", {"settings": [{"component": "bmc", "url": BMC_FIRMWARE.url}]}),
        ]

        # One changed setting: only it is sent, and the unchanged firmware update is not repeated.
        await world.declare(host, _firmware({"ProcTurboMode": "Enabled", "SriovEnable": "Enabled"}, 2, world))
        again = await world.wait_for(
            host,
            lambda s: s.prepared_firmware_settings.get("ProcTurboMode") == "Enabled",
            what="changed setting prepared",
        )
        assert again.provisioning_state is PS.AVAILABLE
        assert (await bios_settings(ironic, node_uuid))["ProcTurboMode"] == "Enabled"
        last = executed_steps(ironic.log_path, node_uuid)[-1]
        assert (last["interface"], last["step"]) == ("bios", "apply_configuration")
        assert last["args"] == {"settings": [{"name": "ProcTurboMode", "value": "Enabled"}]}
        assert len(executed_steps(ironic.log_path, node_uuid)) == 3

        # A newer generation with the same content is no change: no preparing, no cleaning.
        unchanged = await world.declare(
            host, _firmware({"ProcTurboMode": "Enabled", "SriovEnable": "Enabled"}, 3, world)
        )
        assert unchanged.provisioning_state is PS.AVAILABLE
        assert unchanged.firmware_settings_generation == 2

    changes = provision_transitions(ironic.log_path, node_uuid)
    assert changes.count(("manageable", "cleaning")) == cleanings + 2
    types = await world.event_types(host)
    assert types.count("FirmwareConfigChanged") == 2
    assert "ErrorRecorded" not in types
