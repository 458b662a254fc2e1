"""What a BareMetalHost is asked to become: image, root device hints, RAID, custom deploy.

These fragments appear twice in a host, once as the user's request (``spec``) and once as what
was applied (``status.provisioning``, ``status.lastAttemptedImage``). Only the request carries the
CEL rules Metal3's admission webhook enforces; the status copies are written by metalstream
itself from a request that already passed them, and a status update must never be refused for a
rule that was tightened after the host was provisioned.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.schema import Rule, Schema, array, boolean, enum, integer, obj, string

IMAGE_URL_SCHEMES: Final = ("http", "https", "ftp", "gopher", "oci")
"""URL schemes Metal3 accepts for images, data images and firmware updates."""

_SCHEMES_CEL: Final = "[" + ", ".join(f"'{scheme}'" for scheme in IMAGE_URL_SCHEMES) + "]"


def url_rule(field: str, *, path: str | None = None) -> Rule:
    """``field`` (a CEL expression on ``self``) is an absolute URL with one of Metal3's image schemes."""
    return Rule(
        f"isURL({field}) && url({field}).getScheme() in {_SCHEMES_CEL}",
        f"must be an absolute URL with scheme {', '.join(IMAGE_URL_SCHEMES)}",
        field_path=path,
    )


_DEVICE_NAME_PATTERN: Final = r"^/dev/(disk/by-path/)?[^/]*$"


def root_device_hints(*, validated: bool) -> Schema:
    """``RootDeviceHints``: which disk to install to. All given hints must match the same disk."""
    device_name = (
        string(
            pattern=_DEVICE_NAME_PATTERN,
            description="A Linux device path under /dev/ or /dev/disk/by-path/, e.g. /dev/sda.",
        )
        if validated
        else string(description="A Linux device name, e.g. /dev/sda.")
    )
    return obj(
        {
            "deviceName": device_name,
            "hctl": string(description="SCSI host:channel:target:lun."),
            "model": string(),
            "vendor": string(),
            "serialNumber": string(),
            "minSizeGigabytes": integer(minimum=0),
            "wwn": string(),
            "wwnWithExtension": string(),
            "wwnVendorExtension": string(),
            "rotational": boolean(),
        }
    )


HARDWARE_RAID_LEVELS: Final = ("0", "1", "2", "5", "6", "1+0", "5+0", "6+0")
SOFTWARE_RAID_LEVELS: Final = ("0", "1", "1+0")


def _hardware_volume(*, validated: bool) -> Schema:
    rules = (
        (
            Rule(
                "!has(self.physicalDisks) || size(self.physicalDisks) == 0"
                " || (has(self.controller) && self.controller != '')",
                "physicalDisks needs a controller",
                field_path=".controller",
                reason="FieldValueRequired",
            ),
            Rule(
                "!has(self.numberOfPhysicalDisks) || !has(self.physicalDisks)"
                " || size(self.physicalDisks) == 0 || self.numberOfPhysicalDisks == size(self.physicalDisks)",
                "numberOfPhysicalDisks must equal the number of physicalDisks listed",
                field_path=".numberOfPhysicalDisks",
            ),
        )
        if validated
        else ()
    )
    return obj(
        {
            "sizeGibibytes": integer(minimum=0),
            "level": enum(*HARDWARE_RAID_LEVELS),
            "name": string(max_length=64),
            "rotational": boolean(),
            "numberOfPhysicalDisks": integer(minimum=1),
            "controller": string(),
            "physicalDisks": array(string()),
        },
        required=("level",),
        rules=rules,
    )


def _software_volume(*, validated: bool) -> Schema:
    rules = (
        (
            Rule(
                "!has(self.rootVolume) || !self.rootVolume || self.level == '1'",
                "a software RAID root volume must use RAID level 1",
                field_path=".level",
            ),
        )
        if validated
        else ()
    )
    return obj(
        {
            "sizeGibibytes": integer(minimum=0),
            "level": enum(*SOFTWARE_RAID_LEVELS),
            "physicalDisks": array(root_device_hints(validated=False), min_items=2),
            "rootVolume": boolean(default=False),
        },
        required=("level",),
        rules=rules,
    )


def raid(*, validated: bool) -> Schema:
    """``RAIDConfig``: hardware or software volumes, never both. ``hardwareRAIDVolumes: []`` clears RAID."""
    rules = (
        (
            Rule(
                "!has(self.hardwareRAIDVolumes) || !has(self.softwareRAIDVolumes)"
                " || size(self.hardwareRAIDVolumes) == 0 || size(self.softwareRAIDVolumes) == 0",
                "hardwareRAIDVolumes and softwareRAIDVolumes cannot both be set: choose one kind of RAID",
            ),
            Rule(
                "!has(self.softwareRAIDVolumes)"
                " || self.softwareRAIDVolumes.filter(v, has(v.rootVolume) && v.rootVolume).size() <= 1",
                "at most one software RAID volume can be the rootVolume",
                field_path=".softwareRAIDVolumes",
            ),
        )
        if validated
        else ()
    )
    return obj(
        {
            "hardwareRAIDVolumes": array(_hardware_volume(validated=validated), nullable=True),
            "softwareRAIDVolumes": array(_software_volume(validated=validated), max_items=2, nullable=True),
        },
        rules=rules,
    )


CHECKSUM_TYPES: Final = ("md5", "sha256", "sha512", "auto")
DISK_FORMATS: Final = ("raw", "qcow2", "vdi", "vmdk", "live-iso")

_IS_OCI: Final = "self.url.lowerAscii().startsWith('oci://')"


def image(*, validated: bool) -> Schema:
    """``Image``: what to write to the root disk. A checksum is required except for live ISOs and
    ``oci://`` images, which embed theirs (and so must not carry one)."""
    rules = (
        (
            url_rule("self.url", path=".url"),
            Rule(
                f"!{_IS_OCI} || !has(self.checksum) || self.checksum == ''",
                "checksum must be empty for an oci:// image: its checksum is embedded",
                field_path=".checksum",
                reason="FieldValueForbidden",
            ),
            Rule(
                f"{_IS_OCI} || (has(self.format) && self.format == 'live-iso')"
                " || (has(self.checksum) && self.checksum != '')",
                "checksum is required unless the image is an oci:// image or its format is live-iso",
                field_path=".checksum",
                reason="FieldValueRequired",
            ),
        )
        if validated
        else ()
    )
    return obj(
        {
            "url": string(description="Where to download the image from."),
            "checksum": string(description="The checksum itself, or a URL to a checksum file."),
            "checksumType": enum(*CHECKSUM_TYPES),
            "format": enum(*DISK_FORMATS),
            "ociAuthSecretName": string(description="A Secret with registry credentials for oci:// images."),
        },
        required=("url",),
        rules=rules,
    )


CUSTOM_DEPLOY: Final = obj(
    {"method": string(description="The custom deploy step to run instead of writing an image.")},
    required=("method",),
)

FIRMWARE_CONFIG: Final = obj(
    {
        "virtualizationEnabled": boolean(),
        "simultaneousMultithreadingEnabled": boolean(),
        "sriovEnabled": boolean(),
    },
    description="Deprecated: use a HostFirmwareSettings resource.",
)

BOOT_MODES: Final = ("UEFI", "UEFISecureBoot", "legacy")
