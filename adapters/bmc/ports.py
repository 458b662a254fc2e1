"""What callers can ask of a BMC, independent of the protocol that carries it.

``BmcClient`` is the common surface of the Redfish and IPMI clients: check access, read and change
power, choose the next boot device. Redfish BMCs also offer ``InventoryClient`` (out-of-band
hardware details) and ``VirtualMediaClient`` (attach an ISO by URL); IPMI has neither.

Every method is a coroutine with its own time budget and raises only ``errors.BmcError``
subclasses. Power changes are requests: BMCs apply them later (sushy-tools after 1-11 s), so
callers observe the result with ``get_power`` rather than trusting the call's return.
"""

from __future__ import annotations

import enum
from typing import Protocol

import msgspec

from adapters.bmc.inventory import HardwareDetails


class PowerAction(enum.StrEnum):
    """A power change, named as Ironic names them."""

    ON = "on"
    OFF = "off"
    """Hard power off."""
    SOFT_OFF = "soft_off"
    """Ask the OS to shut down (ACPI)."""
    REBOOT = "reboot"
    """Hard reset; powers on a host that is off."""
    SOFT_REBOOT = "soft_reboot"
    """Ask the OS to restart."""


class BootDevice(enum.StrEnum):
    PXE = "pxe"
    DISK = "disk"
    CDROM = "cdrom"
    BIOS = "bios"
    """Firmware setup."""


class BootMode(enum.StrEnum):
    """Metal3's ``spec.bootMode`` values that a boot override can carry."""

    UEFI = "UEFI"
    LEGACY = "legacy"


class BootSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The boot override the BMC reports; ``None`` where the BMC does not say."""

    device: BootDevice | None
    persistent: bool | None
    mode: BootMode | None


class AccessInfo(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What a successful access check learned. Contains nothing secret."""

    system_id: str
    """The Redfish system path, or the IPMI ``host:port``."""
    powered_on: bool
    manufacturer: str = ""
    model: str = ""


class VirtualMediaState(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    device: str
    """The BMC's virtual media device id, e.g. ``Cd``."""
    image: str
    inserted: bool


class BmcClient(Protocol):
    """Power and boot control of one host's BMC."""

    async def validate_access(self) -> AccessInfo:
        """Log in and read the system; distinct errors for credentials, reachability, TLS, system."""
        ...

    async def get_power(self) -> bool:
        """Whether the host is powered on right now."""
        ...

    async def set_power(self, action: PowerAction) -> None:
        """Request a power change; the BMC may apply it later."""
        ...

    async def get_boot(self) -> BootSettings: ...

    async def set_boot_device(
        self, device: BootDevice, *, persistent: bool = False, mode: BootMode | None = None
    ) -> None:
        """Boot from ``device`` next time (``persistent``: every time), optionally in ``mode``."""
        ...

    async def aclose(self) -> None:
        """Release sessions and sockets. Idempotent."""
        ...


class InventoryClient(Protocol):
    async def inspect(self) -> HardwareDetails:
        """Read the hardware inventory out of band."""
        ...


class VirtualMediaClient(Protocol):
    async def insert_media(self, image_url: str) -> VirtualMediaState:
        """Attach the ISO at ``image_url`` to the virtual CD drive (the BMC downloads it)."""
        ...

    async def eject_media(self) -> VirtualMediaState:
        """Detach whatever is in the virtual CD drive."""
        ...

    async def get_media(self) -> VirtualMediaState: ...
