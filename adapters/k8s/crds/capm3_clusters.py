"""Metal3Cluster and Metal3ClusterTemplate: the infrastructure side of a Cluster API cluster.

There is little bare-metal about a cluster: CAPM3 checks that the control-plane endpoint has a
host (and, in a template, a port) and reports the cluster provisioned. The port defaults to
6443 as CAPM3's defaulting webhook does. ``cloudProviderEnabled`` is not defaulted: a v1beta1
object says the same thing through ``noCloudProvider``, and a default would contradict it.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.capm3_versioning import (
    CATEGORIES,
    CONTRACT_LABELS,
    GROUP,
    STORAGE,
    served_versions,
    template_metadata,
)
from adapters.k8s.crds.common import capi_conditions, capi_v1beta1_conditions, conditions
from adapters.k8s.crds.declaring import AGE, CLUSTER_LABEL, CrdDeclaration, PrinterColumn
from adapters.k8s.crds.schema import Rule, Schema, any_json, boolean, integer, obj, string, timestamp
from adapters.k8s.resources import Resource

_HOST_SET: Final = "has(self.controlPlaneEndpoint) && has(self.controlPlaneEndpoint.host)"


def _failure_domains(where: str) -> Schema:
    return any_json(
        description=f"Failure domains {where}: a map by name (v1beta1) or a list of named entries (v1beta2)."
    )


def cluster_spec(*, template: bool) -> Schema:
    """``Metal3ClusterSpec``; a template's also needs an explicit port (nothing defaults it later)."""
    rules = [
        Rule(
            f"{_HOST_SET} && self.controlPlaneEndpoint.host != ''",
            "controlPlaneEndpoint.host is required",
            field_path=".controlPlaneEndpoint",
            reason="FieldValueRequired",
        )
    ]
    if template:
        rules.append(
            Rule(
                "has(self.controlPlaneEndpoint) && has(self.controlPlaneEndpoint.port)",
                "controlPlaneEndpoint.port is required",
                field_path=".controlPlaneEndpoint",
                reason="FieldValueRequired",
            )
        )
    port = (
        integer(minimum=1, maximum=65535, fmt="int32")
        if template
        else integer(minimum=1, maximum=65535, fmt="int32", default=6443)
    )
    return obj(
        {
            "controlPlaneEndpoint": obj(
                {"host": string(max_length=512), "port": port},
                description="Where the workload cluster's API server is reached.",
            ),
            "cloudProviderEnabled": boolean(
                description="Whether a cloud provider sets Node providerIDs; if false, CAPM3 sets them."
            ),
            "noCloudProvider": boolean(description="v1beta1: the negation of cloudProviderEnabled."),
            "failureDomains": _failure_domains("to spread machines over"),
        },
        rules=rules,
    )


def _status() -> Schema:
    return obj(
        {
            "conditions": capi_conditions(description="Ready, Paused, BaremetalInfrastructureReady."),
            "lastUpdated": timestamp(),
            "initialization": obj({"provisioned": boolean()}),
            "failureDomains": _failure_domains("available"),
            "deprecated": obj(
                {
                    "v1beta1": obj(
                        {
                            "conditions": capi_v1beta1_conditions(),
                            "failureReason": string(),
                            "failureMessage": string(max_length=1024),
                        }
                    )
                }
            ),
            "ready": boolean(description="v1beta1: the cluster infrastructure is ready."),
            "failureReason": string(description="v1beta1."),
            "failureMessage": string(description="v1beta1."),
            "v1beta2": obj(
                {"conditions": conditions()}, description="v1beta1's copy of the v1beta2 conditions."
            ),
        }
    )


_ERROR: Final = "Most recent error"
_ENDPOINT: Final = PrinterColumn(
    "Endpoint", ".spec.controlPlaneEndpoint", description="Control plane endpoint"
)

METAL3CLUSTER: Final = CrdDeclaration(
    resource=Resource(group=GROUP, version=STORAGE, plural="metal3clusters", kind="Metal3Cluster"),
    singular="metal3cluster",
    short_names=("m3c", "m3cluster", "m3clusters", "metal3c", "metal3cluster"),
    categories=CATEGORIES,
    labels=CONTRACT_LABELS,
    spec=cluster_spec(template=False),
    status=_status(),
    versions=served_versions(
        (
            AGE,
            PrinterColumn(
                "Provisioned", ".status.initialization.provisioned", description="Cluster is provisioned"
            ),
            PrinterColumn("Error", ".status.deprecated.v1beta1.failureReason", description=_ERROR),
            CLUSTER_LABEL,
            _ENDPOINT,
        ),
        v1beta1_columns=(
            AGE,
            PrinterColumn("Ready", ".status.ready", description="Cluster infrastructure is ready"),
            PrinterColumn("Error", ".status.failureReason", description=_ERROR),
            CLUSTER_LABEL,
            _ENDPOINT,
        ),
    ),
    description="The bare-metal infrastructure of a Cluster API cluster: its control-plane endpoint.",
)

METAL3CLUSTERTEMPLATE: Final = CrdDeclaration(
    resource=Resource(
        group=GROUP, version=STORAGE, plural="metal3clustertemplates", kind="Metal3ClusterTemplate"
    ),
    singular="metal3clustertemplate",
    short_names=("m3ct",),
    categories=CATEGORIES,
    labels=CONTRACT_LABELS,
    spec=obj(
        {
            "template": obj(
                {"metadata": template_metadata(), "spec": cluster_spec(template=True)},
                required=("spec",),
            )
        },
        required=("template",),
    ),
    status=None,
    status_subresource=False,
    versions=served_versions(()),
    description="A Metal3Cluster blueprint for ClusterClass.",
)
