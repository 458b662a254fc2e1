"""Manual clean steps that apply a host's RAID, BIOS settings and firmware updates.

Pure translation from the host's wanted hardware configuration to Ironic's step format, apart
from the provisioner so the mapping can be read (and tested) without the state machine around it.
"""

from __future__ import annotations

from typing import Any

from adapters.ironic import wire
from core.aggregates.host_state import HostState


def raid_steps(state: HostState) -> tuple[list[dict[str, Any]], list[wire.Step]]:
    """Target RAID logical disks and the manual clean steps that apply them."""
    raid = state.spec.raid
    if raid is None or raid == state.prepared_raid:
        return [], []
    disks: list[dict[str, Any]] = []
    for volume in raid.hardware_raid_volumes or ():
        disk: dict[str, Any] = {
            "raid_level": volume.level,
            "size_gb": volume.size_gibibytes if volume.size_gibibytes else "MAX",
        }
        if volume.name:
            disk["volume_name"] = volume.name
        if volume.number_of_physical_disks:
            disk["number_of_physical_disks"] = volume.number_of_physical_disks
        if volume.controller:
            disk["controller"] = volume.controller
        if volume.physical_disks:
            disk["physical_disks"] = list(volume.physical_disks)
        disks.append(disk)
    disks.extend(
        {
            "raid_level": software.level,
            "size_gb": software.size_gibibytes if software.size_gibibytes else "MAX",
            "controller": "software",
        }
        for software in raid.software_raid_volumes or ()
    )
    steps = [wire.Step(interface="raid", step="delete_configuration", args={})]
    if raid.software_raid_volumes:
        steps.append(wire.Step(interface="deploy", step="erase_devices_metadata", args={}))
    if disks:
        steps.append(wire.Step(interface="raid", step="create_configuration", args={}))
    return disks, steps


def firmware_steps(state: HostState) -> list[wire.Step]:
    """BIOS settings and firmware updates not yet applied, as Ironic manual clean steps.

    Like Metal3, only settings whose value changed are sent (what the last preparation applied
    stands in for the values Ironic reports) and firmware updates are sent whole when they changed.
    """
    changed = {
        name: value
        for name, value in state.firmware_settings.items()
        if state.prepared_firmware_settings.get(name) != value
    }
    steps: list[wire.Step] = []
    if changed:
        settings = [{"name": name, "value": value} for name, value in sorted(changed.items())]
        steps.append(wire.Step(interface="bios", step="apply_configuration", args={"settings": settings}))
    if state.firmware_updates and state.firmware_updates != state.prepared_firmware_updates:
        updates = [{"component": u.component, "url": u.url} for u in state.firmware_updates]
        steps.append(wire.Step(interface="firmware", step="update", args={"settings": updates}))
    return steps
