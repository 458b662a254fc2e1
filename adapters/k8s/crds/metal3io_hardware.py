"""HardwareData, and the ``HardwareDetails`` inventory it shares with ``BareMetalHost.status.hardware``.

Inspection produces this inventory once per host; Metal3 keeps it in a HardwareData object named
like the host (and, for now, a copy in the host's status). Every field is typed so that
``kubectl get hd -o jsonpath`` and the CAPM3 host selection (``nics[].ip``, ``hostname``) see
exactly what was inspected; there is no status subresource because the object is data, written
whole by the host controller.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.declaring import AGE, CrdDeclaration, ServedVersion
from adapters.k8s.crds.schema import Schema, array, boolean, enum, integer, number, obj, string
from adapters.k8s.resources import Resource

MAC_PATTERN: Final = r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$"
"""A colon-separated 48-bit MAC. Anchored, unlike Metal3's, which let a MAC with trailing text in."""

_VLAN_ID: Final = integer(minimum=0, maximum=4094, fmt="int32")


def _nic() -> Schema:
    return obj(
        {
            "name": string(description="The interface name, e.g. eth0."),
            "model": string(description="Vendor and product IDs, e.g. '0x8086 0x1572'."),
            "mac": string(pattern=MAC_PATTERN),
            "ip": string(description="One IP address of the interface, v4 or v6."),
            "speedGbps": integer(),
            "vlans": array(obj({"id": _VLAN_ID, "name": string()})),
            "vlanId": _VLAN_ID,
            "pxe": boolean(description="Whether the host booted (or may boot) from this interface."),
            "lldp": obj({"switchID": string(), "portID": string(), "switchSystemName": string()}),
            "pciAddress": string(),
        }
    )


def _storage() -> Schema:
    return obj(
        {
            "name": string(description="A Linux device name, e.g. /dev/sda."),
            "alternateNames": array(string()),
            "rotational": boolean(),
            "type": enum("HDD", "SSD", "NVME"),
            "sizeBytes": integer(fmt="int64"),
            "vendor": string(),
            "model": string(),
            "serialNumber": string(),
            "wwn": string(),
            "wwnVendorExtension": string(),
            "wwnWithExtension": string(),
            "hctl": string(description="SCSI host:channel:target:lun."),
        }
    )


def hardware_details() -> Schema:
    """``HardwareDetails``: what inspection found on one host."""
    return obj(
        {
            "systemVendor": obj(
                {"manufacturer": string(), "productName": string(), "serialNumber": string()}
            ),
            "firmware": obj({"bios": obj({"date": string(), "vendor": string(), "version": string()})}),
            "ramMebibytes": integer(),
            "nics": array(_nic()),
            "storage": array(_storage()),
            "cpu": obj(
                {
                    "arch": string(),
                    "model": string(),
                    "clockMegahertz": number(),
                    "flags": array(string()),
                    "count": integer(),
                }
            ),
            "hostname": string(),
        },
        description="Inventory found by inspection.",
    )


HARDWAREDATA: Final = CrdDeclaration(
    resource=Resource(group="metal3.io", version="v1alpha1", plural="hardwaredata", kind="HardwareData"),
    singular="hardwaredata",
    short_names=("hd",),
    spec=obj({"hardware": hardware_details()}),
    status=None,
    status_subresource=False,
    versions=(ServedVersion("v1alpha1", storage=True, columns=(AGE,)),),
    description="The hardware inventory of the BareMetalHost of the same name.",
)
