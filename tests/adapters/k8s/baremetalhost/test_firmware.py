from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.k8s.baremetalhost.controller import HostController
from adapters.k8s.baremetalhost.ports import FirmwareObjects
from core.aggregates import host_commands as cmd
from core.events.host_values import FirmwareUpdate
from tests.adapters.k8s.baremetalhost.fakes import NOW, AggregateCommands, RecordingCluster
from tests.adapters.k8s.baremetalhost.objects import host_object, secret_object

HOST = "metal/worker-0"


def _controller() -> tuple[HostController, AggregateCommands, RecordingCluster]:
    commands = AggregateCommands()
    cluster = RecordingCluster()
    cluster.secrets[("metal", "worker-0-bmc")] = secret_object()
    return HostController(commands, cluster, clock=lambda: NOW), commands, cluster


def _hfs(settings: dict[str, Any], generation: int) -> dict[str, Any]:
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HostFirmwareSettings",
        "metadata": {"name": "worker-0", "namespace": "metal", "generation": generation},
        "spec": {"settings": settings},
    }


def _hfc(updates: list[dict[str, str]], generation: int) -> dict[str, Any]:
    return {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "HostFirmwareComponents",
        "metadata": {"name": "worker-0", "namespace": "metal", "generation": generation},
        "spec": {"updates": updates},
    }


def _declarations(commands: AggregateCommands) -> list[cmd.ApplyFirmwareConfig]:
    return [c for c in commands.sent if isinstance(c, cmd.ApplyFirmwareConfig)]


async def test_no_firmware_objects_send_nothing() -> None:
    controller, commands, _ = _controller()
    await controller.reconcile(host_object(), HOST)
    assert _declarations(commands) == []


async def test_firmware_objects_are_declared_once_per_generation() -> None:
    controller, commands, cluster = _controller()
    bmc = {"component": "bmc", "url": "https://fw.example/bmc.bin"}
    cluster.firmware[("metal", "worker-0")] = FirmwareObjects(
        settings=_hfs({"ProcTurboMode": "Disabled", "NumCores": 8}, 2), components=_hfc([bmc], 1)
    )
    await controller.reconcile(host_object(), HOST)
    await controller.reconcile(host_object(), HOST)
    state = await commands.state(HOST)
    assert state.firmware_settings == {"ProcTurboMode": "Disabled", "NumCores": "8"}
    assert state.firmware_updates == (FirmwareUpdate(component="bmc", url="https://fw.example/bmc.bin"),)
    assert (state.firmware_settings_generation, state.firmware_updates_generation) == (2, 1)
    assert len(_declarations(commands)) == 1

    cluster.firmware[("metal", "worker-0")] = FirmwareObjects(
        settings=_hfs({"ProcTurboMode": "Enabled"}, 3), components=_hfc([bmc], 1)
    )
    await controller.reconcile(host_object(), HOST)
    assert (await commands.state(HOST)).firmware_settings == {"ProcTurboMode": "Enabled"}
    assert len(_declarations(commands)) == 2


async def test_an_unsupported_component_is_reported_once_and_not_recorded() -> None:
    controller, commands, cluster = _controller()
    cluster.firmware[("metal", "worker-0")] = FirmwareObjects(
        components=_hfc([{"component": "gpu", "url": "https://fw.example/gpu.bin"}], 1)
    )
    await controller.reconcile(host_object(), HOST)
    await controller.reconcile(host_object(), HOST)
    assert (await commands.state(HOST)).firmware_updates == ()
    warnings = [e for e in cluster.events if e[0] == "Warning"]
    assert len(warnings) == 1
    assert "spec.updates[0].component 'gpu' is not supported; use bmc, bios or nic:<id>" in warnings[0][2]
    assert len(_declarations(commands)) == 1

    fixed = {"component": "nic:NIC.1", "url": "https://fw.example/nic.bin"}
    cluster.firmware[("metal", "worker-0")] = FirmwareObjects(components=_hfc([fixed], 2))
    await controller.reconcile(host_object(), HOST)
    assert (await commands.state(HOST)).firmware_updates == (FirmwareUpdate(**fixed),)


async def test_a_setting_of_another_type_names_the_field() -> None:
    controller, commands, cluster = _controller()
    cluster.firmware[("metal", "worker-0")] = FirmwareObjects(settings=_hfs({"Turbo": ["on"]}, 1))
    await controller.reconcile(host_object(), HOST)
    assert _declarations(commands) == []
    assert any("spec.settings.Turbo must be a string or an integer" in e[2] for e in cluster.events)


def _conditions(status: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


async def test_settings_status_shows_what_was_applied_and_whether_a_change_waits() -> None:
    controller, commands, cluster = _controller()
    hfs = _hfs({"ProcTurboMode": "Disabled"}, 1)
    cluster.firmware[("metal", "worker-0")] = FirmwareObjects(settings=hfs)
    await controller.reconcile(host_object(), HOST)
    waiting = cluster.firmware_statuses[-1]
    assert waiting["settings"] == {}
    assert _conditions(waiting) == {"ChangeDetected": ("True", "Success"), "Valid": ("True", "Success")}

    hfs["status"] = waiting
    await controller.reconcile(host_object(), HOST)
    assert len(cluster.firmware_statuses) == 1  # nothing changed: not written again

    state = await commands.state(HOST)
    assert state.firmware_settings == {"ProcTurboMode": "Disabled"}


async def test_invalid_settings_make_the_valid_condition_false() -> None:
    controller, _, cluster = _controller()
    cluster.firmware[("metal", "worker-0")] = FirmwareObjects(settings=_hfs({"": "x"}, 1))
    await controller.reconcile(host_object(), HOST)
    status = cluster.firmware_statuses[-1]
    assert _conditions(status)["Valid"] == ("False", "ConfigurationError")
    assert _conditions(status)["ChangeDetected"][0] == "False"
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert "empty setting name" in valid["message"]
