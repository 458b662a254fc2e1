"""What the Metal3Machine controller reads from Cluster API's own objects.

Under Cluster API a Metal3Machine is owned by a CAPI ``Machine`` (``cluster.x-k8s.io``), and
CAPM3 takes three things from it and its ``Cluster``: the bootstrap data (the Secret named by the
Machine's ``spec.bootstrap.dataSecretName``, which the kubeadm bootstrap provider writes once the
control plane can accept the node), the owner a reused host is reserved for (the KubeadmControlPlane
or MachineDeployment named by the Machine's labels), and whether the Cluster is paused
(``clusterctl move`` pauses it so that no controller acts while objects are copied elsewhere).

A Metal3Machine with no Machine owner reference is used as written (its own ``spec.userData``);
CAPM3 would wait for an owner forever. That keeps single machines usable without Cluster API,
as in the dev stack's example.

The group may be absent (Cluster API not installed) and its version varies (v1beta1 up to CAPI
1.10, v1beta2 preferred since 1.11); the fields read here are the same in both, so the service
asks discovery for the preferred version once at start (``discover``) and watches that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from adapters.k8s import discovery
from adapters.k8s.connection import Connection
from adapters.k8s.resources import Resource

GROUP: Final = "cluster.x-k8s.io"
PAUSED_ANNOTATION: Final = "cluster.x-k8s.io/paused"
"""On any CAPI or provider object: do not reconcile it (set by ``clusterctl move`` and by users)."""
CONTROL_PLANE_NAME_LABEL: Final = "cluster.x-k8s.io/control-plane-name"
"""On a Machine of a KubeadmControlPlane: the control plane's name."""
DEPLOYMENT_NAME_LABEL: Final = "cluster.x-k8s.io/deployment-name"
"""On a Machine of a MachineDeployment: the deployment's name."""
CLONED_FROM_NAME: Final = "cluster.x-k8s.io/cloned-from-name"
"""On a Metal3Machine cloned from a Metal3MachineTemplate: the template's name."""


@dataclass(frozen=True, slots=True)
class CapiResources:
    """The served Machine and Cluster kinds (in the version discovery prefers)."""

    machines: Resource
    clusters: Resource

    @classmethod
    def at(cls, version: str) -> CapiResources:
        return cls(
            machines=Resource(group=GROUP, version=version, plural="machines", kind="Machine"),
            clusters=Resource(group=GROUP, version=version, plural="clusters", kind="Cluster"),
        )


async def discover(conn: Connection) -> CapiResources | None:
    """Cluster API's resources in the preferred served version; None when it is not installed."""
    version = await discovery.preferred_version(conn, GROUP)
    return CapiResources.at(version) if version else None


@dataclass(frozen=True, slots=True)
class OwnerMachine:
    """What the Metal3Machine controller uses of its CAPI Machine."""

    name: str
    bootstrap_secret: str
    """``spec.bootstrap.dataSecretName``; empty until the bootstrap provider has written it."""
    cluster: str
    """``spec.clusterName`` (or the cluster-name label)."""
    failure_domain: str
    reuse_owner: str | None
    """The KubeadmControlPlane or MachineDeployment a released host is reserved for (node reuse)."""


def owner_name(m3m: Mapping[str, Any]) -> str | None:
    """The name of the CAPI Machine owning ``m3m`` by owner reference, if any."""
    for owner in (m3m.get("metadata") or {}).get("ownerReferences") or []:
        api_version = str(owner.get("apiVersion") or "")
        if owner.get("kind") == "Machine" and api_version.startswith(f"{GROUP}/") and owner.get("name"):
            return str(owner["name"])
    return None


def read_owner(machine: Mapping[str, Any]) -> OwnerMachine:
    """The parts of a CAPI Machine object CAPM3 uses."""
    metadata = machine.get("metadata") or {}
    labels = metadata.get("labels") or {}
    spec = machine.get("spec") or {}
    return OwnerMachine(
        name=str(metadata.get("name") or ""),
        bootstrap_secret=str((spec.get("bootstrap") or {}).get("dataSecretName") or ""),
        cluster=str(spec.get("clusterName") or labels.get("cluster.x-k8s.io/cluster-name") or ""),
        failure_domain=str(spec.get("failureDomain") or ""),
        reuse_owner=labels.get(CONTROL_PLANE_NAME_LABEL) or labels.get(DEPLOYMENT_NAME_LABEL) or None,
    )


def is_paused(cluster: Mapping[str, Any] | None, *objects: Mapping[str, Any] | None) -> bool:
    """Whether the Cluster's ``spec.paused`` is set or any object carries the paused annotation."""
    if cluster is not None and (cluster.get("spec") or {}).get("paused") is True:
        return True
    return any(
        PAUSED_ANNOTATION in ((obj.get("metadata") or {}).get("annotations") or {})
        for obj in (cluster, *objects)
        if obj is not None
    )


def is_deleting(obj: Mapping[str, Any] | None) -> bool:
    """Whether ``obj`` has a deletion timestamp."""
    return obj is not None and bool((obj.get("metadata") or {}).get("deletionTimestamp"))
