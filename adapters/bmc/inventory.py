"""Out-of-band inventory: what a Redfish BMC reports, in the shape of Metal3's HardwareDetails.

Two layers, both plain values. ``SystemFacts`` is what the Redfish client reads (one flat snapshot
of the ComputerSystem and its processors, NICs and drives, taken in the worker thread so no
sushy object escapes it). ``hardware_details`` maps those facts to ``HardwareDetails``, the
``status.hardware`` / ``HardwareData.spec.hardware`` shape users know from Metal3, with its exact
camelCase wire names and ``omitempty`` behaviour (fields at their zero value are left out).

The mapping follows Ironic's Redfish inspection where Metal3 relies on it: the CPU count is the
number of logical CPUs (sum of ``TotalThreads``, else ``ProcessorSummary.Count``), RAM is
``TotalSystemMemoryGiB`` in MiB, NICs come from ``EthernetInterfaces`` with lower-case MACs, and
disks from ``Storage`` drives (``SimpleStorage`` devices when there are none). What out-of-band
data cannot know (IP addresses, PXE capability, Linux device names, CPU flags) stays empty.
"""

from __future__ import annotations

from typing import Final, Literal

import msgspec

from core.events import host_values

DiskType = Literal["HDD", "SSD", "NVME", ""]

# The HardwareDetails shape is the domain's (core.events.host_values): what this adapter reports
# is exactly what a host event records, with no translation in between.
HardwareDetails = host_values.HardwareDetails
HardwareSystemVendor = host_values.HardwareSystemVendor
BIOS = host_values.BIOS
Firmware = host_values.Firmware
VLAN = host_values.VLAN
LLDP = host_values.LLDP
NIC = host_values.NIC
Storage = host_values.Storage
CPU = host_values.CPU


# --- what the Redfish client reads ------------------------------------------------------------


class ProcessorFacts(msgspec.Struct, frozen=True, kw_only=True):
    model: str | None = None
    manufacturer: str | None = None
    architecture: str | None = None
    """Redfish ``ProcessorArchitecture`` (``x86``, ``ARM``, ...)."""
    instruction_set: str | None = None
    """Redfish ``InstructionSet`` (``x86-64``, ``ARM-A64``, ...)."""
    max_speed_mhz: int | None = None
    total_cores: int | None = None
    total_threads: int | None = None


class NicFacts(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    mac: str | None = None
    speed_mbps: int | None = None


class DriveFacts(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    capacity_bytes: int | None = None
    media_type: str | None = None
    """Redfish ``MediaType``: ``HDD``, ``SSD`` or ``SMR``."""
    protocol: str | None = None
    """Redfish ``Protocol``: ``SATA``, ``SAS``, ``NVMe``, ..."""
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None


class SystemFacts(msgspec.Struct, frozen=True, kw_only=True):
    """One Redfish ComputerSystem and its sub-resources, flattened to plain values."""

    system_id: str
    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    bios_version: str | None = None
    hostname: str | None = None
    processor_summary_count: int | None = None
    memory_gib: float | None = None
    processors: tuple[ProcessorFacts, ...] = ()
    nics: tuple[NicFacts, ...] = ()
    drives: tuple[DriveFacts, ...] = ()
    simple_storage_devices: tuple[DriveFacts, ...] = ()


_INSTRUCTION_SETS: Final = {
    "x86-64": "x86_64",
    "x86": "i686",
    "ARM-A64": "aarch64",
    "ARM-A32": "armv7l",
    "IA-64": "ia64",
    "MIPS64": "mips64",
    "MIPS32": "mips",
    "PowerISA": "ppc64le",
}
_ARCHITECTURES: Final = {
    "x86": "x86_64",
    "ARM": "aarch64",
    "IA-64": "ia64",
    "MIPS": "mips",
    "Power": "ppc64le",
}


def hardware_details(facts: SystemFacts) -> HardwareDetails:
    """Map what the BMC reported to Metal3's HardwareDetails shape."""
    return HardwareDetails(
        system_vendor=HardwareSystemVendor(
            manufacturer=facts.manufacturer or "",
            product_name=facts.model or "",
            serial_number=facts.serial_number or "",
        ),
        firmware=Firmware(bios=BIOS(version=facts.bios_version or "")),
        ram_mebibytes=round((facts.memory_gib or 0) * 1024),
        nics=tuple(_nic(n) for n in facts.nics if n.mac),
        storage=tuple(_storage(d) for d in (facts.drives or facts.simple_storage_devices)),
        cpu=_cpu(facts),
        hostname=facts.hostname or "",
    )


def _cpu(facts: SystemFacts) -> CPU:
    threads = sum(p.total_threads or 0 for p in facts.processors)
    first = facts.processors[0] if facts.processors else ProcessorFacts()
    arch = _INSTRUCTION_SETS.get(first.instruction_set or "") or _ARCHITECTURES.get(
        first.architecture or "", ""
    )
    clock = max((p.max_speed_mhz or 0 for p in facts.processors), default=0)
    cpu = CPU(arch=arch, model=first.model or "", count=threads or facts.processor_summary_count or 0)
    # Only set a measured clock: msgspec omits a float default by identity, not by value.
    return msgspec.structs.replace(cpu, clock_megahertz=float(clock)) if clock else cpu


def _nic(nic: NicFacts) -> NIC:
    return NIC(
        name=nic.id,
        mac=(nic.mac or "").lower(),
        speed_gbps=(nic.speed_mbps or 0) // 1000,
    )


def _storage(drive: DriveFacts) -> Storage:
    disk_type: DiskType
    if (drive.protocol or "").lower() == "nvme":
        disk_type = "NVME"
    elif drive.media_type == "SSD":
        disk_type = "SSD"
    elif drive.media_type in ("HDD", "SMR"):
        disk_type = "HDD"
    else:
        disk_type = ""
    return Storage(
        name=drive.name,
        rotational=disk_type == "HDD",
        type=disk_type,
        size_bytes=drive.capacity_bytes or 0,
        vendor=drive.manufacturer or "",
        model=drive.model or "",
        serial_number=drive.serial_number or "",
    )
