"""The strings CAPM3 puts on objects, spelled once: finalizers, annotations, labels, kinds.

Tools written for Metal3 (clusterctl move, dashboards, scripts that read ``metal3.io/
BareMetalHost``) look for exactly these, so they are CAPM3's and must not drift.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.capm3_clusters import METAL3CLUSTER
from adapters.k8s.crds.capm3_data import METAL3DATA, METAL3DATACLAIM, METAL3DATATEMPLATE
from adapters.k8s.crds.capm3_machines import METAL3MACHINE, METAL3MACHINETEMPLATE
from adapters.k8s.crds.capm3_remediation import METAL3REMEDIATION
from adapters.k8s.crds.ipam import IPADDRESS, IPCLAIM
from adapters.k8s.crds.metal3io_host import BAREMETALHOST

MACHINES: Final = METAL3MACHINE.resource
MACHINE_TEMPLATES: Final = METAL3MACHINETEMPLATE.resource
TEMPLATES: Final = METAL3DATATEMPLATE.resource
CLAIMS: Final = METAL3DATACLAIM.resource
DATAS: Final = METAL3DATA.resource
CLUSTERS: Final = METAL3CLUSTER.resource
REMEDIATIONS: Final = METAL3REMEDIATION.resource
HOSTS: Final = BAREMETALHOST.resource
IPCLAIMS: Final = IPCLAIM.resource
IPADDRESSES: Final = IPADDRESS.resource

MACHINE_FINALIZER: Final = "metal3machine.infrastructure.cluster.x-k8s.io"
TEMPLATE_FINALIZER: Final = "metal3datatemplate.infrastructure.cluster.x-k8s.io"
CLAIM_FINALIZER: Final = "metal3dataclaim.infrastructure.cluster.x-k8s.io"
DATA_FINALIZER: Final = "metal3data.infrastructure.cluster.x-k8s.io"
"""On a Metal3Data and on every IPClaim it creates."""
CLUSTER_FINALIZER: Final = "metal3cluster.infrastructure.cluster.x-k8s.io"
REMEDIATION_FINALIZER: Final = "metal3remediation.infrastructure.cluster.x-k8s.io"

HOST_ANNOTATION: Final = "metal3.io/BareMetalHost"
"""On a Metal3Machine: ``<namespace>/<host>`` of its BareMetalHost."""
HOST_PAUSED_ANNOTATION: Final = "baremetalhost.metal3.io/paused"
HOST_PAUSED_BY_CAPM3: Final = "metal3.io/capm3"
"""The pause annotation's value when a paused Cluster put it there (only that value is removed)."""
CLUSTER_LABEL: Final = "cluster.x-k8s.io/cluster-name"
DATA_NAME_LABEL: Final = "infrastructure.cluster.x-k8s.io/data-name"
POOL_NAME_LABEL: Final = "infrastructure.cluster.x-k8s.io/pool-name"
"""On the IPClaims a Metal3Data creates (CAPM3's BMH-name based pre-allocation labels)."""

NO_HOST_RETRY: Final = 30.0
"""Seconds before a machine that found no host looks again (CAPM3's requeue)."""
