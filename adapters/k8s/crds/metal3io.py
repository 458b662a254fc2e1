"""The Bare Metal Operator's kinds, group ``metal3.io``, version ``v1alpha1`` (served and stored).

BMO has a single version, so its schemas follow Metal3's generated CRDs directly, with the rules
of BMO's admission webhook that need nothing beyond the object added as CEL. HostClaim,
HostDeployPolicy, BareMetalSwitch and HostNetworkAttachment (opt-in multi-tenancy and Ironic
networking) are not served by metalstream.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.declaring import CrdDeclaration
from adapters.k8s.crds.metal3io_firmware import (
    FIRMWARESCHEMA,
    HOSTFIRMWARECOMPONENTS,
    HOSTFIRMWARESETTINGS,
    HOSTUPDATEPOLICY,
)
from adapters.k8s.crds.metal3io_hardware import HARDWAREDATA
from adapters.k8s.crds.metal3io_host import BAREMETALHOST
from adapters.k8s.crds.metal3io_images import BMCEVENTSUBSCRIPTION, DATAIMAGE, PREPROVISIONINGIMAGE

GROUP: Final = "metal3.io"

DECLARATIONS: Final[tuple[CrdDeclaration, ...]] = (
    BAREMETALHOST,
    HARDWAREDATA,
    HOSTFIRMWARESETTINGS,
    FIRMWARESCHEMA,
    HOSTFIRMWARECOMPONENTS,
    HOSTUPDATEPOLICY,
    PREPROVISIONINGIMAGE,
    DATAIMAGE,
    BMCEVENTSUBSCRIPTION,
)
