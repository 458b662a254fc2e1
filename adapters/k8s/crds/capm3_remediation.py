"""Metal3Remediation and Metal3RemediationTemplate: reboot an unhealthy machine's host.

A MachineHealthCheck creates a Metal3Remediation from the template when a Node goes unhealthy;
the only strategy is ``Reboot``, retried up to ``retryLimit`` times (at least 1, default 1),
each attempt waiting ``timeoutSeconds`` (at least 100, default 600) for the Node to come back.
v1beta1 spelled the wait as a duration string, ``timeout``; both are declared.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.capm3_versioning import CATEGORIES, CONTRACT_LABELS, GROUP, STORAGE, served_versions
from adapters.k8s.crds.declaring import CrdDeclaration, PrinterColumn
from adapters.k8s.crds.schema import Schema, enum, integer, obj, string, timestamp
from adapters.k8s.resources import Resource

PHASES: Final = ("Running", "Waiting", "Deleting machine", "Failed")


def _spec() -> Schema:
    return obj(
        {
            "strategy": obj(
                {
                    "type": enum("Reboot", description="The only remediation strategy."),
                    "retryLimit": integer(
                        minimum=1, default=1, fmt="int32", description="Attempts before giving up."
                    ),
                    "timeoutSeconds": integer(
                        minimum=100,
                        default=600,
                        fmt="int32",
                        description="How long one attempt waits for the Node.",
                    ),
                    "timeout": string(description="v1beta1: the wait as a duration, e.g. 5m0s."),
                }
            )
        }
    )


def _status() -> Schema:
    return obj(
        {
            "phase": enum(*PHASES),
            "retryCount": integer(minimum=0, fmt="int32", description="Attempts made so far."),
            "lastRemediated": timestamp(),
        }
    )


METAL3REMEDIATION: Final = CrdDeclaration(
    resource=Resource(group=GROUP, version=STORAGE, plural="metal3remediations", kind="Metal3Remediation"),
    singular="metal3remediation",
    short_names=("m3r", "m3remediation"),
    categories=CATEGORIES,
    labels=CONTRACT_LABELS,
    spec=_spec(),
    status=_status(),
    versions=served_versions(
        (
            PrinterColumn("Retry limit", ".spec.strategy.retryLimit", description="Attempts allowed"),
            PrinterColumn("Retry count", ".status.retryCount", description="Attempts made"),
            PrinterColumn(
                "Last Remediated", ".status.lastRemediated", description="When the last attempt started"
            ),
            PrinterColumn("Strategy", ".spec.strategy.type", description="Remediation strategy"),
            PrinterColumn("Phase", ".status.phase", description="Remediation phase"),
        )
    ),
    description="The remediation of one unhealthy machine by rebooting its BareMetalHost.",
)

METAL3REMEDIATIONTEMPLATE: Final = CrdDeclaration(
    resource=Resource(
        group=GROUP, version=STORAGE, plural="metal3remediationtemplates", kind="Metal3RemediationTemplate"
    ),
    singular="metal3remediationtemplate",
    short_names=(
        "m3rt",
        "m3remediationtemplate",
        "m3remediationtemplates",
        "metal3rt",
        "metal3remediationtemplate",
    ),
    categories=CATEGORIES,
    labels=CONTRACT_LABELS,
    spec=obj({"template": obj({"spec": _spec()}, required=("spec",))}, required=("template",)),
    status=obj({"status": _status()}),
    versions=served_versions(()),
    description="The Metal3Remediation a MachineHealthCheck creates for an unhealthy machine.",
)
