from __future__ import annotations

import json
from datetime import UTC, datetime

from adapters.k8s.baremetalhost import annotations as notes
from core.aggregates import host_commands as cmd
from core.aggregates.host_state import DetachState, HostState

NOW = datetime(2026, 11, 24, tzinfo=UTC)
HOST = HostState(exists=True, namespace="metal", name="w0", uid="u", generation=1)


def test_held_annotations_are_sent_while_they_differ_from_the_state_and_undone_when_removed() -> None:
    plan = notes.plan({notes.PAUSED: "", notes.DETACHED: '{"deleteAction": "delay"}'}, HOST, NOW)
    assert [type(c) for c in plan.commands] == [cmd.Pause, cmd.Detach]
    assert plan.commands[1] == cmd.Detach(now=NOW, delete_action="delay", force=False)
    settled = HostState(
        exists=True, paused=True, detach=DetachState(delete_action="delay"), namespace="metal", name="w0"
    )
    assert (
        notes.plan({notes.PAUSED: "", notes.DETACHED: '{"deleteAction": "delay"}'}, settled, NOW).commands
        == ()
    )
    undone = notes.plan({}, settled, NOW)
    assert [type(c) for c in undone.commands] == [cmd.Resume, cmd.Reattach]
    assert undone.consumed == ()


def test_a_keyless_reboot_is_one_shot_and_keyed_reboots_are_held() -> None:
    plan = notes.plan({notes.REBOOT: "", "reboot.metal3.io/upgrade": '{"mode": "hard"}'}, HOST, NOW)
    assert cmd.RequestReboot(now=NOW, key="", mode="soft") in plan.commands
    assert cmd.RequestReboot(now=NOW, key="upgrade", mode="hard") in plan.commands
    assert plan.consumed == (notes.REBOOT,)
    requested = HostState(exists=True, reboot_requests=(("", "soft"), ("upgrade", "hard")))
    again = notes.plan({notes.REBOOT: "", "reboot.metal3.io/upgrade": '{"mode": "hard"}'}, requested, NOW)
    assert again.commands == ()
    released = notes.plan({}, requested, NOW)
    assert released.commands == (cmd.CompleteReboot(now=NOW, key="upgrade"),)


def test_inspection_and_hardware_details_are_consumed() -> None:
    details = json.dumps({"cpu": {"arch": "x86_64", "count": 8}, "ramMebibytes": 16384})
    plan = notes.plan({notes.INSPECT: "", notes.HARDWARE_DETAILS: details}, HOST, NOW)
    assert plan.commands == (
        cmd.RequestInspection(now=NOW),
        cmd.ProvideHardwareDetails(now=NOW, hardware=notes.hardware_details(details)),
    )
    assert isinstance(plan.commands[1], cmd.ProvideHardwareDetails)
    assert plan.commands[1].hardware.cpu.count == 8
    assert plan.commands[1].hardware.ram_mebibytes == 16384
    assert plan.consumed == (notes.INSPECT, notes.HARDWARE_DETAILS)


def test_bad_values_are_reported_and_left_in_place() -> None:
    plan = notes.plan(
        {notes.REBOOT: '{"mode": "gentle"}', notes.DETACHED: "{not json", notes.HARDWARE_DETAILS: "[]"},
        HOST,
        NOW,
    )
    assert plan.commands == ()
    assert plan.consumed == ()
    assert {p.annotation for p in plan.problems} == {notes.REBOOT, notes.DETACHED, notes.HARDWARE_DETAILS}
    assert any("gentle" in p.message for p in plan.problems)
