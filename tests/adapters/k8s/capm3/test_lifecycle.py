"""The CAPM3 controllers together on the real aggregates: a machine with a data template from
association to provisioned and back, with the test answering IPClaims the way IPAM does."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from adapters.k8s.capm3.datas import DataController
from adapters.k8s.capm3.machines import MachineController
from adapters.k8s.capm3.names import (
    CLAIMS,
    DATA_FINALIZER,
    DATAS,
    HOSTS,
    IPADDRESSES,
    IPCLAIMS,
    MACHINES,
    TEMPLATES,
)
from adapters.k8s.capm3.templates import ClaimController, TemplateController
from adapters.k8s.resources import SECRETS, Resource
from core.aggregates import data_templates, hosts, machines
from core.events import hosts as ev
from core.events.host_values import NIC, HardwareDetails, HostSpec, Image, ProvisioningState
from metalstream.commanding import CommandHandler
from metalstream.kube.machines import HandlerCommands
from metalstream.registry import CODECS
from tests.adapters.k8s.capm3.fakes import NOW, MemoryCluster, add_available_host, append
from tests.fakes.memory_eventstore import MemoryEventStore

PS = ProvisioningState
NS = "life"
MAC = "52:54:00:aa:bb:cc"


class Plane:
    """Every CAPM3 controller of one process, plus an IPAM that answers each IPClaim at once."""

    def __init__(self) -> None:
        self.store = MemoryEventStore(CODECS)
        self.cluster = MemoryCluster()
        self.hosts = CommandHandler(self.store, hosts.DEFINITION, clock=lambda: NOW)
        self.machines = CommandHandler(self.store, machines.DEFINITION, clock=lambda: NOW)
        templates = HandlerCommands(CommandHandler(self.store, data_templates.DEFINITION, clock=lambda: NOW))
        host_commands = HandlerCommands(self.hosts)
        kube, cache = self.cluster, self.cluster.cache
        self.controllers: list[tuple[Resource, Any]] = [
            (
                MACHINES,
                MachineController(
                    HandlerCommands(self.machines), host_commands, kube, cache, clock=lambda: NOW
                ),
            ),
            (TEMPLATES, TemplateController(templates, kube, clock=lambda: NOW)),
            (CLAIMS, ClaimController(templates, kube, cache, clock=lambda: NOW)),
            (DATAS, DataController(templates, host_commands, kube, cache)),
        ]
        self.next_address = 10

    async def settle(self, rounds: int = 6) -> None:
        for _ in range(rounds):
            for resource, controller in self.controllers:
                for obj in list(self.cluster.cache.list(resource, NS)):
                    key = f"{NS}/{obj['metadata']['name']}"
                    await controller.reconcile(self.cluster.cached(resource, key), key)
            await self._ipam()

    async def _ipam(self) -> None:
        for claim in list(self.cluster.cache.list(IPCLAIMS, NS)):
            name = claim["metadata"]["name"]
            if claim["metadata"].get("deletionTimestamp"):
                if claim["metadata"].get("finalizers") == ["ipclaim.ipam.metal3.io"]:
                    await self.cluster.delete(IPADDRESSES, NS, claim["status"]["address"]["name"])
                    await self.cluster.set_finalizer(IPCLAIMS, claim, "ipclaim.ipam.metal3.io", present=False)
                continue
            if (claim.get("status") or {}).get("address"):
                continue
            address = f"192.168.7.{self.next_address}"
            self.next_address += 1
            ip_name = "pool-" + address.replace(".", "-")
            self.cluster.put(
                IPADDRESSES,
                {
                    "metadata": {"name": ip_name, "namespace": NS},
                    "spec": {
                        "address": address,
                        "prefix": 24,
                        "gateway": "192.168.7.1",
                        "claim": {"name": name},
                    },
                },
            )
            await self.cluster.set_finalizer(IPCLAIMS, claim, "ipclaim.ipam.metal3.io", present=True)
            await self.cluster.write_status(IPCLAIMS, claim, {"address": {"name": ip_name}})

    async def host_events(self, host_id: str, *events: Any) -> None:
        """Events the BareMetalHost controller and the provisioner would record."""
        await append(self.store, host_id, *events)
        self.hosts.forget(host_id)  # the service's hosts view drops a copy another writer outdated

    def obj(self, resource: Resource, name: str) -> dict[str, Any]:
        found = self.cluster.cached(resource, f"{NS}/{name}")
        assert found is not None, f"{resource.kind} {name} is missing"
        return found

    def names(self, resource: Resource) -> list[str]:
        return [o["metadata"]["name"] for o in self.cluster.cache.list(resource, NS)]


TEMPLATE = {
    "metadata": {"name": "tpl", "namespace": NS},
    "spec": {
        "metaData": {
            "strings": [{"key": "role", "value": "worker"}],
            "ipAddressesFromIPPool": [
                {"key": "ip", "name": "pool", "apiGroup": "ipam.metal3.io", "kind": "IPPool"}
            ],
        },
        "networkData": {
            "links": {
                "ethernets": [{"type": "phy", "id": "nic0", "macAddress": {"fromHostInterface": "eth0"}}]
            },
            "networks": {"ipv4": [{"id": "net0", "link": "nic0", "ipAddressFromIPPool": "pool"}]},
        },
    },
}

MACHINE = {
    "metadata": {"name": "m-0", "namespace": NS},
    "spec": {
        "image": {"url": "http://example.test/os.qcow2", "checksum": "0" * 64, "checksumType": "sha256"},
        "userData": {"name": "user-data"},
        "dataTemplate": {"name": "tpl"},
    },
}


def _secret(plane: Plane, name: str, key: str) -> Any:
    secret = plane.obj(SECRETS, name)
    text = (
        secret["stringData"][key]
        if "stringData" in secret
        else base64.b64decode(secret["data"][key]).decode()
    )
    return yaml.safe_load(text)


async def test_a_machine_is_placed_rendered_provisioned_and_released() -> None:
    plane = Plane()
    hardware = HardwareDetails(nics=(NIC(name="eth0", mac=MAC, ip="10.0.0.5"),), hostname="host-0")
    await add_available_host(plane.store, NS, "host-0", hardware)
    plane.cluster.put(HOSTS, {"metadata": {"name": "host-0", "namespace": NS}, "spec": {"online": False}})
    plane.cluster.put(TEMPLATES, TEMPLATE)
    plane.cluster.put(MACHINES, MACHINE)
    await plane.settle()

    host = plane.obj(HOSTS, "host-0")["spec"]
    assert host["consumerRef"]["name"] == "m-0"
    assert host["image"]["url"] == "http://example.test/os.qcow2"
    assert (host["userData"], host["metaData"], host["networkData"]) == (
        {"name": "user-data"},
        {"name": "m-0-metadata"},
        {"name": "m-0-networkdata"},
    )
    assert host["online"] is True
    meta = _secret(plane, "m-0-metadata", "metaData")
    assert (meta["role"], meta["ip"], meta["providerid"]) == ("worker", "192.168.7.10", f"{NS}/host-0/m-0")
    network = _secret(plane, "m-0-networkdata", "networkData")
    assert network["links"][0]["ethernet_mac_address"] == MAC
    assert network["networks"][0]["ip_address"] == "192.168.7.10"
    assert plane.obj(DATAS, "tpl-0")["status"] == {"ready": True}
    assert plane.obj(TEMPLATES, "tpl")["status"]["indexes"] == [{"name": "m-0", "index": 0}]
    status = plane.obj(MACHINES, "m-0")["status"]
    assert status["renderedData"] == {"name": "tpl-0", "namespace": NS}
    assert status["ready"] is False
    assert {"type": "InternalIP", "address": "10.0.0.5"} in status["addresses"]

    # The secrets are never rewritten, even when changed by hand.
    plane.obj(SECRETS, "m-0-metadata")["stringData"]["metaData"] = "edited: true\n"
    await plane.settle(rounds=2)
    assert _secret(plane, "m-0-metadata", "metaData") == {"edited": True}

    image = Image(url="http://example.test/os.qcow2")
    await plane.host_events(
        f"{NS}/host-0",
        ev.SpecChanged(generation=2, spec=HostSpec(online=True, image=image)),
        ev.ProvisioningStateChanged(previous=PS.AVAILABLE, state=PS.PROVISIONED, reason="test", at=NOW),
    )
    await plane.settle()
    machine = plane.obj(MACHINES, "m-0")
    assert machine["spec"]["providerID"] == f"metal3://{NS}/host-0/m-0"
    assert machine["status"]["ready"] is True
    assert machine["status"]["initialization"] == {"provisioned": True}

    await plane.cluster.delete(MACHINES, NS, "m-0")
    await plane.settle()
    host = plane.obj(HOSTS, "host-0")["spec"]
    assert "image" not in host
    assert "userData" not in host
    assert host["online"] is False
    assert host["consumerRef"]["name"] == "m-0", "the consumer stays until the host is deprovisioned"
    assert plane.names(MACHINES) == ["m-0"]

    await plane.host_events(
        f"{NS}/host-0",
        ev.SpecChanged(generation=plane.obj(HOSTS, "host-0")["metadata"]["generation"], spec=HostSpec()),
        ev.ProvisioningStateChanged(previous=PS.PROVISIONED, state=PS.AVAILABLE, reason="test", at=NOW),
    )
    await plane.settle()
    assert "consumerRef" not in plane.obj(HOSTS, "host-0")["spec"]
    host_state, _ = await plane.hosts.load(f"{NS}/host-0")
    assert host_state.consumer is None
    for resource in (MACHINES, CLAIMS, DATAS, IPCLAIMS, IPADDRESSES, SECRETS):
        assert plane.names(resource) == [], resource.kind
    assert plane.obj(TEMPLATES, "tpl")["status"]["indexes"] == []
    machine_state, _ = await plane.machines.load(f"{NS}/m-0")
    assert machine_state.deleted


async def test_a_template_field_that_cannot_be_rendered_is_reported_on_the_data() -> None:
    plane = Plane()
    await add_available_host(plane.store, NS, "host-0", HardwareDetails(nics=(NIC(name="eno9", mac=MAC),)))
    plane.cluster.put(HOSTS, {"metadata": {"name": "host-0", "namespace": NS}, "spec": {}})
    plane.cluster.put(TEMPLATES, TEMPLATE)
    plane.cluster.put(MACHINES, MACHINE)
    await plane.settle()

    status = plane.obj(DATAS, "tpl-0")["status"]
    assert status["ready"] is False
    assert "spec.networkData.links.ethernets[0].macAddress" in status["errorMessage"]
    assert "eth0" in status["errorMessage"]
    assert plane.names(SECRETS) == []
    host = plane.obj(HOSTS, "host-0")["spec"]
    assert host["consumerRef"]["name"] == "m-0"
    assert "image" not in host, "no image before the data is rendered"
    assert DATA_FINALIZER in plane.obj(IPCLAIMS, "tpl-0-pool")["metadata"]["finalizers"]
