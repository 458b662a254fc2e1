"""Cluster API Metal3 driven with ``kubectl``: a real kube-apiserver, nats-server and Ironic.

The whole control plane (``run_control_plane``: BareMetalHost, IPAM and CAPM3 controllers and
the provisioner) runs as ``metalstream run`` starts it. A user applies what CAPM3 users apply
(an IPPool, a Metal3DataTemplate, a user-data Secret, Metal3Machines) and the tests look at what
they would look at: the host's consumer and state, the machine's providerID and readiness, the
rendered Secrets, the IPAddress objects.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import pytest
import yaml

from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.kube import KubeApiServer
from metalstream.devstack.nats import NatsServer
from tests.kube import Kubectl
from tests.metalstream.fleet import unique_mac
from tests.metalstream.kube_plane import control_plane, get_json, new_namespace, plane_config, wait_for

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(420, func_only=True)]

WAIT: Final = "150s"
IMAGE: Final = "http://127.0.0.1:1/capm3.qcow2"


def _host(namespace: str, name: str, *, role: str) -> list[dict[str, Any]]:
    mac = unique_mac()
    hardware = {"hostname": name, "nics": [{"name": "eth0", "mac": mac, "ip": "172.22.0.9"}]}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-bmc", "namespace": namespace},
            "stringData": {"username": "admin", "password": "capm3-e2e-pw"},
        },
        {
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"role": role},
                "annotations": {"inspect.metal3.io/hardwaredetails": json.dumps(hardware)},
            },
            "spec": {
                "online": False,
                "bootMACAddress": mac,
                "inspectionMode": "disabled",
                "bmc": {"address": f"fake-hardware://{name}", "credentialsName": f"{name}-bmc"},
                "rootDeviceHints": {"deviceName": "/dev/sda"},
            },
        },
    ]


def _capm3(namespace: str, machines: list[str], *, role: str) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "ipam.metal3.io/v1alpha1",
            "kind": "IPPool",
            "metadata": {"name": "provisioning", "namespace": namespace},
            "spec": {
                "namePrefix": "prov",
                "pools": [{"start": "192.168.50.10", "end": "192.168.50.20"}],
                "prefix": 24,
                "gateway": "192.168.50.1",
                "dnsServers": ["192.168.50.2"],
            },
        },
        {
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta1",
            "kind": "Metal3DataTemplate",
            "metadata": {"name": "workers", "namespace": namespace},
            "spec": {
                "clusterName": "e2e",
                "metaData": {
                    "strings": [{"key": "role", "value": role}],
                    "indexes": [{"key": "index", "prefix": "node-", "offset": 0, "step": 1}],
                    "ipAddressesFromIPPool": [
                        {
                            "key": "address",
                            "name": "provisioning",
                            "apiGroup": "ipam.metal3.io",
                            "kind": "IPPool",
                        }
                    ],
                },
                "networkData": {
                    "links": {
                        "ethernets": [
                            {"type": "phy", "id": "enp1s0", "macAddress": {"fromHostInterface": "eth0"}}
                        ]
                    },
                    "networks": {
                        "ipv4": [
                            {
                                "id": "provisioning",
                                "link": "enp1s0",
                                "ipAddressFromIPPool": "provisioning",
                                "routes": [
                                    {
                                        "network": "0.0.0.0",  # noqa: S104 - the default route
                                        "prefix": 0,
                                        "gateway": {"fromIPPool": "provisioning"},
                                    }
                                ],
                            }
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "worker-user-data", "namespace": namespace},
            "stringData": {"userData": "#cloud-config\n"},
        },
    ]
    docs.extend(
        {
            "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
            "kind": "Metal3Machine",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "image": {
                    "url": IMAGE,
                    "checksum": "2" * 64,
                    "checksumType": "sha256",
                    "diskFormat": "qcow2",
                },
                "userData": {"name": "worker-user-data"},
                "hostSelector": {"matchLabels": {"role": role}},
                "dataTemplate": {"name": "workers"},
                "automatedCleaningMode": "disabled",
            },
        }
        for name in machines
    )
    return docs


def _cluster(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
        "kind": "Metal3Cluster",
        "metadata": {"name": "e2e", "namespace": namespace},
        "spec": {"controlPlaneEndpoint": {"host": "192.168.50.5", "port": 6443}},
    }


def _remediation(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
        "kind": "Metal3Remediation",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"strategy": {"type": "Reboot", "retryLimit": 1, "timeoutSeconds": 300}},
    }


async def _reasons(kubectl: Kubectl, namespace: str, kind: str, name: str) -> set[str]:
    events = (await get_json(kubectl, namespace, "events"))["items"]
    return {
        e["reason"]
        for e in events
        if (e["involvedObject"].get("kind"), e["involvedObject"].get("name")) == (kind, name)
    }


def _yaml(docs: list[dict[str, Any]]) -> str:
    return "\n---\n".join(json.dumps(d) for d in docs)


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, limit: float = 150) -> None:
    try:
        async with asyncio.timeout(limit):
            while True:
                if await check():
                    return
                await asyncio.sleep(0.5)  # polling a condition, not synchronising on time
    except TimeoutError:
        pytest.fail(f"not within {limit} s: {what}")


def _secret_text(secret: dict[str, Any], key: str) -> str:
    return base64.b64decode(secret["data"][key]).decode()


async def test_a_metal3machine_gets_a_host_its_data_and_gives_both_back(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    namespace = await new_namespace(kubectl)
    async with (
        NatsServer(tmp_path / "nats") as nats,
        control_plane(plane_config(nats, ironic, kube_apiserver)),
    ):
        await kubectl.run("apply", "-f", "-", stdin=_yaml(_host(namespace, "node-a", role="worker")))
        await wait_for(kubectl, namespace, "bmh/node-a", "jsonpath={.status.provisioning.state}=available")
        await kubectl.run("apply", "-f", "-", stdin=_yaml([_cluster(namespace)]))
        await kubectl.run("apply", "-f", "-", stdin=_yaml(_capm3(namespace, ["worker-0"], role="worker")))
        await wait_for(kubectl, namespace, "m3c/e2e", "jsonpath={.status.initialization.provisioned}=true")

        await wait_for(kubectl, namespace, "bmh/node-a", "jsonpath={.spec.consumerRef.name}=worker-0")
        await wait_for(kubectl, namespace, "bmh/node-a", "jsonpath={.status.provisioning.state}=provisioned")
        await wait_for(
            kubectl, namespace, "m3m/worker-0", "jsonpath={.status.initialization.provisioned}=true"
        )
        machine = await get_json(kubectl, namespace, "m3m", "worker-0")
        assert machine["spec"]["providerID"] == f"metal3://{namespace}/node-a/worker-0"
        assert machine["metadata"]["annotations"]["metal3.io/BareMetalHost"] == f"{namespace}/node-a"
        assert {"type": "InternalIP", "address": "172.22.0.9"} in machine["status"]["addresses"]
        assert machine["status"]["renderedData"]["name"] == "workers-0"

        host = await get_json(kubectl, namespace, "bmh", "node-a")
        assert host["spec"]["consumerRef"]["kind"] == "Metal3Machine"
        assert host["spec"]["image"]["url"] == IMAGE
        assert host["spec"]["userData"]["name"] == "worker-user-data"
        assert host["spec"]["metaData"]["name"] == "worker-0-metadata"
        assert host["spec"]["networkData"]["name"] == "worker-0-networkdata"
        assert host["spec"]["automatedCleaningMode"] == "disabled"

        addresses = (await get_json(kubectl, namespace, "ipaddresses.ipam.metal3.io"))["items"]
        assert [a["spec"]["address"] for a in addresses] == ["192.168.50.10"]
        meta = yaml.safe_load(
            _secret_text(await get_json(kubectl, namespace, "secret", "worker-0-metadata"), "metaData")
        )
        assert meta["address"] == "192.168.50.10"
        assert meta["index"] == "node-0"
        network = yaml.safe_load(
            _secret_text(await get_json(kubectl, namespace, "secret", "worker-0-networkdata"), "networkData")
        )
        assert network["networks"][0]["ip_address"] == "192.168.50.10"
        assert network["links"][0]["ethernet_mac_address"] == host["spec"]["bootMACAddress"]
        template = await get_json(kubectl, namespace, "m3dt", "workers")
        assert template["status"]["indexes"] == [{"name": "worker-0", "index": 0}]

        await kubectl.run("apply", "-f", "-", stdin=_yaml([_remediation(namespace, "worker-0")]))

        async def remediated() -> bool:
            return "Remediated" in await _reasons(kubectl, namespace, "Metal3Remediation", "worker-0")

        await _eventually(remediated, "the remediation rebooted the host")
        reasons = await _reasons(kubectl, namespace, "Metal3Remediation", "worker-0")
        assert {"RebootStarted", "PoweredOff", "Remediated"} <= reasons
        remediation = await get_json(kubectl, namespace, "m3r", "worker-0")
        assert remediation["status"]["phase"] == "Waiting"
        assert remediation["status"]["retryCount"] == 0
        assert remediation["status"]["lastRemediated"]
        host = await get_json(kubectl, namespace, "bmh", "node-a")
        assert not [a for a in host["metadata"].get("annotations") or {} if a.startswith("reboot.metal3.io")]
        await wait_for(kubectl, namespace, "bmh/node-a", "jsonpath={.status.poweredOn}=true")
        await kubectl.run("delete", "m3r", "-n", namespace, "worker-0", f"--timeout={WAIT}")

        await kubectl.run("delete", "m3m", "-n", namespace, "worker-0", "--wait=false")
        await wait_for(kubectl, namespace, "m3m/worker-0", "delete")
        await kubectl.run("delete", "m3c", "-n", namespace, "e2e", f"--timeout={WAIT}")
        host = await get_json(kubectl, namespace, "bmh", "node-a")
        assert host["status"]["provisioning"]["state"] == "available"
        assert "consumerRef" not in host["spec"]
        assert "image" not in host["spec"]
        for kind in ("m3d", "m3dc", "ipclaims", "ipaddresses.ipam.metal3.io"):
            assert (await get_json(kubectl, namespace, kind))["items"] == [], kind

        async def index_released() -> bool:
            template = await get_json(kubectl, namespace, "m3dt", "workers")
            return not template["status"].get("indexes")

        await _eventually(index_released, "the template's index released")


async def test_machines_racing_for_fewer_hosts_never_share_one(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    namespace = await new_namespace(kubectl)
    async with (
        NatsServer(tmp_path / "nats") as nats,
        control_plane(plane_config(nats, ironic, kube_apiserver)),
    ):
        hosts = ["race-a", "race-b"]
        docs = [d for name in hosts for d in _host(namespace, name, role="racer")]
        await kubectl.run("apply", "-f", "-", stdin=_yaml(docs))
        for name in hosts:
            await wait_for(
                kubectl, namespace, f"bmh/{name}", "jsonpath={.status.provisioning.state}=available"
            )
        machines = [f"racer-{i}" for i in range(4)]
        await kubectl.run("apply", "-f", "-", stdin=_yaml(_capm3(namespace, machines, role="racer")))

        async def both_consumed() -> bool:
            items = (await get_json(kubectl, namespace, "bmh"))["items"]
            return all((h["spec"].get("consumerRef") or {}).get("name") for h in items)

        await _eventually(both_consumed, "both hosts consumed")
        items = (await get_json(kubectl, namespace, "m3m"))["items"]
        claimed = [
            m["metadata"]["annotations"]["metal3.io/BareMetalHost"]
            for m in items
            if "metal3.io/BareMetalHost" in (m["metadata"].get("annotations") or {})
        ]
        assert sorted(claimed) == sorted(f"{namespace}/{h}" for h in hosts)
        consumers = {
            h["metadata"]["name"]: h["spec"]["consumerRef"]["name"]
            for h in (await get_json(kubectl, namespace, "bmh"))["items"]
        }
        owners = {
            m["metadata"]["annotations"]["metal3.io/BareMetalHost"].split("/")[1]: m["metadata"]["name"]
            for m in items
            if "metal3.io/BareMetalHost" in (m["metadata"].get("annotations") or {})
        }
        assert consumers == owners
        waiting = [
            m for m in items if "metal3.io/BareMetalHost" not in (m["metadata"].get("annotations") or {})
        ]
        assert len(waiting) == 2
        for m in waiting:
            ready = {c["type"]: c for c in m["status"]["conditions"]}["AssociateBareMetalHost"]
            assert ready["status"] == "False"
            assert "no available host" in ready["message"]
