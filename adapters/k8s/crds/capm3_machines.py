"""Metal3Machine and Metal3MachineTemplate: a Cluster API machine bound to one BareMetalHost.

The spec says which host may be chosen (``hostSelector``, ``failureDomain``) and what to put on
it (``image`` or ``customDeploy``, user/meta/network data or a ``dataTemplate``). As CEL rules,
mirroring CAPM3's webhook: an image or a custom deploy is required; an image needs a valid URL and a checksum
unless it is a live ISO or an ``oci://`` image, which must carry neither checksum nor type.
Secret references to another namespace are refused by the adapter (CEL cannot see the
namespace).
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.capm3_versioning import (
    CATEGORIES,
    CONTRACT_LABELS,
    GROUP,
    STORAGE,
    object_ref,
    served_versions,
    template_metadata,
)
from adapters.k8s.crds.common import SECRET_REF, capi_conditions, capi_v1beta1_conditions, conditions
from adapters.k8s.crds.declaring import AGE, CLUSTER_LABEL, CrdDeclaration, PrinterColumn
from adapters.k8s.crds.schema import Rule, Schema, array, boolean, enum, map_of, obj, string, timestamp
from adapters.k8s.resources import Resource

_DISK_FORMATS: Final = ("raw", "qcow2", "vdi", "vmdk", "live-iso")

_IMAGE: Final = obj(
    {
        "url": string(max_length=512, description="Where to download the image from."),
        "checksum": string(max_length=512, description="The checksum itself, or a URL to a checksum file."),
        "checksumType": enum("md5", "sha256", "sha512"),
        "diskFormat": enum(*_DISK_FORMATS, description="v1beta2 name of the disk format."),
        "format": enum(*_DISK_FORMATS, description="v1beta1 name of the disk format."),
    },
    required=("url",),
)

_NO_CUSTOM_DEPLOY: Final = "(!has(self.customDeploy) || self.customDeploy.method == '')"
_HAS_IMAGE: Final = "(has(self.image) && self.image.url != '')"
_OCI: Final = "self.image.url.lowerAscii().startsWith('oci://')"
_LIVE_ISO: Final = (
    "((has(self.image.diskFormat) && self.image.diskFormat == 'live-iso')"
    " || (has(self.image.format) && self.image.format == 'live-iso'))"
)
_CHECKSUM: Final = "(has(self.image.checksum) && self.image.checksum != '')"

_MACHINE_RULES: Final = (
    Rule(
        f"!{_NO_CUSTOM_DEPLOY} || {_HAS_IMAGE}",
        "either image or customDeploy is required",
        field_path=".image",
        reason="FieldValueRequired",
    ),
    Rule(
        f"!{_NO_CUSTOM_DEPLOY} || !{_HAS_IMAGE} || isURL(self.image.url)",
        "image.url must be a valid absolute URL",
        field_path=".image.url",
    ),
    Rule(
        f"!{_NO_CUSTOM_DEPLOY} || !{_HAS_IMAGE} || !{_OCI}"
        f" || (!{_CHECKSUM} && !has(self.image.checksumType))",
        "an oci:// image carries its own checksum: image.checksum and image.checksumType must be empty",
        field_path=".image.checksum",
        reason="FieldValueForbidden",
    ),
    Rule(
        f"!{_NO_CUSTOM_DEPLOY} || !{_HAS_IMAGE} || {_OCI} || {_LIVE_ISO} || {_CHECKSUM}",
        "image.checksum is required unless the image is an oci:// image or a live-iso",
        field_path=".image.checksum",
        reason="FieldValueRequired",
    ),
)


def machine_spec() -> Schema:
    """``Metal3MachineSpec``, the superset of v1beta1 and v1beta2."""
    return obj(
        {
            "providerID": string(max_length=512, description="metal3://<namespace>/<host>/<machine>."),
            "image": _IMAGE,
            "customDeploy": obj({"method": string(max_length=512)}, required=("method",)),
            "userData": SECRET_REF,
            "hostSelector": obj(
                {
                    "matchLabels": map_of(string()),
                    "matchExpressions": array(
                        obj(
                            {
                                "key": string(max_length=512),
                                "operator": string(description="in, notin, exists, !, =, ==, !=, gt or lt."),
                                "values": array(string(max_length=512), max_items=512),
                            },
                            required=("key", "operator", "values"),
                        ),
                        max_items=512,
                    ),
                },
                description="Which BareMetalHosts (in this namespace) may be chosen.",
            ),
            "dataTemplate": object_ref(description="The Metal3DataTemplate rendering meta and network data."),
            "metaData": SECRET_REF,
            "networkData": SECRET_REF,
            "automatedCleaningMode": enum("metadata", "disabled"),
            "failureDomain": string(max_length=256),
        },
        rules=_MACHINE_RULES,
    )


def _status() -> Schema:
    address = obj(
        {
            "type": enum("Hostname", "ExternalIP", "InternalIP", "ExternalDNS", "InternalDNS"),
            "address": string(max_length=256),
        },
        required=("type", "address"),
    )
    return obj(
        {
            "conditions": capi_conditions(description="Ready, AssociateBareMetalHost, Metal3DataReady, ..."),
            "lastUpdated": timestamp(),
            "addresses": array(address, max_items=32),
            "initialization": obj({"provisioned": boolean()}),
            "userData": SECRET_REF,
            "renderedData": object_ref(description="The Metal3Data rendered for this machine."),
            "metaData": SECRET_REF,
            "networkData": SECRET_REF,
            "deprecated": obj(
                {
                    "v1beta1": obj(
                        {
                            "conditions": capi_v1beta1_conditions(),
                            "failureReason": string(),
                            "failureMessage": string(),
                        }
                    )
                }
            ),
            "ready": boolean(description="v1beta1: the machine infrastructure is ready."),
            "phase": string(description="v1beta1."),
            "failureReason": string(description="v1beta1."),
            "failureMessage": string(description="v1beta1."),
            "v1beta2": obj(
                {"conditions": conditions()}, description="v1beta1's copy of the v1beta2 conditions."
            ),
        }
    )


_PROVIDER_ID: Final = PrinterColumn("ProviderID", ".spec.providerID", description="Provider ID")

METAL3MACHINE: Final = CrdDeclaration(
    resource=Resource(group=GROUP, version=STORAGE, plural="metal3machines", kind="Metal3Machine"),
    singular="metal3machine",
    short_names=("m3m", "m3machine", "m3machines", "metal3m", "metal3machine"),
    categories=CATEGORIES,
    labels=CONTRACT_LABELS,
    spec=machine_spec(),
    status=_status(),
    versions=served_versions(
        (
            AGE,
            _PROVIDER_ID,
            PrinterColumn(
                "Provisioned", ".status.initialization.provisioned", description="Machine is provisioned"
            ),
            CLUSTER_LABEL,
        ),
        v1beta1_columns=(
            AGE,
            _PROVIDER_ID,
            PrinterColumn("Ready", ".status.ready", description="Machine infrastructure is ready"),
            CLUSTER_LABEL,
            PrinterColumn("Phase", ".status.phase", description="Machine phase"),
        ),
    ),
    description="The bare-metal side of a Cluster API Machine: which BareMetalHost, provisioned with what.",
)

METAL3MACHINETEMPLATE: Final = CrdDeclaration(
    resource=Resource(
        group=GROUP, version=STORAGE, plural="metal3machinetemplates", kind="Metal3MachineTemplate"
    ),
    singular="metal3machinetemplate",
    short_names=("m3mt", "m3machinetemplate", "m3machinetemplates", "metal3mt", "metal3machinetemplate"),
    categories=CATEGORIES,
    labels=CONTRACT_LABELS,
    spec=obj(
        {
            "template": obj({"metadata": template_metadata(), "spec": machine_spec()}, required=("spec",)),
            "nodeReuse": boolean(
                default=False,
                description="Give a released host back to the same MachineDeployment or control plane.",
            ),
        },
        required=("template",),
    ),
    status=None,
    status_subresource=False,
    versions=served_versions((AGE,)),
    description="A Metal3Machine blueprint for MachineDeployments and control planes.",
)
