"""Reconciles Metal3Clusters: a valid control-plane endpoint makes the infrastructure provisioned.

CAPM3's cluster controller does little more: it checks ``spec.controlPlaneEndpoint`` (host set,
port in 1..65535), reports ``initialization.provisioned`` (and v1beta1's ``ready``) with the
``BaremetalInfrastructureReady`` condition, and on deletion waits until no Metal3Machine of the
cluster (by the ``cluster.x-k8s.io/cluster-name`` label) is left before removing its finalizer.
There is no aggregate: nothing here needs a history or a consistency boundary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from adapters.k8s.capm3.manifests import meta_of
from adapters.k8s.capm3.names import CLUSTER_FINALIZER, CLUSTER_LABEL, CLUSTERS, MACHINES
from adapters.k8s.capm3.ports import DONE, Cache, Kube, Result
from adapters.k8s.capm3.status import Condition, merge_conditions, stamp

DELETE_RECHECK: Final = 10.0
"""Seconds between looks for remaining machines while a cluster is being deleted."""


def endpoint_problem(spec: Mapping[str, Any]) -> str | None:
    """Why the control-plane endpoint is unusable, naming the field; None when it is fine."""
    endpoint = spec.get("controlPlaneEndpoint") or {}
    if not endpoint.get("host"):
        return "spec.controlPlaneEndpoint.host is empty: set the control plane's address"
    port = endpoint.get("port")
    if not isinstance(port, int) or not 1 <= port <= 65535:
        return "spec.controlPlaneEndpoint.port must be between 1 and 65535"
    return None


def cluster_status(spec: Mapping[str, Any], current: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    problem = endpoint_problem(spec)
    ok = problem is None
    wanted = [
        Condition(
            "BaremetalInfrastructureReady",
            "True" if ok else "False",
            "Ready" if ok else "InvalidConfiguration",
            problem or "",
        ),
        Condition(
            "Ready", "True" if ok else "False", "Ready" if ok else "InvalidConfiguration", problem or ""
        ),
    ]
    status: dict[str, Any] = {
        "conditions": merge_conditions(current.get("conditions") or [], wanted, now),
        "lastUpdated": stamp(now),
        "initialization": {"provisioned": ok},
        "ready": ok,
    }
    if problem is not None:
        status["failureReason"] = "InvalidConfiguration"
        status["failureMessage"] = problem
    return status


class ClusterController:
    """Reconciles Metal3Cluster objects."""

    def __init__(self, kube: Kube, cache: Cache, *, clock: Callable[[], datetime] | None = None) -> None:
        self._kube = kube
        self._cache = cache
        self._clock = clock or (lambda: datetime.now(UTC))

    async def reconcile(self, obj: Mapping[str, Any] | None, key: str) -> Result:
        if obj is None:
            return DONE
        meta = meta_of(obj)
        if meta.deleting:
            cluster = meta.labels.get(CLUSTER_LABEL) or meta.name
            left = [
                m
                for m in self._cache.list(MACHINES, meta.namespace)
                if meta_of(m).labels.get(CLUSTER_LABEL) == cluster
            ]
            if left:
                return Result(requeue_after=DELETE_RECHECK)
            await self._kube.set_finalizer(CLUSTERS, obj, CLUSTER_FINALIZER, present=False)
            return DONE
        if CLUSTER_FINALIZER not in meta.finalizers:
            await self._kube.set_finalizer(CLUSTERS, obj, CLUSTER_FINALIZER, present=True)
        status = cluster_status(obj.get("spec") or {}, obj.get("status") or {}, self._clock())
        await self._kube.write_status(CLUSTERS, obj, status)
        return DONE
