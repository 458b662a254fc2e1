"""Spec rules Metal3 enforces in its validating webhook, checked when a spec is applied.

The CRD schema already refuses what OpenAPI can express (enums, patterns). What needs the
previous spec or the current state (immutable fields, fields that may only change in some
states) or spans several fields is checked here, and a violation rejects the spec change with
a message that names the field and what to do instead.
"""

from __future__ import annotations

from core.aggregates.host_state import HostState
from core.errors import CommandRejected
from core.events.host_values import FirmwareUpdate, HostSpec, ProvisioningState

PS = ProvisioningState

_BMC_ADDRESS_MUTABLE = frozenset({PS.NONE, PS.UNMANAGED, PS.REGISTERING})


def _reject(state: HostState, rule: str, detail: str) -> CommandRejected:
    return CommandRejected(rule=rule, state=str(state.provisioning_state) or "none", detail=detail)


def validate_spec(spec: HostSpec, state: HostState | None = None) -> None:
    """Raise ``CommandRejected`` when ``spec`` (replacing ``state.spec``) breaks a Metal3 rule."""
    current = state or HostState()
    if not spec.online and spec.disable_power_off:
        raise _reject(
            current,
            "online-with-disablePowerOff",
            "spec.online: false cannot be combined with spec.disablePowerOff: true; "
            "set online: true or remove disablePowerOff",
        )
    image = spec.image
    if image is not None:
        if not image.url:
            raise _reject(current, "image-url", "spec.image.url is empty; set it or remove spec.image")
        is_oci = image.url.startswith("oci://")
        if image.format != "live-iso" and not is_oci and not image.checksum:
            raise _reject(
                current,
                "image-checksum",
                "spec.image.checksum is required unless spec.image.format is live-iso or the url is oci://",
            )
        if is_oci and image.checksum:
            raise _reject(current, "image-checksum", "spec.image.checksum must be empty for oci:// images")
    raid = spec.raid
    if raid is not None and raid.hardware_raid_volumes and raid.software_raid_volumes:
        raise _reject(
            current,
            "raid-exclusive",
            "spec.raid: hardwareRAIDVolumes and softwareRAIDVolumes cannot both be set; keep one",
        )
    if raid is not None and raid.software_raid_volumes and len(raid.software_raid_volumes) > 2:
        raise _reject(current, "software-raid", "spec.raid.softwareRAIDVolumes allows at most 2 volumes")
    hints = spec.root_device_hints
    if hints is not None and hints.device_name and not hints.device_name.startswith("/dev/"):
        raise _reject(
            current,
            "root-device-name",
            "spec.rootDeviceHints.deviceName must be a /dev/... or /dev/disk/by-path/... path",
        )
    if state is None or not state.exists or state.deleted:
        return
    _validate_change(spec, state)


def _validate_change(spec: HostSpec, state: HostState) -> None:
    old = state.spec
    if (
        old.bmc.address
        and spec.bmc.address != old.bmc.address
        and state.provisioning_state not in _BMC_ADDRESS_MUTABLE
        and state.detach is None
    ):
        raise _reject(
            state,
            "bmc-address-immutable",
            "spec.bmc.address can only change while the host is registering or detached; "
            "detach the host (baremetalhost.metal3.io/detached) before changing it",
        )
    if old.boot_mac_address and spec.boot_mac_address != old.boot_mac_address:
        raise _reject(
            state,
            "boot-mac-immutable",
            f"spec.bootMACAddress cannot change once set (is {old.boot_mac_address}); "
            "delete and re-create the host to change it",
        )


_FIRMWARE_COMPONENTS = frozenset({"bmc", "bios"})
_NIC_PREFIX = "nic:"


def validate_firmware(
    settings: dict[str, str], updates: tuple[FirmwareUpdate, ...], state: HostState
) -> None:
    """Raise ``CommandRejected`` for BIOS settings or firmware updates Ironic could not apply.

    Metal3's HostFirmwareComponents webhook allows the components ``bmc``, ``bios`` and
    ``nic:<id>`` only, each at most once; every update needs a URL and every setting a name.
    """
    for name in settings:
        if not name.strip():
            raise _reject(
                state,
                "firmware-setting-name",
                "HostFirmwareSettings spec.settings has an empty setting name; remove it",
            )
    seen: set[str] = set()
    for index, update in enumerate(updates):
        where = f"HostFirmwareComponents spec.updates[{index}]"
        component = update.component
        nic = component.startswith(_NIC_PREFIX) and len(component) > len(_NIC_PREFIX)
        if component not in _FIRMWARE_COMPONENTS and not nic:
            raise _reject(
                state,
                "firmware-component",
                f"{where}.component {component!r} is not supported; use bmc, bios or nic:<id>",
            )
        if component in seen:
            raise _reject(
                state,
                "firmware-component",
                f"{where}.component {component!r} appears twice; keep one update per component",
            )
        seen.add(component)
        if not update.url:
            raise _reject(state, "firmware-url", f"{where}.url is empty; set the firmware image URL")
