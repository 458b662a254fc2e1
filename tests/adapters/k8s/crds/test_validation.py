"""The API server itself refuses what Metal3's admission webhooks refuse, naming the field."""

from __future__ import annotations

import copy
import json
from typing import Any, Final

import pytest

from tests.adapters.k8s.conftest import Kubectl
from tests.adapters.k8s.crds.conftest import load_manifests

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120, func_only=True)]

BMH: Final[dict[str, Any]] = {
    "apiVersion": "metal3.io/v1alpha1",
    "kind": "BareMetalHost",
    "metadata": {"name": "host"},
    "spec": {"online": True, "bmc": {"address": "ipmi://192.168.111.1:6230", "credentialsName": "host-bmc"}},
}
DISKS: Final = [{"deviceName": "/dev/sda"}, {"deviceName": "/dev/sdb"}]


def _host(**spec: Any) -> dict[str, Any]:
    host = copy.deepcopy(BMH)
    host["spec"].update(spec)
    return host


def _without_online() -> dict[str, Any]:
    host = copy.deepcopy(BMH)
    del host["spec"]["online"]
    return host


def _pool(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ipam.metal3.io/v1alpha1",
        "kind": "IPPool",
        "metadata": {"name": "pool"},
        "spec": {"namePrefix": "pool", **spec},
    }


def _capm3(kind: str, spec: dict[str, Any], name: str = "object") -> dict[str, Any]:
    return {
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


async def _refused(kubectl: Kubectl, namespace: str, document: dict[str, Any]) -> str:
    result = await kubectl.run("create", "-n", namespace, "-f", "-", stdin=json.dumps(document), check=False)
    assert result.returncode != 0, f"accepted: {document}"
    return result.stderr


@pytest.mark.parametrize(
    ("document", "field", "says"),
    [
        pytest.param(
            _host(bootMACAddress="00:11:22:33:44"), "spec.bootMACAddress", "should match", id="short-mac"
        ),
        pytest.param(
            _host(bootMACAddress="00:11:22:33:44:55:66"), "spec.bootMACAddress", "should match", id="long-mac"
        ),
        pytest.param(_host(bootMode="BIOS"), "spec.bootMode", 'Unsupported value: "BIOS"', id="boot-mode"),
        pytest.param(
            _host(automatedCleaningMode="always"), "spec.automatedCleaningMode", "Unsupported", id="cleaning"
        ),
        pytest.param(
            _host(inspectionMode="slow"), "spec.inspectionMode", "Unsupported", id="inspection-mode"
        ),
        pytest.param(_without_online(), "spec.online", "Required value", id="online-missing"),
        pytest.param(
            _host(
                raid={
                    "hardwareRAIDVolumes": [{"level": "1"}],
                    "softwareRAIDVolumes": [{"level": "1", "physicalDisks": DISKS}],
                }
            ),
            "spec.raid",
            "hardwareRAIDVolumes and softwareRAIDVolumes cannot both be set",
            id="raid-both",
        ),
        pytest.param(
            _host(raid={"hardwareRAIDVolumes": [{"level": "3"}]}),
            "spec.raid.hardwareRAIDVolumes[0].level",
            "Unsupported",
            id="raid-level",
        ),
        pytest.param(
            _host(raid={"softwareRAIDVolumes": [{"level": "1", "physicalDisks": DISKS}] * 3}),
            "spec.raid.softwareRAIDVolumes",
            "must have at most 2 items",
            id="raid-three-software-volumes",
        ),
        pytest.param(
            _host(raid={"softwareRAIDVolumes": [{"level": "0", "rootVolume": True, "physicalDisks": DISKS}]}),
            "spec.raid.softwareRAIDVolumes[0].level",
            "root volume must use RAID level 1",
            id="raid-root-level",
        ),
        pytest.param(
            _host(online=False, disablePowerOff=True),
            "spec.online",
            "online cannot be false while disablePowerOff",
            id="power-off-disabled",
        ),
        pytest.param(
            _host(image={"url": "http://images.example.com/node.qcow2"}),
            "spec.image.checksum",
            "checksum is required",
            id="image-checksum",
        ),
        pytest.param(
            _host(image={"url": "oci://registry.example.com/node:1", "checksum": "abc"}),
            "spec.image.checksum",
            "must be empty for an oci:// image",
            id="oci-checksum",
        ),
        pytest.param(
            _host(image={"url": "file:///images/node.qcow2", "checksum": "abc"}),
            "spec.image.url",
            "absolute URL",
            id="image-scheme",
        ),
        pytest.param(
            _host(image={"url": "http://x/node.img", "checksum": "a", "format": "iso"}),
            "spec.image.format",
            "Unsupported",
            id="image-format",
        ),
        pytest.param(
            _host(rootDeviceHints={"deviceName": "sda"}),
            "spec.rootDeviceHints.deviceName",
            "should match",
            id="device-name",
        ),
        pytest.param(
            _host(firmware={"sriovEnabled": True}), "spec.firmware", "no longer supported", id="firmware"
        ),
        pytest.param(
            _host(inspectionMode="disabled"),
            "spec.bootMACAddress",
            "required when inspectionMode is disabled",
            id="inspection-disabled-needs-mac",
        ),
        pytest.param(
            {**_host(), "metadata": {"name": "4b1d2a8e-3c5f-4e6a-9b7c-1d2e3f4a5b6c"}},
            "metadata",
            "cannot be a UUID",
            id="uuid-name",
        ),
        pytest.param(
            _pool(pools=[{"start": "192.168.1.300"}]), "spec.pools[0].start", "should match", id="pool-start"
        ),
        pytest.param(
            _pool(pools=[{"subnet": "10.0.0.0/33"}]), "spec.pools[0].subnet", "should match", id="pool-subnet"
        ),
        pytest.param(
            _pool(pools=[{"prefix": 24}]),
            "spec.pools[0]",
            "at least one of start, end or subnet",
            id="pool-range",
        ),
        pytest.param(_pool(gateway="10.0.0.1.1"), "spec.gateway", "should match", id="pool-gateway"),
        pytest.param(
            _pool(preAllocations={"claim": "fd00::1::2"}),
            "spec.preAllocations.claim",
            "should match",
            id="pool-preallocation",
        ),
        pytest.param(_pool(namePrefix=""), "spec.namePrefix", "at least 1 chars long", id="pool-name-prefix"),
        pytest.param(
            _pool(allocationStrategy="roundrobin"),
            "spec.allocationStrategy",
            "Unsupported",
            id="pool-strategy",
        ),
        pytest.param(
            _capm3("Metal3Remediation", {"strategy": {"type": "Reboot", "retryLimit": 0}}),
            "spec.strategy.retryLimit",
            "greater than or equal to 1",
            id="remediation-retry-limit",
        ),
        pytest.param(
            _capm3("Metal3Remediation", {"strategy": {"type": "Reboot", "timeoutSeconds": 99}}),
            "spec.strategy.timeoutSeconds",
            "greater than or equal to 100",
            id="remediation-timeout",
        ),
        pytest.param(
            _capm3("Metal3Remediation", {"strategy": {"type": "Reprovision"}}),
            "spec.strategy.type",
            "Unsupported",
            id="remediation-strategy",
        ),
        pytest.param(
            _capm3("Metal3Machine", {}),
            "spec.image",
            "either image or customDeploy is required",
            id="machine-image",
        ),
        pytest.param(
            _capm3("Metal3Machine", {"image": {"url": "http://x/node.img", "diskFormat": "raw"}}),
            "spec.image.checksum",
            "image.checksum is required",
            id="machine-checksum",
        ),
        pytest.param(
            _capm3("Metal3Cluster", {"controlPlaneEndpoint": {"port": 6443}}),
            "spec.controlPlaneEndpoint",
            "controlPlaneEndpoint.host is required",
            id="cluster-host",
        ),
        pytest.param(
            _capm3("Metal3DataTemplate", {"metaData": {"fromHostInterfaces": [{"key": "mac"}]}}),
            "spec.metaData.fromHostInterfaces[0].interface",
            "interface is required unless fromBootMAC",
            id="data-template-interface",
        ),
        pytest.param(
            _capm3(
                "Metal3DataTemplate", {"networkData": {"networks": {"ipv4": [{"id": "v4", "link": "eth0"}]}}}
            ),
            "spec.networkData.networks.ipv4[0].fromPoolRef",
            "needs fromPoolRef",
            id="data-template-pool",
        ),
        pytest.param(
            _capm3("Metal3Data", {"index": 3, "template": {"name": "workers"}}, name="workers-4"),
            "metadata",
            "must be <spec.template.name>-<spec.index>",
            id="data-name",
        ),
    ],
)
async def test_an_invalid_object_is_refused_naming_the_field(
    kubectl: Kubectl, namespace: str, document: dict[str, Any], field: str, says: str
) -> None:
    message = await _refused(kubectl, namespace, document)

    assert f"{field}: " in message
    assert says in message


async def _change(kubectl: Kubectl, namespace: str, resource: str, name: str, patch: dict[str, Any]) -> str:
    result = await kubectl.run(
        "patch", resource, name, "-n", namespace, "--type=merge", "-p", json.dumps(patch), check=False
    )
    return result.stderr if result.returncode else ""


async def test_boot_mac_address_cannot_change_once_set(kubectl: Kubectl, namespace: str) -> None:
    await kubectl.run(
        "create", "-n", namespace, "-f", "-", stdin=json.dumps(_host(bootMACAddress="00:5c:52:31:3a:9c"))
    )

    same_but_upper = await _change(
        kubectl, namespace, "bmh", "host", {"spec": {"bootMACAddress": "00:5C:52:31:3A:9C"}}
    )
    other = await _change(
        kubectl, namespace, "bmh", "host", {"spec": {"bootMACAddress": "00:5c:52:31:3a:9d"}}
    )
    removed = await _change(kubectl, namespace, "bmh", "host", {"spec": {"bootMACAddress": None}})

    assert same_but_upper == ""
    assert "spec.bootMACAddress: Invalid value: bootMACAddress cannot be changed once it is set" in other
    assert "bootMACAddress cannot be changed once it is set" in removed


async def test_a_host_without_boot_mac_address_may_get_one(kubectl: Kubectl, namespace: str) -> None:
    await kubectl.run("create", "-n", namespace, "-f", "-", stdin=json.dumps(_host()))

    assert (
        await _change(kubectl, namespace, "bmh", "host", {"spec": {"bootMACAddress": "00:5c:52:31:3a:9c"}})
        == ""
    )


async def test_bmc_address_changes_only_while_registering(kubectl: Kubectl, namespace: str) -> None:
    await kubectl.run("create", "-n", namespace, "-f", "-", stdin=json.dumps(_host()))
    moved = {"spec": {"bmc": {"address": "ipmi://192.168.111.9:6230"}}}

    refused = await _change(kubectl, namespace, "bmh", "host", moved)
    await kubectl.run(
        "patch",
        "bmh",
        "host",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(
            {
                "status": {
                    "operationalStatus": "",
                    "errorMessage": "",
                    "poweredOn": False,
                    "provisioning": {"state": "registering", "ID": ""},
                }
            }
        ),
    )
    accepted = await _change(kubectl, namespace, "bmh", "host", moved)

    assert (
        "spec.bmc.address: Invalid value: bmc.address can only change while the host is registering"
        in refused
    )
    assert accepted == ""


async def test_ipam_and_capm3_identity_fields_cannot_change(kubectl: Kubectl, namespace: str) -> None:
    documents = load_manifests("ipam.yaml") + [
        d
        for d in load_manifests("capm3_v1beta2.yaml")
        if d["kind"] in ("Metal3DataTemplate", "Metal3DataClaim", "Metal3Data")
    ]
    await kubectl.run(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": documents}),
    )

    changes: dict[tuple[str, str, str], dict[str, Any]] = {
        ("ippool", "provisioning-pool", "spec.namePrefix"): {"spec": {"namePrefix": "other"}},
        ("ippool", "provisioning-pool", "spec.allocationStrategy"): {
            "spec": {"allocationStrategy": "random"}
        },
        ("ipclaim", "test1-controlplane-template-0-provisioning-pool", "spec.pool"): {
            "spec": {"pool": {"name": "x"}}
        },
        ("ipaddresses.ipam.metal3.io", "test1-prov-192-168-111-101", "spec.address"): {
            "spec": {"address": "192.168.111.102"}
        },
        ("m3dt", "test1-controlplane-template", "spec.metaData"): {
            "spec": {"metaData": {"namespaces": [{"key": "ns"}]}}
        },
        ("m3dc", "test1-controlplane-x7k2p", "spec.template"): {"spec": {"template": {"name": "other"}}},
        ("m3d", "test1-controlplane-template-0", "spec.index"): {"spec": {"index": 1}},
    }
    for (resource, name, field), patch in changes.items():
        message = await _change(kubectl, namespace, resource, name, patch)
        assert f"{field}: Invalid value: " in message, (resource, message)
        assert "cannot be changed" in message
