"""PreprovisioningImage, DataImage and BMCEventSubscription: the smaller BMO kinds around a host.

A PreprovisioningImage tells the host controller which agent image (ISO or kernel+initrd) to
boot for inspection and cleaning; a DataImage is an extra virtual CD attached to a provisioned
host; a BMCEventSubscription asks the BMC to post Redfish events to a webhook. The subscription's
``destination`` must be an absolute URL with a path (Metal3 wants a trailing slash on a bare
host); ``httpHeadersRef`` pointing at another namespace is the adapter's to refuse, since CEL
cannot see the object's namespace.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.common import SECRET_REF, conditions
from adapters.k8s.crds.declaring import AGE, CrdDeclaration, PrinterColumn, ServedVersion
from adapters.k8s.crds.metal3io_provisioning import url_rule
from adapters.k8s.crds.schema import Rule, array, enum, integer, obj, string, timestamp
from adapters.k8s.resources import Resource

_GROUP: Final = "metal3.io"
_VERSION: Final = "v1alpha1"
_IMAGE_FORMATS: Final = ("iso", "initrd")

PREPROVISIONINGIMAGE: Final = CrdDeclaration(
    resource=Resource(
        group=_GROUP, version=_VERSION, plural="preprovisioningimages", kind="PreprovisioningImage"
    ),
    singular="preprovisioningimage",
    short_names=("ppimg",),
    spec=obj(
        {
            "networkDataName": string(description="A Secret with network configuration for the agent."),
            "architecture": string(),
            "acceptFormats": array(enum(*_IMAGE_FORMATS), description="Formats the host can boot."),
        }
    ),
    status=obj(
        {
            "imageUrl": string(),
            "kernelUrl": string(),
            "extraKernelParams": string(),
            "format": enum(*_IMAGE_FORMATS),
            "networkData": obj({"name": string(), "version": string()}),
            "architecture": string(),
            "conditions": conditions(description="Ready and Error."),
        }
    ),
    versions=(
        ServedVersion(
            _VERSION,
            storage=True,
            columns=(
                PrinterColumn(
                    "Ready",
                    ".status.conditions[?(@.type=='Ready')].status",
                    description="Whether the image is ready",
                ),
                PrinterColumn(
                    "Reason",
                    ".status.conditions[?(@.type=='Ready')].reason",
                    description="Why the image is or is not ready",
                ),
            ),
        ),
    ),
    description="The agent image a BareMetalHost of the same name boots for inspection and cleaning.",
)

DATAIMAGE: Final = CrdDeclaration(
    resource=Resource(group=_GROUP, version=_VERSION, plural="dataimages", kind="DataImage"),
    singular="dataimage",
    spec=obj({"url": string()}, required=("url",), rules=(url_rule("self.url", path=".url"),)),
    status=obj(
        {
            "lastReconciled": timestamp(),
            "attachedImage": obj({"url": string()}, required=("url",)),
            "error": obj({"count": integer(), "message": string()}, required=("count", "message")),
        }
    ),
    versions=(ServedVersion(_VERSION, storage=True),),
    description="A virtual CD attached to the provisioned BareMetalHost of the same name.",
)

BMCEVENTSUBSCRIPTION: Final = CrdDeclaration(
    resource=Resource(
        group=_GROUP, version=_VERSION, plural="bmceventsubscriptions", kind="BMCEventSubscription"
    ),
    singular="bmceventsubscription",
    short_names=("bes", "bmcevent"),
    spec=obj(
        {
            "hostName": string(min_length=1, description="The BareMetalHost whose BMC sends the events."),
            "destination": string(
                min_length=1,
                description="The webhook URL events are posted to.",
                rules=(
                    Rule(
                        "isURL(self) && url(self).getEscapedPath() != ''",
                        "must be an absolute URL with a path (add a trailing slash to a bare host)",
                    ),
                ),
            ),
            "context": string(description="Free text the BMC sends back with every event."),
            "httpHeadersRef": SECRET_REF,
        },
        required=("hostName", "destination"),
    ),
    status=obj({"subscriptionID": string(), "error": string()}),
    versions=(
        ServedVersion(
            _VERSION,
            storage=True,
            columns=(PrinterColumn("Error", ".status.error", description="The most recent error"), AGE),
        ),
    ),
    description="A Redfish event subscription on the BMC of a BareMetalHost.",
)
