"""CAPM3's kinds, group ``infrastructure.cluster.x-k8s.io``: v1beta1 served, v1beta2 served and stored.

Both versions share one superset schema under conversion strategy ``None``; ``capm3_versioning``
explains why and how the two versions' differences are reconciled.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.capm3_clusters import METAL3CLUSTER, METAL3CLUSTERTEMPLATE
from adapters.k8s.crds.capm3_data import METAL3DATA, METAL3DATACLAIM, METAL3DATATEMPLATE
from adapters.k8s.crds.capm3_machines import METAL3MACHINE, METAL3MACHINETEMPLATE
from adapters.k8s.crds.capm3_remediation import METAL3REMEDIATION, METAL3REMEDIATIONTEMPLATE
from adapters.k8s.crds.capm3_versioning import GROUP
from adapters.k8s.crds.declaring import CrdDeclaration

DECLARATIONS: Final[tuple[CrdDeclaration, ...]] = (
    METAL3CLUSTER,
    METAL3CLUSTERTEMPLATE,
    METAL3MACHINE,
    METAL3MACHINETEMPLATE,
    METAL3DATATEMPLATE,
    METAL3DATACLAIM,
    METAL3DATA,
    METAL3REMEDIATION,
    METAL3REMEDIATIONTEMPLATE,
)

__all__ = ["DECLARATIONS", "GROUP"]
