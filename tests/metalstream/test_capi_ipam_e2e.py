"""Cluster API IPAddressClaims answered from a metal3 IPPool, on a real kube-apiserver and nats-server.

The test plays an infrastructure provider using Metal3 IPAM through Cluster API's IPAM contract:
it files ``ipam.cluster.x-k8s.io`` IPAddressClaims whose ``poolRef`` is a metal3 IPPool and
reads the IPAddress each gets. The pool is shared with an IPClaim, so the two claim kinds must
never get the same address or take each other's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import pytest

from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.kube import KubeApiServer
from metalstream.devstack.nats import NatsServer
from tests.kube import Kubectl
from tests.metalstream.capi_crds import install_capi_ipam_crds
from tests.metalstream.kube_plane import control_plane, get_json, new_namespace, plane_config, wait_for

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300, func_only=True)]

CLAIMS: Final = "ipaddressclaims.ipam.cluster.x-k8s.io"
ADDRESSES: Final = "ipaddresses.ipam.cluster.x-k8s.io"


def _docs(*docs: dict[str, Any]) -> str:
    return "\n---\n".join(json.dumps(d) for d in docs)


def _claim(
    namespace: str, name: str, *, group: str = "ipam.metal3.io", kind: str = "IPPool"
) -> dict[str, Any]:
    return {
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2",
        "kind": "IPAddressClaim",
        "metadata": {"name": name, "namespace": namespace, "labels": {"role": "node"}},
        "spec": {"poolRef": {"apiGroup": group, "kind": kind, "name": "nodes"}},
    }


async def test_ipaddressclaims_get_addresses_from_a_metal3_pool_next_to_ipclaims(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    await install_capi_ipam_crds(kubectl)  # before the control plane starts: it discovers the API once
    namespace = await new_namespace(kubectl)
    pool = {
        "apiVersion": "ipam.metal3.io/v1alpha1",
        "kind": "IPPool",
        "metadata": {"name": "nodes", "namespace": namespace},
        "spec": {
            "namePrefix": "nodes",
            "pools": [{"start": "192.168.60.10", "end": "192.168.60.12"}],
            "prefix": 24,
            "gateway": "192.168.60.1",
        },
    }
    ipclaim = {
        "apiVersion": "ipam.metal3.io/v1alpha1",
        "kind": "IPClaim",
        "metadata": {"name": "metal3-claim", "namespace": namespace},
        "spec": {"pool": {"name": "nodes"}},
    }
    async with (
        NatsServer(tmp_path / "nats") as nats,
        control_plane(plane_config(nats, ironic, kube_apiserver)),
    ):
        await kubectl.run("apply", "-f", "-", stdin=_docs(pool, ipclaim, _claim(namespace, "capi-a")))
        await wait_for(kubectl, namespace, f"{CLAIMS}/capi-a", "jsonpath={.status.addressRef.name}")
        claim = await get_json(kubectl, namespace, CLAIMS, "capi-a")
        assert "ipam.metal3.io/ipaddressclaim" in claim["metadata"]["finalizers"]
        ready = {c["type"]: c for c in claim["status"]["conditions"]}["Ready"]
        assert ready["status"] == "True"
        address = await get_json(kubectl, namespace, ADDRESSES, claim["status"]["addressRef"]["name"])
        assert address["spec"]["poolRef"] == {"apiGroup": "ipam.metal3.io", "kind": "IPPool", "name": "nodes"}
        assert address["spec"]["claimRef"] == {"name": "capi-a"}
        assert (address["spec"]["prefix"], address["spec"]["gateway"]) == (24, "192.168.60.1")
        assert address["metadata"]["labels"] == {"role": "node"}
        owners = {(o["kind"], o["name"]) for o in address["metadata"]["ownerReferences"]}
        assert owners == {("IPPool", "nodes"), ("IPAddressClaim", "capi-a")}
        assert address["metadata"]["name"] == "nodes-" + address["spec"]["address"].replace(".", "-")

        await wait_for(kubectl, namespace, "ipclaim/metal3-claim", "jsonpath={.status.address.name}")
        metal3 = await get_json(kubectl, namespace, "ipclaim", "metal3-claim")
        metal3_address = await get_json(
            kubectl, namespace, "ipaddresses.ipam.metal3.io", metal3["status"]["address"]["name"]
        )
        assert metal3_address["spec"]["address"] != address["spec"]["address"]

        # The pool has three addresses: the third IPAddressClaim waits, saying why.
        await kubectl.run(
            "apply", "-f", "-", stdin=_docs(_claim(namespace, "capi-b"), _claim(namespace, "capi-c"))
        )
        await wait_for(kubectl, namespace, f"{CLAIMS}/capi-b", "jsonpath={.status.addressRef.name}")
        await wait_for(
            kubectl,
            namespace,
            f"{CLAIMS}/capi-c",
            "jsonpath={.status.conditions[?(@.type=='Ready')].reason}=AllocationFailed",
        )
        waiting = await get_json(kubectl, namespace, CLAIMS, "capi-c")
        message = {c["type"]: c for c in waiting["status"]["conditions"]}["Ready"]["message"]
        assert message == "Exhausted IP Pools"

        # An IPClaim may not take an IPAddressClaim's address by using its name.
        twin = {**ipclaim, "metadata": {"name": "capi-a", "namespace": namespace}}
        await kubectl.run("apply", "-f", "-", stdin=_docs(twin))
        await wait_for(kubectl, namespace, "ipclaim/capi-a", "jsonpath={.status.errorMessage}")
        refused = (await get_json(kubectl, namespace, "ipclaim", "capi-a"))["status"]["errorMessage"]
        assert "held by a IPAddressClaim" in refused
        assert (await get_json(kubectl, namespace, CLAIMS, "capi-a"))["status"]["addressRef"] == claim[
            "status"
        ]["addressRef"]
        await kubectl.run("delete", "-n", namespace, "ipclaim/capi-a", "--timeout=60s", limit=90)
        await get_json(kubectl, namespace, ADDRESSES, claim["status"]["addressRef"]["name"])  # still there

        # Another provider's claim is left alone.
        await kubectl.run(
            "apply",
            "-f",
            "-",
            stdin=_docs(_claim(namespace, "other", group="ipam.cluster.x-k8s.io", kind="InClusterIPPool")),
        )

        # Deleting a claim deletes its address and gives it to the claim that waited.
        await kubectl.run("delete", "-n", namespace, f"{CLAIMS}/capi-a", "--timeout=60s", limit=90)
        await wait_for(kubectl, namespace, f"{CLAIMS}/capi-c", "jsonpath={.status.addressRef.name}")
        reused = await get_json(kubectl, namespace, CLAIMS, "capi-c")
        assert reused["status"]["addressRef"] == claim["status"]["addressRef"]
        indexes = (await get_json(kubectl, namespace, "ippool", "nodes"))["status"]["indexes"]
        assert set(indexes) == {"metal3-claim", "capi-b", "capi-c"}
        other = await get_json(kubectl, namespace, CLAIMS, "other")
        assert "finalizers" not in other["metadata"]
        assert "status" not in other
