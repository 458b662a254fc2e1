from __future__ import annotations

from typing import Any

from adapters.k8s.ipam.controller import CLAIM_FINALIZER, POOL_FINALIZER, IpamController
from tests.adapters.k8s.ipam.fakes import NOW, AggregateCommands, MemoryCluster, claim_object, pool_object

POOL = "metal3/provisioning"


def _controller() -> tuple[IpamController, AggregateCommands, MemoryCluster]:
    commands, cluster = AggregateCommands(), MemoryCluster()
    return IpamController(commands, cluster, clock=lambda: NOW, choose=lambda: 0), commands, cluster


async def _with_pool(**spec: Any) -> tuple[IpamController, AggregateCommands, MemoryCluster]:
    controller, commands, cluster = _controller()
    await controller.reconcile_pool(pool_object(**spec), POOL)
    return controller, commands, cluster


async def test_a_new_pool_gets_its_finalizer_labels_and_an_empty_status() -> None:
    controller, commands, cluster = _controller()
    await controller.reconcile_pool(pool_object(finalizers=[]), POOL)
    state = await commands.state(POOL)
    assert state.exists
    assert state.spec is not None
    assert state.spec.name_prefix == "provisioning"
    assert cluster.finalizers == [(POOL, POOL_FINALIZER, True)]
    assert cluster.labels[POOL] == {
        "cluster.x-k8s.io/cluster-name": "cluster-1",
        "cluster.x-k8s.io/provider": "ipam-metal3",
    }
    assert cluster.status(POOL) == {"indexes": {}, "lastUpdated": "2026-11-24T09:00:00Z"}


async def test_a_pool_resync_sends_nothing_new_and_a_new_generation_is_applied_once() -> None:
    controller, commands, _ = await _with_pool()
    recorded = commands.recorded
    await controller.reconcile_pool(pool_object(), POOL)
    await IpamController(commands, MemoryCluster(), clock=lambda: NOW).reconcile_pool(pool_object(), POOL)
    assert commands.recorded == recorded
    edited = pool_object(generation=2, gateway="192.168.0.254")
    await controller.reconcile_pool(edited, POOL)
    await controller.reconcile_pool(edited, POOL)
    state = await commands.state(POOL)
    assert state.generation == 2
    assert commands.recorded == recorded + 1


async def test_a_pool_without_cluster_name_gets_no_labels() -> None:
    _, _, cluster = await _with_pool(clusterName=None)
    assert POOL not in cluster.labels


async def test_an_invalid_pool_is_reported_once_per_generation_and_never_recorded() -> None:
    controller, commands, cluster = _controller()
    bad = pool_object(preAllocations={"c": "10.0.0.1"})
    await controller.reconcile_pool(bad, POOL)
    await controller.reconcile_pool(bad, POOL)
    assert commands.sent == []
    assert len(cluster.events) == 1
    kind, _, message = cluster.events[0]
    assert kind == "Warning"
    assert "spec.preAllocations[c]" in message


async def test_a_claim_gets_an_ipaddress_with_metal3s_name_and_its_status_points_at_it() -> None:
    controller, _, cluster = await _with_pool()
    claim = claim_object("worker-0", finalizers=[], labels={"role": "worker"})
    await controller.reconcile_claim(claim, "metal3/worker-0")
    assert (("metal3/worker-0", CLAIM_FINALIZER, True)) in cluster.finalizers
    address = cluster.addresses[("metal3", "provisioning-192-168-0-10")]
    assert address["spec"]["address"] == "192.168.0.10"
    assert address["spec"]["prefix"] == 24
    assert address["spec"]["gateway"] == "192.168.0.1"
    assert address["spec"]["dnsServers"] == ["8.8.8.8"]
    assert address["metadata"]["labels"] == {"role": "worker"}
    assert [o["kind"] for o in address["metadata"]["ownerReferences"]] == ["IPPool", "IPClaim"]
    assert cluster.status("metal3/worker-0") == {
        "address": {"name": "provisioning-192-168-0-10", "namespace": "metal3"}
    }
    await controller.reconcile_pool(pool_object(), POOL)
    assert cluster.status(POOL)["indexes"] == {"worker-0": "192.168.0.10"}


async def test_a_claim_resync_allocates_nothing_new() -> None:
    controller, commands, cluster = await _with_pool()
    await controller.reconcile_claim(claim_object("c1"), "metal3/c1")
    recorded = commands.recorded
    await controller.reconcile_claim(claim_object("c1"), "metal3/c1")
    assert commands.recorded == recorded
    assert len(cluster.addresses) == 1


async def test_the_ipaddress_annotation_and_pre_allocations_pick_the_address() -> None:
    controller, _, cluster = await _with_pool()
    await controller.reconcile_claim(
        claim_object("c1", annotations={"ipAddress": "192.168.0.11"}), "metal3/c1"
    )
    await controller.reconcile_claim(claim_object("reserved-claim"), "metal3/reserved-claim")
    await controller.reconcile_claim(claim_object("c2"), "metal3/c2")
    assert cluster.status("metal3/c1")["address"]["name"] == "provisioning-192-168-0-11"
    assert cluster.status("metal3/reserved-claim")["address"]["name"] == "provisioning-192-168-0-12"
    assert cluster.status("metal3/c2")["address"]["name"] == "provisioning-192-168-0-10"


async def test_a_bad_or_taken_requested_address_is_the_claims_error_message() -> None:
    controller, _, cluster = await _with_pool()
    await controller.reconcile_claim(claim_object("c1", annotations={"ipAddress": "banana"}), "metal3/c1")
    assert cluster.status("metal3/c1")["errorMessage"].startswith("Invalid ipAddress annotation")
    await controller.reconcile_claim(
        claim_object("c2", annotations={"ipAddress": "192.168.0.12"}), "metal3/c2"
    )
    assert cluster.status("metal3/c2") == {"errorMessage": "Requested IP not available"}
    assert cluster.addresses == {}


async def test_an_exhausted_pool_is_metal3s_message_until_an_address_is_released() -> None:
    controller, _, cluster = await _with_pool()
    claims = [f"c{n}" for n in range(5)]  # 2 free in the first range (1 reserved), 3 in the subnet
    for name in claims:
        await controller.reconcile_claim(claim_object(name), f"metal3/{name}")
    await controller.reconcile_claim(claim_object("late"), "metal3/late")
    assert cluster.status("metal3/late") == {"errorMessage": "Exhausted IP Pools"}
    assert any("Exhausted IP Pools" in message for _, _, message in cluster.events)

    freed = cluster.status("metal3/c1")["address"]["name"]
    await controller.reconcile_claim(claim_object("c1", deleting=True), "metal3/c1")
    assert freed in cluster.deleted
    assert ("metal3/c1", CLAIM_FINALIZER, False) in cluster.finalizers
    await controller.reconcile_claim(claim_object("late"), "metal3/late")
    assert cluster.status("metal3/late")["address"]["name"] == freed
    assert ("metal3", freed) in cluster.addresses


async def test_a_deleting_claim_waits_for_other_finalizers() -> None:
    controller, commands, cluster = await _with_pool()
    await controller.reconcile_claim(claim_object("c1"), "metal3/c1")
    blocked = claim_object("c1", deleting=True, finalizers=[CLAIM_FINALIZER, "example.com/keep"])
    await controller.reconcile_claim(blocked, "metal3/c1")
    assert (await commands.state(POOL)).allocation("c1") is not None
    assert cluster.deleted == []


async def test_a_claim_of_a_missing_pool_says_so_and_is_served_once_the_pool_exists() -> None:
    controller, _, cluster = _controller()
    await controller.reconcile_claim(claim_object("c1"), "metal3/c1")
    assert "IPPool 'provisioning' not found" in cluster.status("metal3/c1")["errorMessage"]
    await controller.reconcile_pool(pool_object(), POOL)
    await controller.reconcile_claim(claim_object("c1"), "metal3/c1")
    assert cluster.status("metal3/c1") == {
        "address": {"name": "provisioning-192-168-0-10", "namespace": "metal3"}
    }


async def test_a_claim_into_another_namespace_gets_an_error_naming_the_field() -> None:
    controller, commands, cluster = await _with_pool()
    await controller.reconcile_claim(claim_object("c1", pool_namespace="other"), "metal3/c1")
    assert cluster.status("metal3/c1")["errorMessage"].startswith("spec.pool.namespace:")
    assert not any(type(c).__name__ == "AllocateAddress" for c in commands.sent)


async def test_a_pool_is_deleted_only_once_no_claim_holds_an_address() -> None:
    controller, commands, cluster = await _with_pool()
    await controller.reconcile_claim(claim_object("c1"), "metal3/c1")
    await controller.reconcile_pool(pool_object(deleting=True), POOL)
    state = await commands.state(POOL)
    assert state.deletion_requested
    assert not state.deleted
    assert (POOL, POOL_FINALIZER, False) not in cluster.finalizers
    await controller.reconcile_claim(claim_object("c2"), "metal3/c2")
    assert "being deleted" in cluster.status("metal3/c2")["errorMessage"]

    await controller.reconcile_claim(claim_object("c1", deleting=True), "metal3/c1")
    assert (await commands.state(POOL)).deleted
    await controller.reconcile_pool(pool_object(deleting=True), POOL)
    assert (POOL, POOL_FINALIZER, False) in cluster.finalizers


async def test_a_claim_removed_without_its_finalizer_still_releases_its_address() -> None:
    controller, commands, cluster = await _with_pool()
    await controller.reconcile_claim(claim_object("c1"), "metal3/c1")
    await controller.reconcile_claim(None, "metal3/c1")
    assert (await commands.state(POOL)).allocation("c1") is None
    assert cluster.addresses == {}


async def test_ipam_1437_another_pools_ipaddress_is_never_adopted_or_deleted() -> None:
    controller, commands, cluster = await _with_pool()
    # Another pool with the same namePrefix already holds the name of our first address.
    cluster.foreign_address("provisioning-192-168-0-10", pool="other", claim="theirs", address="192.168.0.10")
    foreign = dict(cluster.addresses[("metal3", "provisioning-192-168-0-10")])
    await controller.reconcile_claim(claim_object("mine"), "metal3/mine")

    assert cluster.addresses[("metal3", "provisioning-192-168-0-10")] == foreign
    name = cluster.status("metal3/mine")["address"]["name"]
    assert name.startswith("provisioning-192-168-0-10-")
    assert cluster.addresses[("metal3", name)]["spec"]["pool"]["name"] == "provisioning"
    assert "ReportNameCollision" in commands.kinds()

    await controller.reconcile_claim(claim_object("mine", deleting=True), "metal3/mine")
    assert cluster.addresses == {("metal3", "provisioning-192-168-0-10"): foreign}


async def test_a_leftover_ipaddress_of_this_pool_is_replaced() -> None:
    controller, _, cluster = await _with_pool()
    cluster.foreign_address(
        "provisioning-192-168-0-10", pool="provisioning", claim="gone", address="192.168.0.10"
    )
    await controller.reconcile_claim(claim_object("c1"), "metal3/c1")
    address = cluster.addresses[("metal3", "provisioning-192-168-0-10")]
    assert address["spec"]["claim"]["name"] == "c1"
