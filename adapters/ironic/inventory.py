"""Ironic's inspection inventory -> Metal3's ``HardwareDetails``.

The inventory is the agent format (``GET /v1/nodes/{id}/inventory``), also written by Redfish
out-of-band inspection. The mapping follows BMO's ``pkg/hardwaredetails``: CPU from ``cpu``,
RAM from ``memory.physical_mb``, one NIC per interface (PXE when it is the boot interface),
storage from ``disks``, vendor and BIOS from ``system_vendor``. When a node has no inventory
(fake inspection records none) the few facts Ironic keeps in ``properties`` are used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from core.events.host_values import (
    BIOS,
    CPU,
    LLDP,
    NIC,
    Firmware,
    HardwareDetails,
    HardwareSystemVendor,
    Storage,
)

_GIB = 1024**3


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _storage_type(disk: Mapping[str, Any]) -> Literal["HDD", "SSD", "NVME", ""]:
    if "nvme" in _text(disk.get("name")):
        return "NVME"
    rotational = disk.get("rotational")
    if rotational is None:
        return ""
    return "HDD" if rotational else "SSD"


def _nics(inventory: Mapping[str, Any], plugin_data: Mapping[str, Any]) -> tuple[NIC, ...]:
    boot = inventory.get("boot") or {}
    pxe_mac = _text(boot.get("pxe_interface")).lower()
    lldp_by_name: Mapping[str, Any] = plugin_data.get("parsed_lldp") or {}
    nics: list[NIC] = []
    for iface in inventory.get("interfaces") or ():
        mac = _text(iface.get("mac_address")).lower()
        model = " ".join(p for p in (_text(iface.get("vendor")), _text(iface.get("product"))) if p)
        parsed = lldp_by_name.get(_text(iface.get("name"))) or {}
        lldp = None
        if parsed:
            lldp = LLDP(
                switch_id=_text(parsed.get("switch_chassis_id")),
                port_id=_text(parsed.get("switch_port_id")),
                switch_system_name=_text(parsed.get("switch_system_name")),
            )
        nics.append(
            NIC(
                name=_text(iface.get("name")),
                model=model,
                mac=mac,
                ip=_text(iface.get("ipv4_address") or iface.get("ipv6_address")),
                speed_gbps=_int(iface.get("speed_mbps")) // 1000,
                pxe=bool(pxe_mac) and pxe_mac in (mac, _text(iface.get("name")).lower()),
                lldp=lldp,
            )
        )
    return tuple(sorted(nics, key=lambda n: (n.name, n.mac)))


def _storage(inventory: Mapping[str, Any]) -> tuple[Storage, ...]:
    disks: list[Storage] = []
    for disk in inventory.get("disks") or ():
        by_path = _text(disk.get("by_path"))
        disks.append(
            Storage(
                name=_text(disk.get("name")),
                alternate_names=(by_path,) if by_path else (),
                rotational=bool(disk.get("rotational")),
                type=_storage_type(disk),
                size_bytes=_int(disk.get("size")),
                vendor=_text(disk.get("vendor")),
                model=_text(disk.get("model")),
                serial_number=_text(disk.get("serial")),
                wwn=_text(disk.get("wwn")),
                wwn_vendor_extension=_text(disk.get("wwn_vendor_extension")),
                wwn_with_extension=_text(disk.get("wwn_with_extension")),
                hctl=_text(disk.get("hctl")),
            )
        )
    return tuple(sorted(disks, key=lambda d: d.name))


def hardware_details(
    inventory: Mapping[str, Any], plugin_data: Mapping[str, Any] | None = None
) -> HardwareDetails:
    """Map an agent-format inventory to Metal3's HardwareDetails."""
    cpu = inventory.get("cpu") or {}
    memory = inventory.get("memory") or {}
    vendor = inventory.get("system_vendor") or {}
    firmware = vendor.get("firmware") or {}
    return HardwareDetails(
        system_vendor=HardwareSystemVendor(
            manufacturer=_text(vendor.get("manufacturer")),
            product_name=_text(vendor.get("product_name")),
            serial_number=_text(vendor.get("serial_number")),
        ),
        firmware=Firmware(
            bios=BIOS(
                date=_text(firmware.get("build_date")),
                vendor=_text(firmware.get("vendor")),
                version=_text(firmware.get("version")),
            )
        ),
        ram_mebibytes=_int(memory.get("physical_mb")) or _int(memory.get("total")) // (1024 * 1024),
        nics=_nics(inventory, plugin_data or {}),
        storage=_storage(inventory),
        cpu=CPU(
            arch=_text(cpu.get("architecture")),
            model=_text(cpu.get("model_name")),
            clock_megahertz=_float(cpu.get("frequency")),
            flags=tuple(sorted(_text(f) for f in cpu.get("flags") or ())),
            count=_int(cpu.get("count")),
        ),
        hostname=_text(inventory.get("hostname")),
    )


def from_properties(properties: Mapping[str, Any]) -> HardwareDetails:
    """The little Ironic keeps in ``properties`` (nodes inspected without an inventory)."""
    local_gb = _int(properties.get("local_gb"))
    return HardwareDetails(
        ram_mebibytes=_int(properties.get("memory_mb")),
        cpu=CPU(arch=_text(properties.get("cpu_arch")), count=_int(properties.get("cpus"))),
        storage=(Storage(name="disk0", size_bytes=local_gb * _GIB),) if local_gb else (),
    )
