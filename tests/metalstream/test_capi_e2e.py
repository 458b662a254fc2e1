"""A Metal3Machine owned by a Cluster API Machine, on a real kube-apiserver, nats-server and Ironic.

The test plays Cluster API: it writes the Cluster and the Machine (with no bootstrap data at
first, as CAPI does until the kubeadm bootstrap provider has rendered it), then the bootstrap
Secret, then pauses the Cluster the way ``clusterctl move`` does. metalstream must find the
``cluster.x-k8s.io`` API by discovery, watch Machines and Clusters, and react to each change
without polling: the Metal3Machine waits with CAPM3's ``WaitingForBootstrapData``, the host is
provisioned with the Machine's bootstrap Secret as its user data, and the host's pause follows
the Cluster's.
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
from tests.metalstream.capi_crds import install_capi_crds
from tests.metalstream.fleet import unique_mac
from tests.metalstream.kube_plane import (
    control_plane,
    get_json,
    host_manifests,
    new_namespace,
    plane_config,
    wait_for,
    wait_state,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(420, func_only=True)]

PAUSED: Final = "baremetalhost.metal3.io/paused"
PAUSED_PATH: Final = "{.metadata.annotations.baremetalhost\\.metal3\\.io/paused}"


def _apply(docs: list[dict[str, Any]]) -> str:
    return "\n---\n".join(json.dumps(d) for d in docs)


def _metal3machine(namespace: str, owner_uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
        "kind": "Metal3Machine",
        "metadata": {
            "name": "c1-md-0-abcde",
            "namespace": namespace,
            "labels": {"cluster.x-k8s.io/cluster-name": "c1"},
            "ownerReferences": [
                {
                    "apiVersion": "cluster.x-k8s.io/v1beta2",
                    "kind": "Machine",
                    "name": "c1-md-0-xyz",
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "image": {
                "url": "http://127.0.0.1:1/capi.qcow2",
                "checksum": "3" * 64,
                "checksumType": "sha256",
                "format": "qcow2",
            },
            "hostSelector": {"matchLabels": {"rack": "r7"}},
            "automatedCleaningMode": "disabled",
        },
    }


async def test_a_cluster_api_machine_gives_its_bootstrap_data_and_its_clusters_pause(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    await install_capi_crds(kubectl)  # before the control plane starts: it discovers the API once
    namespace = await new_namespace(kubectl)
    async with (
        NatsServer(tmp_path / "nats") as nats,
        control_plane(plane_config(nats, ironic, kube_apiserver)),
    ):
        await kubectl.run("apply", "-f", "-", stdin=host_manifests(namespace, "node-c", mac=unique_mac()))
        cluster = {
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Cluster",
            "metadata": {"name": "c1", "namespace": namespace},
            "spec": {"paused": False},
        }
        machine = {
            "apiVersion": "cluster.x-k8s.io/v1beta2",
            "kind": "Machine",
            "metadata": {
                "name": "c1-md-0-xyz",
                "namespace": namespace,
                "labels": {
                    "cluster.x-k8s.io/cluster-name": "c1",
                    "cluster.x-k8s.io/deployment-name": "c1-md-0",
                },
            },
            "spec": {"clusterName": "c1", "bootstrap": {"configRef": {"name": "c1-md-0-xyz"}}},
        }
        await kubectl.run("apply", "-f", "-", stdin=_apply([cluster, machine]))
        uid = (await get_json(kubectl, namespace, "machines.cluster.x-k8s.io", "c1-md-0-xyz"))["metadata"][
            "uid"
        ]
        await kubectl.run("apply", "-f", "-", stdin=_apply([_metal3machine(namespace, uid)]))
        await wait_state(kubectl, namespace, "node-c", "available")
        await wait_for(
            kubectl,
            namespace,
            "m3m/c1-md-0-abcde",
            "jsonpath={.status.conditions[?(@.type=='AssociateBareMetalHost')].reason}=WaitingForBootstrapData",
        )
        host = await get_json(kubectl, namespace, "bmh", "node-c")
        assert "consumerRef" not in host["spec"], "no host is taken before there is bootstrap data"

        bootstrap = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "c1-md-0-xyz-bootstrap", "namespace": namespace},
            "type": "cluster.x-k8s.io/secret",
            "stringData": {"value": "#cloud-config\nruncmd: [kubeadm join]\n", "format": "cloud-config"},
        }
        await kubectl.run("apply", "-f", "-", stdin=_apply([bootstrap]))
        await kubectl.run(
            "patch",
            "-n",
            namespace,
            "machines.cluster.x-k8s.io",
            "c1-md-0-xyz",
            "--type=merge",
            "-p",
            json.dumps({"spec": {"bootstrap": {"dataSecretName": "c1-md-0-xyz-bootstrap"}}}),
        )
        await wait_for(kubectl, namespace, "bmh/node-c", "jsonpath={.spec.consumerRef.name}=c1-md-0-abcde")
        await wait_state(kubectl, namespace, "node-c", "provisioned")
        await wait_for(kubectl, namespace, "m3m/c1-md-0-abcde", "jsonpath={.status.ready}=true")
        host = await get_json(kubectl, namespace, "bmh", "node-c")
        assert host["spec"]["userData"]["name"] == "c1-md-0-xyz-bootstrap"
        m3m = await get_json(kubectl, namespace, "m3m", "c1-md-0-abcde")
        assert m3m["spec"]["providerID"] == f"metal3://{namespace}/node-c/c1-md-0-abcde"

        patch = ["patch", "-n", namespace, "clusters.cluster.x-k8s.io", "c1", "--type=merge", "-p"]
        await kubectl.run(*patch, json.dumps({"spec": {"paused": True}}))
        await wait_for(kubectl, namespace, "bmh/node-c", f"jsonpath={PAUSED_PATH}=metal3.io/capm3")
        await wait_for(
            kubectl,
            namespace,
            "m3m/c1-md-0-abcde",
            "jsonpath={.status.conditions[?(@.type=='Paused')].status}=True",
        )
        await kubectl.run(*patch, json.dumps({"spec": {"paused": False}}))
        await wait_for(
            kubectl,
            namespace,
            "m3m/c1-md-0-abcde",
            "jsonpath={.status.conditions[?(@.type=='Paused')].status}=False",
        )
        host = await get_json(kubectl, namespace, "bmh", "node-c")
        assert PAUSED not in (host["metadata"].get("annotations") or {})
        assert host["status"]["provisioning"]["state"] == "provisioned"
