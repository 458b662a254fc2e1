"""What ``kubectl`` users of Metal3 see: the columns of ``kubectl get``, short names and categories."""

from __future__ import annotations

import json
from typing import Any, Final

import pytest

from adapters.k8s.crds import catalog
from tests.adapters.k8s.conftest import Kubectl
from tests.adapters.k8s.crds.conftest import get_json, load_manifests, missing_fields

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120, func_only=True)]

BMH_COLUMNS: Final = ["NAME", "STATE", "CONSUMER", "ONLINE", "ERROR", "AGE"]
BMH_WIDE_COLUMNS: Final = ["NAME", "STATUS", "STATE", "CONSUMER", "BMC", "ONLINE", "ERROR", "AGE"]

PROVISIONED_STATUS: Final[dict[str, Any]] = {
    "operationalStatus": "OK",
    "errorType": "provisioning error",
    "errorMessage": "",
    "errorCount": 2,
    "provisioningFailCount": 1,
    "poweredOn": True,
    "lastUpdated": "2026-08-20T10:00:00Z",
    "provisioning": {
        "state": "provisioned",
        "ID": "8d7c1b2a-0f3e-4c5d-9a8b-7c6d5e4f3a2b",
        "bootMode": "UEFI",
        "image": {"url": "http://172.22.0.1/images/node.qcow2", "checksum": "abc123", "format": "qcow2"},
        "rootDeviceHints": {"deviceName": "/dev/sda", "rotational": False},
        "raid": {"softwareRAIDVolumes": []},
        "customDeploy": {"method": "install_coreos"},
    },
    "goodCredentials": {"credentials": {"name": "worker-0-bmc-secret"}, "credentialsVersion": "1234"},
    "triedCredentials": {"credentials": {"name": "worker-0-bmc-secret"}, "credentialsVersion": "1234"},
    "operationHistory": {
        "register": {"start": "2026-08-20T09:00:00Z", "end": "2026-08-20T09:01:00Z"},
        "inspect": {"start": "2026-08-20T09:01:00Z", "end": "2026-08-20T09:05:00Z"},
        "provision": {"start": "2026-08-20T09:10:00Z", "end": "2026-08-20T09:20:00Z"},
        "deprovision": {},
    },
    "lastAttemptedImage": {"url": "http://172.22.0.1/images/node.qcow2", "checksum": "abc123"},
    "conditions": [
        {
            "type": "Provisioned",
            "status": "True",
            "reason": "Provisioned",
            "message": "",
            "lastTransitionTime": "2026-08-20T09:20:00Z",
            "observedGeneration": 1,
        },
        {
            "type": "Healthy",
            "status": "Unknown",
            "reason": "Unknown",
            "message": "health not reported",
            "lastTransitionTime": "2026-08-20T09:20:00Z",
        },
    ],
    "hardware": {
        "hostname": "worker-0",
        "ramMebibytes": 262144,
        "cpu": {"arch": "x86_64", "count": 128, "clockMegahertz": 2000.5, "flags": ["vmx"]},
        "nics": [{"name": "eno1", "mac": "00:5c:52:31:3a:9c", "ip": "192.168.111.20", "pxe": True}],
        "storage": [{"name": "/dev/sda", "type": "SSD", "sizeBytes": 480103981056, "rotational": False}],
    },
}


def _table(output: str) -> list[list[str]]:
    """``kubectl get`` output as rows of cells (columns are separated by two or more spaces)."""
    return [[cell for cell in line.split("  ") if cell.strip()] for line in output.strip().splitlines()]


def _header(output: str) -> list[str]:
    return [cell.strip() for cell in _table(output)[0]]


async def _apply_hosts(kubectl: Kubectl, namespace: str) -> None:
    documents = load_manifests("baremetalhosts.yaml")
    await kubectl.run(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps({"kind": "List", "apiVersion": "v1", "items": documents}),
    )


async def test_get_bmh_shows_metal3s_columns_and_wide_adds_status_and_bmc(
    kubectl: Kubectl, namespace: str
) -> None:
    await _apply_hosts(kubectl, namespace)
    status = json.dumps({"status": PROVISIONED_STATUS})
    await kubectl.run(
        "patch", "bmh", "worker-0", "-n", namespace, "--subresource=status", "--type=merge", "-p", status
    )

    narrow = await kubectl.run("get", "bmh", "-n", namespace)
    wide = await kubectl.run("get", "bmh", "-n", namespace, "-o", "wide")

    assert _header(narrow.stdout) == BMH_COLUMNS
    assert _header(wide.stdout) == BMH_WIDE_COLUMNS
    rows = {line.split()[0]: line.split() for line in wide.stdout.strip().splitlines()[1:]}
    assert rows["worker-0"][:3] == ["worker-0", "OK", "provisioned"]
    assert "redfish-virtualmedia://192.168.111.1:8000/redfish/v1/Systems/" in rows["worker-0"][3]
    assert rows["worker-0"][4:7] == ["true", "provisioning", "error"]
    assert rows["worker-1"][1:4] == ["worker-md-0-x7k2p", "ipmi://192.168.111.2:6230", "false"]


async def test_a_metal3_status_is_kept_whole(kubectl: Kubectl, namespace: str) -> None:
    await _apply_hosts(kubectl, namespace)
    status = json.dumps({"status": PROVISIONED_STATUS})
    await kubectl.run(
        "patch", "bmh", "worker-0", "-n", namespace, "--subresource=status", "--type=merge", "-p", status
    )

    host = await get_json(kubectl, "bmh", "worker-0", "-n", namespace)

    assert missing_fields(PROVISIONED_STATUS, host["status"]) == []
    assert host["status"]["provisioning"]["ID"] == "8d7c1b2a-0f3e-4c5d-9a8b-7c6d5e4f3a2b"


@pytest.mark.parametrize(
    ("short", "kind"),
    [
        (short, declaration.kind)
        for declaration in catalog.ALL
        for short in declaration.short_names
        if short
        in {
            "bmh",
            "bmhost",
            "hd",
            "hfs",
            "ppimg",
            "bes",
            "bmcevent",
            "ipp",
            "ipc",
            "ipa",
            "m3c",
            "m3ct",
            "m3m",
            "m3mt",
            "m3dt",
            "m3dc",
            "m3d",
            "m3r",
            "m3rt",
            "metal3ippool",
        }
    ],
)
async def test_short_names_select_their_kind(kubectl: Kubectl, namespace: str, short: str, kind: str) -> None:
    result = await kubectl.run("get", short, "-n", namespace, "-o", "json")
    assert json.loads(result.stdout)["items"] == []
    explained = await kubectl.run("explain", short)
    assert f"KIND:       {kind}" in explained.stdout or f"KIND:     {kind}" in explained.stdout


async def test_the_cluster_api_category_lists_capm3_and_ipam_objects(
    kubectl: Kubectl, namespace: str
) -> None:
    documents = load_manifests("ipam.yaml") + load_manifests("capm3_v1beta2.yaml")
    await kubectl.run(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps({"kind": "List", "apiVersion": "v1", "items": documents}),
    )

    listed = await kubectl.run("get", "cluster-api", "-n", namespace, "-o", "name")

    names = set(listed.stdout.split())
    assert "metal3cluster.infrastructure.cluster.x-k8s.io/test1" in names
    assert "ippool.ipam.metal3.io/provisioning-pool" in names
    assert "ipclaim.ipam.metal3.io/test1-controlplane-template-0-provisioning-pool" in names
    assert not any(name.startswith("ipaddress.") for name in names)
