"""Value types shared by host events and host state, shaped like Metal3's API.

They use Metal3's camelCase JSON names so that a host's spec and hardware details read the same in
an event, in ``kubectl get bmh -o yaml`` and in Metal3's documentation. None of them can carry a
secret: BMC credentials and user data are referenced by Secret name (and resourceVersion), never
by value.
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec


class ProvisioningState(enum.StrEnum):
    """``status.provisioning.state``, with Metal3's exact strings."""

    NONE = ""
    UNMANAGED = "unmanaged"
    REGISTERING = "registering"
    MATCH_PROFILE = "match profile"
    INSPECTING = "inspecting"
    PREPARING = "preparing"
    READY = "ready"
    AVAILABLE = "available"
    PROVISIONING = "provisioning"
    PROVISIONED = "provisioned"
    EXTERNALLY_PROVISIONED = "externally provisioned"
    DEPROVISIONING = "deprovisioning"
    POWERING_OFF_BEFORE_DELETE = "powering off before delete"
    DELETING = "deleting"


class OperationalStatus(enum.StrEnum):
    """``status.operationalStatus``."""

    NONE = ""
    OK = "OK"
    DISCOVERED = "discovered"
    ERROR = "error"
    DELAYED = "delayed"
    DETACHED = "detached"
    SERVICING = "servicing"


class ErrorType(enum.StrEnum):
    """``status.errorType``: the eight kinds of recorded host failure."""

    REGISTRATION = "registration error"
    PROVISIONED_REGISTRATION = "provisioned registration error"
    INSPECTION = "inspection error"
    PREPARATION = "preparation error"
    PROVISIONING = "provisioning error"
    POWER_MANAGEMENT = "power management error"
    DETACH = "detach error"
    SERVICING = "servicing error"


BootMode = Literal["UEFI", "UEFISecureBoot", "legacy"]
ChecksumType = Literal["md5", "sha256", "sha512", "auto"]
ImageFormat = Literal["raw", "qcow2", "vdi", "vmdk", "live-iso"]
InspectionMode = Literal["disabled", "agent", "fast"]
CleaningMode = Literal["metadata", "disabled"]
RebootMode = Literal["hard", "soft"]
DeleteAction = Literal["delete", "delay"]


class _Value(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Base of the value types: immutable, camelCase on the wire, defaults left out."""


class BMCDetails(_Value, frozen=True, kw_only=True):
    """``spec.bmc``: where the BMC is and which Secret holds its credentials."""

    address: str = ""
    credentials_name: str = ""
    disable_certificate_verification: bool = False


class Image(_Value, frozen=True, kw_only=True):
    """``spec.image``: what to write to the host's disk."""

    url: str
    checksum: str | None = None
    checksum_type: ChecksumType | None = None
    format: ImageFormat | None = None
    oci_auth_secret_name: str | None = None


class CustomDeploy(_Value, frozen=True, kw_only=True):
    """``spec.customDeploy``: a custom deploy step instead of (or besides) an image."""

    method: str


class SecretRef(_Value, frozen=True, kw_only=True):
    """A reference to a Secret: its name, never its content."""

    name: str
    namespace: str | None = None


class RootDeviceHints(_Value, frozen=True, kw_only=True):
    """``spec.rootDeviceHints``: which disk receives the image."""

    device_name: str | None = None
    hctl: str | None = None
    model: str | None = None
    vendor: str | None = None
    serial_number: str | None = None
    min_size_gigabytes: int | None = None
    wwn: str | None = None
    wwn_with_extension: str | None = None
    wwn_vendor_extension: str | None = None
    rotational: bool | None = None


class HardwareRAIDVolume(_Value, frozen=True, kw_only=True):
    size_gibibytes: int | None = None
    level: Literal["0", "1", "2", "5", "6", "1+0", "5+0", "6+0"]
    name: str | None = None
    rotational: bool | None = None
    number_of_physical_disks: int | None = None
    controller: str | None = None
    physical_disks: tuple[str, ...] = ()


class SoftwareRAIDVolume(_Value, frozen=True, kw_only=True):
    size_gibibytes: int | None = None
    level: Literal["0", "1", "1+0"]
    physical_disks: tuple[RootDeviceHints, ...] = ()


class RAIDConfig(_Value, frozen=True, kw_only=True):
    """``spec.raid``: hardware or software RAID volumes (never both)."""

    hardware_raid_volumes: tuple[HardwareRAIDVolume, ...] | None = msgspec.field(
        default=None, name="hardwareRAIDVolumes"
    )
    software_raid_volumes: tuple[SoftwareRAIDVolume, ...] | None = msgspec.field(
        default=None, name="softwareRAIDVolumes"
    )


class FirmwareUpdate(_Value, frozen=True, kw_only=True):
    """One ``HostFirmwareComponents`` ``spec.updates`` entry: flash ``component`` from ``url``.

    ``component`` is ``bmc``, ``bios`` or ``nic:<id>``, the names Ironic's ``firmware.update``
    clean step accepts.
    """

    component: str
    url: str


class ConsumerRef(_Value, frozen=True, kw_only=True):
    """``spec.consumerRef``: the one object that uses the host (usually a Metal3Machine)."""

    api_version: str = ""
    kind: str = ""
    namespace: str = ""
    name: str
    uid: str = ""


class HostSpec(_Value, frozen=True, kw_only=True):
    """The desired state of a host, as the user declared it (``BareMetalHost.spec`` minus consumer)."""

    bmc: BMCDetails = BMCDetails()
    online: bool = False
    boot_mac_address: str | None = msgspec.field(default=None, name="bootMACAddress")
    boot_mode: BootMode = "UEFI"
    image: Image | None = None
    custom_deploy: CustomDeploy | None = None
    user_data: SecretRef | None = None
    network_data: SecretRef | None = None
    meta_data: SecretRef | None = None
    preprovisioning_network_data_name: str | None = None
    root_device_hints: RootDeviceHints | None = None
    raid: RAIDConfig | None = None
    externally_provisioned: bool = False
    automated_cleaning_mode: CleaningMode = "metadata"
    inspection_mode: InspectionMode | None = None
    disable_power_off: bool = False
    architecture: str | None = None
    hardware_profile: str | None = None
    description: str | None = None


class CredentialsRef(_Value, frozen=True, kw_only=True):
    """``status.goodCredentials`` / ``triedCredentials``: a Secret and the version that was used."""

    name: str
    version: str


class OperationTimes(_Value, frozen=True, kw_only=True):
    """Start and end of one operation in ``status.operationHistory``."""

    start: str | None = None
    end: str | None = None


class OperationHistory(_Value, frozen=True, kw_only=True):
    """``status.operationHistory``: RFC 3339 times of the last register/inspect/provision/deprovision."""

    register: OperationTimes = OperationTimes()
    inspect: OperationTimes = OperationTimes()
    provision: OperationTimes = OperationTimes()
    deprovision: OperationTimes = OperationTimes()


# --- hardware details, Metal3's HardwareDetails shape -------------------------------------------


class HardwareSystemVendor(_Value, frozen=True, kw_only=True):
    manufacturer: str = ""
    product_name: str = ""
    serial_number: str = ""


class BIOS(_Value, frozen=True, kw_only=True):
    date: str = ""
    vendor: str = ""
    version: str = ""


class Firmware(_Value, frozen=True, kw_only=True):
    bios: BIOS = BIOS()


class VLAN(_Value, frozen=True, kw_only=True):
    id: int
    name: str = ""


class LLDP(_Value, frozen=True, kw_only=True):
    switch_id: str = msgspec.field(default="", name="switchID")
    port_id: str = msgspec.field(default="", name="portID")
    switch_system_name: str = ""


class NIC(_Value, frozen=True, kw_only=True):
    name: str = ""
    model: str = ""
    mac: str = ""
    ip: str = ""
    speed_gbps: int = 0
    vlans: tuple[VLAN, ...] = ()
    vlan_id: int = 0
    pxe: bool = False
    lldp: LLDP | None = None
    pci_address: str = ""


class Storage(_Value, frozen=True, kw_only=True):
    name: str = ""
    alternate_names: tuple[str, ...] = ()
    rotational: bool = False
    type: Literal["HDD", "SSD", "NVME", ""] = ""
    size_bytes: int = 0
    vendor: str = ""
    model: str = ""
    serial_number: str = ""
    wwn: str = ""
    wwn_vendor_extension: str = ""
    wwn_with_extension: str = ""
    hctl: str = ""


class CPU(_Value, frozen=True, kw_only=True):
    arch: str = ""
    model: str = ""
    clock_megahertz: float = 0.0
    flags: tuple[str, ...] = ()
    count: int = 0


class HardwareDetails(_Value, frozen=True, kw_only=True):
    """What inspection found (``status.hardware`` and the HardwareData object)."""

    system_vendor: HardwareSystemVendor = HardwareSystemVendor()
    firmware: Firmware = Firmware()
    ram_mebibytes: int = 0
    nics: tuple[NIC, ...] = ()
    storage: tuple[Storage, ...] = ()
    cpu: CPU = CPU()
    hostname: str = ""
