"""What a deploy tells Ironic: ``instance_info``, capabilities, root device hints, config drive.

Pure functions from the host's spec to Ironic's JSON, following BMO
(``pkg/provisioner/ironic/ironic.go`` ``getInstanceUpdateOpts``, ``getConfigDrive``,
``devicehints/devicehints.go``, ``capabilities.go``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from adapters.ironic import wire
from core.aggregates.host_state import HostState
from core.events.host_values import BootMode, Image, RootDeviceHints

_HASH_ALGORITHMS: Final = frozenset({"sha256", "sha512"})
LIVE_ISO: Final = "live-iso"


def boot_mode_capability(mode: BootMode) -> str:
    """``properties.capabilities`` for the boot mode (``boot_mode:uefi`` etc.)."""
    if mode == "legacy":
        return "boot_mode:bios"
    if mode == "UEFISecureBoot":
        return "boot_mode:uefi,secure_boot:true"
    return "boot_mode:uefi"


def root_device_hints(hints: RootDeviceHints | None) -> dict[str, Any]:
    """Metal3's hints in Ironic's operator syntax (``s==``, ``<in>``, ``>=``)."""
    if hints is None:
        return {}
    out: dict[str, Any] = {}
    if hints.device_name:
        key = "by_path" if hints.device_name.startswith("/dev/disk/by-path/") else "name"
        out[key] = f"s== {hints.device_name}"
    if hints.hctl:
        out["hctl"] = f"s== {hints.hctl}"
    if hints.model:
        out["model"] = f"<in> {hints.model}"
    if hints.vendor:
        out["vendor"] = f"<in> {hints.vendor}"
    if hints.serial_number:
        out["serial"] = f"s== {hints.serial_number}"
    if hints.min_size_gigabytes:
        out["size"] = f">= {hints.min_size_gigabytes}"
    if hints.wwn:
        out["wwn"] = f"s== {hints.wwn}"
    if hints.wwn_with_extension:
        out["wwn_with_extension"] = f"s== {hints.wwn_with_extension}"
    if hints.wwn_vendor_extension:
        out["wwn_vendor_extension"] = f"s== {hints.wwn_vendor_extension}"
    if hints.rotational is not None:
        out["rotational"] = "true" if hints.rotational else "false"
    return out


def image_fields(image: Image) -> dict[str, Any]:
    """``image_*`` keys for an image (or ``boot_iso`` for a live ISO)."""
    if image.format == LIVE_ISO:
        return {"boot_iso": image.url}
    out: dict[str, Any] = {"image_source": image.url}
    if image.checksum:
        if image.checksum_type in _HASH_ALGORITHMS:
            out["image_os_hash_algo"] = image.checksum_type
            out["image_os_hash_value"] = image.checksum
        else:
            # md5, "auto" and unset: Ironic detects the algorithm from the value (or fetches a URL).
            out["image_checksum"] = image.checksum
    if image.format:
        out["image_disk_format"] = image.format
    return out


def instance_info(state: HostState) -> dict[str, Any]:
    """The whole ``instance_info`` for provisioning (or adopting) the host's spec."""
    spec = state.spec
    info: dict[str, Any] = {}
    if spec.image is not None:
        info.update(image_fields(spec.image))
    hints = root_device_hints(spec.root_device_hints)
    if hints:
        info["root_device"] = hints
    capabilities: dict[str, str] = {}
    if spec.boot_mode == "UEFISecureBoot":
        capabilities["secure_boot"] = "true"
    if capabilities:
        info["capabilities"] = capabilities
    return info


def deploy_interface(state: HostState, default: str | None) -> str | None:
    """``ramdisk`` for a live ISO, ``custom-agent`` for a custom deploy, else the driver default."""
    spec = state.spec
    if spec.image is not None and spec.image.format == LIVE_ISO:
        return "ramdisk"
    if spec.custom_deploy is not None:
        return "custom-agent"
    return default


def deploy_steps(state: HostState) -> list[wire.Step] | None:
    custom = state.spec.custom_deploy
    if custom is None:
        return None
    return [wire.Step(interface="deploy", step=custom.method, priority=80, args={})]


def image_description(image: Image | None) -> str:
    """``url: ..., checksum: ...`` for error messages, like Metal3's."""
    if image is None:
        return "url: , checksum: "
    return f"url: {image.url}, checksum: {image.checksum or ''}"


def image_matches(node_info: Mapping[str, Any], image: Image | None) -> bool:
    """Whether Ironic's ``instance_info`` names the image the spec asks for."""
    if image is None:
        return False
    if image.format == LIVE_ISO:
        return bool(node_info.get("boot_iso") == image.url)
    return bool(node_info.get("image_source") == image.url)


def meta_data(state: HostState, overlay: Mapping[str, Any] | None) -> dict[str, Any]:
    """Metal3's config drive meta data defaults, overlaid by the metaData Secret."""
    out: dict[str, Any] = {
        "uuid": state.uid,
        "metal3-namespace": state.namespace,
        "metal3-name": state.name,
        "local-hostname": state.name,
        "local_hostname": state.name,
        "name": state.name,
    }
    out.update(overlay or {})
    return out


def config_drive(
    state: HostState,
    *,
    user_data: str | None,
    network_data: Mapping[str, Any] | None,
    meta_overlay: Mapping[str, Any] | None,
) -> wire.ConfigDrive | None:
    """The config drive for a deploy (none for a live ISO, which boots as it is)."""
    if state.spec.image is not None and state.spec.image.format == LIVE_ISO:
        return None
    return wire.ConfigDrive(
        meta_data=meta_data(state, meta_overlay),
        user_data=user_data,
        network_data=dict(network_data) if network_data is not None else None,
    )
