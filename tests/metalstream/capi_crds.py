"""Cluster API's Machine, Cluster, IPAddressClaim and IPAddress kinds, as the e2e tests need them served.

Cluster API itself is not installed here (its controllers need a workload cluster); the tests
play its part by writing Machines and Clusters the way its controllers would. These CRDs serve
both API versions CAPI serves (v1beta1, and v1beta2 as storage since CAPI 1.11) with open
schemas: the tests check what metalstream reads from the objects, not CAPI's validation.
"""

from __future__ import annotations

import json
from typing import Any, Final

from tests.kube import Kubectl

GROUP: Final = "cluster.x-k8s.io"
IPAM_GROUP: Final = "ipam.cluster.x-k8s.io"


def _crd(kind: str, plural: str, group: str = GROUP) -> dict[str, Any]:
    schema = {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "scope": "Namespaced",
            "versions": [
                {"name": "v1beta1", "served": True, "storage": False, "schema": schema},
                {
                    "name": "v1beta2",
                    "served": True,
                    "storage": True,
                    "schema": schema,
                    "subresources": {"status": {}},
                },
            ],
        },
    }


async def install_capi_crds(kubectl: Kubectl) -> None:
    """Serve ``machines`` and ``clusters`` of ``cluster.x-k8s.io`` (idempotent)."""
    await _install(kubectl, [_crd("Machine", "machines"), _crd("Cluster", "clusters")])


async def install_capi_ipam_crds(kubectl: Kubectl) -> None:
    """Serve ``ipaddressclaims`` and ``ipaddresses`` of ``ipam.cluster.x-k8s.io`` (idempotent)."""
    docs = [
        _crd("IPAddressClaim", "ipaddressclaims", IPAM_GROUP),
        _crd("IPAddress", "ipaddresses", IPAM_GROUP),
    ]
    await _install(kubectl, docs)


async def _install(kubectl: Kubectl, docs: list[dict[str, Any]]) -> None:
    await kubectl.run("apply", "-f", "-", stdin="\n---\n".join(json.dumps(d) for d in docs))
    for doc in docs:
        name = doc["metadata"]["name"]
        await kubectl.run("wait", f"crd/{name}", "--for=condition=Established", "--timeout=60s", limit=90)
