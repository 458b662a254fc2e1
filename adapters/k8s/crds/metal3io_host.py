"""BareMetalHost: the kind users and CAPM3 write, and the one metalstream's host aggregate projects.

The schema follows Metal3's wire format to the letter (``status.provisioning.ID`` with a capital,
``goodCredentials``, ``operationHistory``), so Metal3 manifests, CAPM3 and ``kubectl`` keep working.
Rules that Metal3 enforces in its admission webhook and that depend on nothing but the object are
CEL rules here, so the API server refuses a bad host before metalstream ever sees it:

* ``online`` is required, and cannot be false while ``disablePowerOff`` is true;
* ``bootMACAddress`` is a MAC, cannot change once set (compared case-insensitively), and is
  required when ``inspectionMode`` is ``disabled``;
* RAID is hardware or software, never both; one software root volume at most, RAID level 1,
  and not together with ``rootDeviceHints``;
* ``image.url`` is an http(s)/ftp/gopher/oci URL; a checksum is required except for live ISOs
  and ``oci://`` images, where it must be empty;
* the deprecated ``firmware`` field is refused; the host name cannot be a UUID;
* ``bmc.address`` changes only while registering or detached; ``externallyProvisioned`` turns on
  only while available.

Not expressible here, left to the adapter: what depends on the BMC driver (does it need a MAC,
support RAID, secure boot or fast inspection, is the address parseable), Secret references to
another namespace (a CEL rule cannot see ``metadata.namespace``), the ``inspect.metal3.io``,
reboot, status and hardware-details annotations (annotations are invisible to CEL), and
duplicate ``networkInterfaces`` selectors.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.common import OBJECT_REF, SECRET_REF, conditions
from adapters.k8s.crds.declaring import AGE, CrdDeclaration, PrinterColumn, ServedVersion
from adapters.k8s.crds.metal3io_hardware import MAC_PATTERN, hardware_details
from adapters.k8s.crds.metal3io_provisioning import (
    BOOT_MODES,
    CUSTOM_DEPLOY,
    FIRMWARE_CONFIG,
    image,
    raid,
    root_device_hints,
)
from adapters.k8s.crds.schema import Rule, Schema, array, boolean, enum, integer, obj, string, timestamp
from adapters.k8s.resources import Resource

OPERATIONAL_STATUSES: Final = ("", "OK", "discovered", "error", "delayed", "detached", "servicing")
ERROR_TYPES: Final = (
    "",
    "provisioned registration error",
    "registration error",
    "inspection error",
    "preparation error",
    "provisioning error",
    "power management error",
    "servicing error",
)

_BMC: Final = obj(
    {
        "address": string(
            description="How to reach the BMC, e.g. redfish-virtualmedia://10.0.0.5/redfish/v1/..."
        ),
        "credentialsName": string(description="A Secret in this namespace with keys username and password."),
        "disableCertificateVerification": boolean(),
    },
    required=("address", "credentialsName"),
)

_NETWORK_INTERFACE: Final = obj(
    {
        "name": string(pattern=r"^[a-zA-Z0-9._-]+$"),
        "macAddress": string(pattern=MAC_PATTERN),
        "hostNetworkAttachment": obj({"name": string(max_length=253), "namespace": string(max_length=63)}),
        "switchPort": obj(
            {"switchID": string(pattern=MAC_PATTERN), "portID": string()}, required=("switchID", "portID")
        ),
    },
    rules=(
        Rule(
            "(has(self.name) && self.name != '') || (has(self.macAddress) && self.macAddress != '')",
            "a network interface needs a name or a macAddress",
            reason="FieldValueRequired",
        ),
        Rule(
            "!has(self.name) || self.name == '' || !has(self.macAddress) || self.macAddress == ''",
            "name and macAddress are mutually exclusive: select the interface by one of them",
        ),
    ),
)

_TAINT: Final = obj(
    {"key": string(), "value": string(), "effect": string(), "timeAdded": timestamp()},
    required=("key", "effect"),
)

_SPEC_RULES: Final = (
    Rule(
        "!has(self.disablePowerOff) || !self.disablePowerOff || self.online",
        "online cannot be false while disablePowerOff is true: a host that must not power off stays online",
        field_path=".online",
    ),
    Rule(
        "!has(self.bmc) || !has(self.inspectionMode) || self.inspectionMode != 'disabled'"
        " || (has(self.bootMACAddress) && self.bootMACAddress != '')",
        "bootMACAddress is required when inspectionMode is disabled",
        field_path=".bootMACAddress",
        reason="FieldValueRequired",
    ),
    Rule(
        "!has(self.firmware)",
        "the firmware field is no longer supported: use a HostFirmwareSettings resource instead",
        field_path=".firmware",
        reason="FieldValueForbidden",
    ),
    Rule(
        "!has(self.rootDeviceHints) || !has(self.raid) || !has(self.raid.softwareRAIDVolumes)"
        " || self.raid.softwareRAIDVolumes.all(v, !has(v.rootVolume) || !v.rootVolume)",
        "a software RAID rootVolume and rootDeviceHints cannot both be set",
        field_path=".rootDeviceHints",
    ),
    Rule(
        "!has(oldSelf.bootMACAddress) || oldSelf.bootMACAddress == ''"
        " || (has(self.bootMACAddress)"
        " && self.bootMACAddress.lowerAscii() == oldSelf.bootMACAddress.lowerAscii())",
        "bootMACAddress cannot be changed once it is set",
        field_path=".bootMACAddress",
    ),
)


def _spec() -> Schema:
    return obj(
        {
            "taints": array(_TAINT, description="Deprecated and never implemented."),
            "bmc": _BMC,
            "raid": raid(validated=True),
            "firmware": FIRMWARE_CONFIG,
            "hardwareProfile": string(description="Deprecated."),
            "rootDeviceHints": root_device_hints(validated=True),
            "bootMode": enum(*BOOT_MODES, description="How the host boots; UEFI when not given."),
            "bootMACAddress": string(pattern=MAC_PATTERN, description="The MAC of the provisioning NIC."),
            "online": boolean(description="Whether the host should be powered on."),
            "consumerRef": OBJECT_REF,
            "image": image(validated=True),
            "userData": SECRET_REF,
            "preprovisioningNetworkDataName": string(),
            "networkData": SECRET_REF,
            "metaData": SECRET_REF,
            "description": string(),
            "externallyProvisioned": boolean(),
            "automatedCleaningMode": enum("metadata", "disabled", default="metadata"),
            "customDeploy": CUSTOM_DEPLOY,
            "architecture": string(description="The CPU architecture, e.g. x86_64 or aarch64."),
            "disablePowerOff": boolean(description="Reboot instead of powering off; requires online."),
            "inspectionMode": enum("disabled", "agent", "fast"),
            "networkInterfaces": array(_NETWORK_INTERFACE),
        },
        required=("online",),
        rules=_SPEC_RULES,
    )


def _credentials() -> Schema:
    return obj({"credentials": SECRET_REF, "credentialsVersion": string()})


def _operation_metric() -> Schema:
    return obj({"start": timestamp(nullable=True), "end": timestamp(nullable=True)})


def _status() -> Schema:
    return obj(
        {
            "operationalStatus": enum(*OPERATIONAL_STATUSES),
            "errorType": enum(*ERROR_TYPES),
            "lastUpdated": timestamp(),
            "hardwareProfile": string(),
            "hardware": hardware_details(),
            "provisioning": obj(
                {
                    "state": string(description="The provisioning state, e.g. available or provisioned."),
                    "ID": string(description="The Ironic node UUID."),
                    "image": image(validated=False),
                    "rootDeviceHints": root_device_hints(validated=False),
                    "bootMode": enum(*BOOT_MODES),
                    "raid": raid(validated=False),
                    "firmware": FIRMWARE_CONFIG,
                    "customDeploy": CUSTOM_DEPLOY,
                },
                required=("state", "ID"),
            ),
            "goodCredentials": _credentials(),
            "triedCredentials": _credentials(),
            "errorMessage": string(),
            "poweredOn": boolean(),
            "operationHistory": obj(
                {name: _operation_metric() for name in ("register", "inspect", "provision", "deprovision")}
            ),
            "errorCount": integer(default=0, minimum=0),
            "provisioningFailCount": integer(default=0, minimum=0),
            "lastAttemptedImage": image(validated=False),
            "conditions": conditions(),
        },
        required=(
            "operationalStatus",
            "provisioning",
            "errorMessage",
            "poweredOn",
            "errorCount",
            "provisioningFailCount",
        ),
    )


_ROOT_RULES: Final = (
    Rule(
        "!self.metadata.name.matches('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')"
        " && !self.metadata.name.matches('^[0-9a-f]{32}$')",
        "metadata.name cannot be a UUID: Ironic would take it for a node ID",
        field_path=".metadata",
    ),
    Rule(
        "!has(oldSelf.spec) || !has(oldSelf.spec.bmc) || oldSelf.spec.bmc.address == ''"
        " || (has(self.spec) && has(self.spec.bmc) && self.spec.bmc.address == oldSelf.spec.bmc.address)"
        " || (has(oldSelf.status) && (oldSelf.status.operationalStatus == 'detached'"
        " || oldSelf.status.provisioning.state == 'registering'))",
        "bmc.address can only change while the host is registering or detached",
        field_path=".spec.bmc.address",
    ),
    Rule(
        "!has(self.spec) || !has(self.spec.externallyProvisioned) || !self.spec.externallyProvisioned"
        " || (has(oldSelf.spec) && has(oldSelf.spec.externallyProvisioned)"
        " && oldSelf.spec.externallyProvisioned)"
        " || (has(oldSelf.status) && oldSelf.status.provisioning.state == 'available')",
        "externallyProvisioned can only be turned on while the host is available",
        field_path=".spec.externallyProvisioned",
    ),
)

BAREMETALHOST: Final = CrdDeclaration(
    resource=Resource(group="metal3.io", version="v1alpha1", plural="baremetalhosts", kind="BareMetalHost"),
    singular="baremetalhost",
    short_names=("bmh", "bmhost"),
    spec=_spec(),
    status=_status(),
    rules=_ROOT_RULES,
    versions=(
        ServedVersion(
            "v1alpha1",
            storage=True,
            columns=(
                PrinterColumn(
                    "Status", ".status.operationalStatus", priority=1, description="Operational status"
                ),
                PrinterColumn("State", ".status.provisioning.state", description="Provisioning state"),
                PrinterColumn("Consumer", ".spec.consumerRef.name", description="Consumer using this host"),
                PrinterColumn("BMC", ".spec.bmc.address", priority=1, description="Address of the BMC"),
                PrinterColumn("Online", ".spec.online", description="Whether the host should be powered on"),
                PrinterColumn("Error", ".status.errorType", description="Type of the most recent error"),
                AGE,
            ),
        ),
    ),
    description="A physical server managed through its BMC: registered, inspected, provisioned and powered.",
)
