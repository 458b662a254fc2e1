"""A Metal3Machine under Cluster API: bootstrap data from its Machine, pause, node reuse.

The machine controller runs on the real aggregates over an in-memory cluster holding CAPI
Machine and Cluster objects the way Cluster API writes them.
"""

from __future__ import annotations

from typing import Any

from adapters.k8s.capm3 import capi
from adapters.k8s.capm3.capi import CapiResources
from adapters.k8s.capm3.machines import MachineController
from adapters.k8s.capm3.names import HOSTS, MACHINE_TEMPLATES, MACHINES
from core.aggregates import hosts, machines
from core.aggregates.host_selection import NODE_REUSE_LABEL
from core.events import hosts as ev
from core.events.host_values import HostSpec, Image, ProvisioningState
from metalstream.commanding import CommandHandler
from metalstream.kube.machines import HandlerCommands
from metalstream.registry import CODECS
from tests.adapters.k8s.capm3.fakes import NOW, MemoryCluster, add_available_host, append
from tests.fakes.memory_eventstore import MemoryEventStore

NS = "capi"
PS = ProvisioningState
CAPI = CapiResources.at("v1beta2")
IMAGE = {"url": "http://example.test/os.qcow2", "checksum": "0" * 64, "checksumType": "sha256"}


class Plane:
    """One machine controller with Cluster API served, and its cluster."""

    def __init__(self) -> None:
        self.store = MemoryEventStore(CODECS)
        self.cluster = MemoryCluster()
        self.hosts = CommandHandler(self.store, hosts.DEFINITION, clock=lambda: NOW)
        self.machines = CommandHandler(self.store, machines.DEFINITION, clock=lambda: NOW)
        self.controller = MachineController(
            HandlerCommands(self.machines),
            HandlerCommands(self.hosts),
            self.cluster,
            self.cluster.cache,
            clock=lambda: NOW,
            roll=lambda: 0.0,
            capi_resources=CAPI,
        )

    async def host(self, name: str, labels: dict[str, str] | None = None) -> None:
        await add_available_host(self.store, NS, name)
        self.cluster.put(HOSTS, {"metadata": {"name": name, "namespace": NS, "labels": labels or {}}})

    async def reconcile(self, name: str = "m3m-0") -> None:
        key = f"{NS}/{name}"
        await self.controller.reconcile(self.cluster.cached(MACHINES, key), key)

    def obj(self, resource: Any, name: str) -> dict[str, Any]:
        found = self.cluster.cached(resource, f"{NS}/{name}")
        assert found is not None, f"{resource.kind} {name} is missing"
        return found

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        conditions = {c["type"]: c for c in self.obj(MACHINES, name)["status"]["conditions"]}
        found: dict[str, Any] = conditions[kind]
        return found

    async def host_state(self, name: str, previous: PS, state: PS, generation: int) -> None:
        spec = HostSpec(online=True, image=Image(url=IMAGE["url"])) if state == PS.PROVISIONED else HostSpec()
        await append(
            self.store,
            f"{NS}/{name}",
            ev.SpecChanged(generation=generation, spec=spec),
            ev.ProvisioningStateChanged(previous=previous, state=state, reason="test", at=NOW),
        )
        self.hosts.forget(f"{NS}/{name}")


def capi_machine(name: str, *, bootstrap: str | None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterName": "c1", "bootstrap": {"configRef": {"name": name}}}
    if bootstrap is not None:
        spec["bootstrap"]["dataSecretName"] = bootstrap
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"cluster.x-k8s.io/cluster-name": "c1", **(labels or {})},
        },
        "spec": spec,
    }


def metal3machine(name: str, owner: str, *, template: str | None = None) -> dict[str, Any]:
    annotations = {capi.CLONED_FROM_NAME: template} if template else {}
    return {
        "metadata": {
            "name": name,
            "namespace": NS,
            "labels": {"cluster.x-k8s.io/cluster-name": "c1"},
            "annotations": annotations,
            "ownerReferences": [
                {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine", "name": owner, "uid": "u1"}
            ],
        },
        "spec": {"image": IMAGE},
    }


async def test_the_machines_bootstrap_data_is_waited_for_and_then_becomes_the_hosts_user_data() -> None:
    plane = Plane()
    await plane.host("host-0")
    plane.cluster.put(CAPI.clusters, {"metadata": {"name": "c1", "namespace": NS}, "spec": {}})
    plane.cluster.put(CAPI.machines, capi_machine("machine-0", bootstrap=None))
    plane.cluster.put(MACHINES, metal3machine("m3m-0", "machine-0"))

    await plane.reconcile()
    associate = plane.condition("m3m-0", "AssociateBareMetalHost")
    assert associate["reason"] == "WaitingForBootstrapData"
    assert "Machine machine-0 has no spec.bootstrap.dataSecretName" in associate["message"]
    assert "consumerRef" not in plane.obj(HOSTS, "host-0").get("spec", {})

    plane.cluster.put(CAPI.machines, capi_machine("machine-0", bootstrap="machine-0-bootstrap"))
    await plane.reconcile()
    await plane.reconcile()
    host = plane.obj(HOSTS, "host-0")["spec"]
    assert host["consumerRef"]["name"] == "m3m-0"
    assert host["userData"] == {"name": "machine-0-bootstrap"}
    assert plane.obj(MACHINES, "m3m-0")["status"]["userData"] == {
        "name": "machine-0-bootstrap",
        "namespace": NS,
    }


async def test_a_missing_owner_machine_is_named_in_the_status() -> None:
    plane = Plane()
    await plane.host("host-0")
    plane.cluster.put(MACHINES, metal3machine("m3m-0", "machine-9"))
    await plane.reconcile()
    message = plane.condition("m3m-0", "AssociateBareMetalHost")["message"]
    assert message == "waiting for bootstrap data: the owner Machine machine-9 was not found"


async def test_the_machines_own_user_data_wins_over_the_bootstrap_secret() -> None:
    plane = Plane()
    await plane.host("host-0")
    plane.cluster.put(CAPI.machines, capi_machine("machine-0", bootstrap="machine-0-bootstrap"))
    m3m = metal3machine("m3m-0", "machine-0")
    m3m["spec"]["userData"] = {"name": "my-user-data"}
    plane.cluster.put(MACHINES, m3m)
    await plane.reconcile()
    await plane.reconcile()
    assert plane.obj(HOSTS, "host-0")["spec"]["userData"] == {"name": "my-user-data"}


async def test_a_paused_cluster_pauses_the_host_and_unpausing_removes_only_its_own_pause() -> None:
    plane = Plane()
    await plane.host("host-0")
    plane.cluster.put(CAPI.clusters, {"metadata": {"name": "c1", "namespace": NS}, "spec": {}})
    plane.cluster.put(CAPI.machines, capi_machine("machine-0", bootstrap="bootstrap"))
    plane.cluster.put(MACHINES, metal3machine("m3m-0", "machine-0"))
    await plane.reconcile()
    await plane.reconcile()
    assert plane.obj(HOSTS, "host-0")["spec"]["consumerRef"]["name"] == "m3m-0"

    plane.obj(CAPI.clusters, "c1")["spec"]["paused"] = True
    await plane.reconcile()
    annotations = plane.obj(HOSTS, "host-0")["metadata"]["annotations"]
    assert annotations["baremetalhost.metal3.io/paused"] == "metal3.io/capm3"
    assert plane.condition("m3m-0", "Paused")["status"] == "True"

    # A paused machine is not acted on: not even its deletion.
    await plane.cluster.delete(MACHINES, NS, "m3m-0")
    await plane.reconcile()
    assert plane.obj(HOSTS, "host-0")["spec"]["image"]["url"] == IMAGE["url"]

    plane.obj(CAPI.clusters, "c1")["spec"]["paused"] = False
    await plane.reconcile()
    assert "baremetalhost.metal3.io/paused" not in plane.obj(HOSTS, "host-0")["metadata"]["annotations"]
    assert "image" not in plane.obj(HOSTS, "host-0")["spec"], "unpaused, the deletion goes on"

    # A pause the user set is theirs: the machine never removes it.
    plane.obj(HOSTS, "host-0")["metadata"]["annotations"]["baremetalhost.metal3.io/paused"] = "by-hand"
    await plane.reconcile()
    assert (
        plane.obj(HOSTS, "host-0")["metadata"]["annotations"]["baremetalhost.metal3.io/paused"] == "by-hand"
    )


async def test_the_paused_annotation_on_the_metal3machine_pauses_it_too() -> None:
    plane = Plane()
    await plane.host("host-0")
    plane.cluster.put(CAPI.machines, capi_machine("machine-0", bootstrap="bootstrap"))
    m3m = metal3machine("m3m-0", "machine-0")
    m3m["metadata"]["annotations"][capi.PAUSED_ANNOTATION] = ""
    plane.cluster.put(MACHINES, m3m)
    await plane.reconcile()
    assert "consumerRef" not in plane.obj(HOSTS, "host-0").get("spec", {})
    assert plane.condition("m3m-0", "Paused")["status"] == "True"


async def test_with_node_reuse_a_released_host_is_reserved_for_its_deployment_and_taken_back() -> None:
    plane = Plane()
    await plane.host("host-0")
    await plane.host("host-1")
    plane.cluster.put(CAPI.clusters, {"metadata": {"name": "c1", "namespace": NS}, "spec": {}})
    plane.cluster.put(
        MACHINE_TEMPLATES, {"metadata": {"name": "workers", "namespace": NS}, "spec": {"nodeReuse": True}}
    )
    md = {capi.DEPLOYMENT_NAME_LABEL: "md-0"}
    plane.cluster.put(CAPI.machines, capi_machine("machine-0", bootstrap="b0", labels=md))
    plane.cluster.put(MACHINES, metal3machine("m3m-0", "machine-0", template="workers"))
    await plane.reconcile()
    await plane.reconcile()
    first = next(
        name
        for name in ("host-0", "host-1")
        if (plane.obj(HOSTS, name).get("spec") or {}).get("consumerRef", {}).get("name") == "m3m-0"
    )
    generation = plane.obj(HOSTS, first)["metadata"]["generation"]
    await plane.host_state(first, PS.AVAILABLE, PS.PROVISIONED, generation)
    await plane.reconcile()

    await plane.cluster.delete(MACHINES, NS, "m3m-0")
    await plane.reconcile()  # deprovision
    generation = plane.obj(HOSTS, first)["metadata"]["generation"]
    await plane.host_state(first, PS.PROVISIONED, PS.AVAILABLE, generation)
    await plane.reconcile()  # release with the reservation
    await plane.reconcile()  # released on the aggregate, finalizer gone
    assert plane.obj(HOSTS, first)["metadata"]["labels"][NODE_REUSE_LABEL] == "md-0"
    assert plane.cluster.cached(MACHINES, f"{NS}/m3m-0") is None
    assert any("reserved for md-0" in message for _, _, message in plane.cluster.events)

    # The rollout's replacement machine of the same deployment takes the reserved host back
    # (roll 0.0 would otherwise choose host-0 first), and the reservation is used up.
    plane.cluster.put(CAPI.machines, capi_machine("machine-1", bootstrap="b1", labels=md))
    plane.cluster.put(MACHINES, metal3machine("m3m-1", "machine-1", template="workers"))
    await plane.reconcile("m3m-1")
    await plane.reconcile("m3m-1")
    host = plane.obj(HOSTS, first)
    assert host["spec"]["consumerRef"]["name"] == "m3m-1"
    assert NODE_REUSE_LABEL not in host["metadata"]["labels"]
    state, _ = await plane.machines.load(f"{NS}/m3m-1")
    assert state.via_node_reuse


async def test_without_node_reuse_or_with_the_cluster_deleting_no_reservation_is_made() -> None:
    plane = Plane()
    await plane.host("host-0")
    plane.cluster.put(
        CAPI.clusters,
        {
            "metadata": {"name": "c1", "namespace": NS, "deletionTimestamp": "2026-11-24T09:00:00Z"},
            "spec": {},
        },
    )
    plane.cluster.put(
        MACHINE_TEMPLATES, {"metadata": {"name": "workers", "namespace": NS}, "spec": {"nodeReuse": True}}
    )
    md = {capi.DEPLOYMENT_NAME_LABEL: "md-0"}
    plane.cluster.put(CAPI.machines, capi_machine("machine-0", bootstrap="b0", labels=md))
    plane.cluster.put(MACHINES, metal3machine("m3m-0", "machine-0", template="workers"))
    await plane.reconcile()
    await plane.reconcile()
    await plane.host_state(
        "host-0", PS.AVAILABLE, PS.PROVISIONED, plane.obj(HOSTS, "host-0")["metadata"]["generation"]
    )
    await plane.reconcile()
    await plane.cluster.delete(MACHINES, NS, "m3m-0")
    await plane.reconcile()
    await plane.host_state(
        "host-0", PS.PROVISIONED, PS.AVAILABLE, plane.obj(HOSTS, "host-0")["metadata"]["generation"]
    )
    await plane.reconcile()
    await plane.reconcile()
    assert plane.cluster.cached(MACHINES, f"{NS}/m3m-0") is None
    assert NODE_REUSE_LABEL not in plane.obj(HOSTS, "host-0")["metadata"]["labels"]
