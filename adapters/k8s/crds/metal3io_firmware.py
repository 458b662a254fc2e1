"""Firmware kinds: HostFirmwareSettings, FirmwareSchema, HostFirmwareComponents, HostUpdatePolicy.

Each is named like its BareMetalHost (FirmwareSchema excepted: one per vendor/model, shared).
The desired BIOS settings are a free map of name to integer-or-string because their names and
types are the vendor's; they are checked against the FirmwareSchema by the adapter, which
reports a ``Valid=False`` condition as Metal3 does instead of refusing the object.
Firmware update URLs are the adapter's to check: a CEL URL check per entry of an unbounded list
of unbounded strings exceeds the API server's rule cost budget.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.common import conditions
from adapters.k8s.crds.declaring import CrdDeclaration, ServedVersion
from adapters.k8s.crds.schema import (
    Schema,
    array,
    boolean,
    enum,
    int_or_string,
    integer,
    map_of,
    obj,
    string,
    timestamp,
)
from adapters.k8s.resources import Resource

_GROUP: Final = "metal3.io"
_VERSION: Final = "v1alpha1"
_V1ALPHA1: Final = (ServedVersion(_VERSION, storage=True),)


def _firmware_update() -> Schema:
    return obj(
        {
            "component": string(description="bmc, bios, or nic:<id>."),
            "url": string(description="Where to download the firmware from."),
        },
        required=("component", "url"),
    )


HOSTFIRMWARESETTINGS: Final = CrdDeclaration(
    resource=Resource(
        group=_GROUP, version=_VERSION, plural="hostfirmwaresettings", kind="HostFirmwareSettings"
    ),
    singular="hostfirmwaresettings",
    short_names=("hfs",),
    spec=obj(
        {"settings": map_of(int_or_string(), description="Desired BIOS settings, by name.")},
        required=("settings",),
    ),
    status=obj(
        {
            "schema": obj(
                {"name": string(), "namespace": string()},
                required=("name", "namespace"),
                description="The FirmwareSchema these settings are checked against.",
            ),
            "settings": map_of(string(), description="The BIOS settings the host has now."),
            "lastUpdated": timestamp(),
            "conditions": conditions(description="ChangeDetected and Valid."),
        },
        required=("settings",),
    ),
    versions=_V1ALPHA1,
    description="BIOS settings of the BareMetalHost of the same name: desired in spec, actual in status.",
)

_ATTRIBUTE: Final = obj(
    {
        "attribute_type": enum("Enumeration", "String", "Integer", "Boolean", "Password"),
        "allowable_values": array(string()),
        "lower_bound": integer(),
        "upper_bound": integer(),
        "min_length": integer(),
        "max_length": integer(),
        "read_only": boolean(),
        "unique": boolean(),
    }
)

FIRMWARESCHEMA: Final = CrdDeclaration(
    resource=Resource(group=_GROUP, version=_VERSION, plural="firmwareschemas", kind="FirmwareSchema"),
    singular="firmwareschema",
    spec=obj(
        {
            "hardwareVendor": string(),
            "hardwareModel": string(),
            "schema": map_of(_ATTRIBUTE, description="The settings a vendor's BIOS knows, by name."),
        },
        required=("schema",),
    ),
    status=None,
    status_subresource=False,
    versions=_V1ALPHA1,
    description="The BIOS settings one hardware vendor and model accept, shared by the hosts that have them.",
)

HOSTFIRMWARECOMPONENTS: Final = CrdDeclaration(
    resource=Resource(
        group=_GROUP, version=_VERSION, plural="hostfirmwarecomponents", kind="HostFirmwareComponents"
    ),
    singular="hostfirmwarecomponents",
    spec=obj({"updates": array(_firmware_update())}, required=("updates",)),
    status=obj(
        {
            "updates": array(_firmware_update()),
            "components": array(
                obj(
                    {
                        "component": string(),
                        "initialVersion": string(),
                        "currentVersion": string(),
                        "lastVersionFlashed": string(),
                        "updatedAt": timestamp(),
                    },
                    required=("component", "initialVersion"),
                )
            ),
            "lastUpdated": timestamp(),
            "conditions": conditions(description="ChangeDetected and Valid."),
        }
    ),
    versions=_V1ALPHA1,
    description="Firmware components of the BareMetalHost of the same name, and updates to flash.",
)

_UPDATE_POLICY: Final = ("onPreparing", "onReboot")

HOSTUPDATEPOLICY: Final = CrdDeclaration(
    resource=Resource(group=_GROUP, version=_VERSION, plural="hostupdatepolicies", kind="HostUpdatePolicy"),
    singular="hostupdatepolicy",
    spec=obj(
        {
            "firmwareSettings": enum(*_UPDATE_POLICY),
            "firmwareUpdates": enum(*_UPDATE_POLICY),
        }
    ),
    status=obj({}),
    status_subresource=False,
    versions=_V1ALPHA1,
    description="When the BareMetalHost of the same name applies firmware changes; onReboot: servicing.",
)
