"""The IPAddressClaim controller on the real pool aggregate, with in-memory claims and addresses."""

from __future__ import annotations

from typing import Any

from adapters.k8s.ipam.capi_addresses import CapiIpamResources
from adapters.k8s.ipam.capi_claims import CLAIM_FINALIZER, CapiClaimController
from adapters.k8s.ipam.controller import IpamController
from tests.adapters.k8s.ipam.fakes import (
    NAMESPACE,
    NOW,
    AggregateCommands,
    MemoryCluster,
    claim_object,
    pool_object,
)

POOL = f"{NAMESPACE}/provisioning"
RESOURCES = CapiIpamResources.at("v1beta2")


def capi_claim(
    name: str, *, uid: str | None = None, deleting: bool = False, kind: str = "IPPool"
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": NAMESPACE,
        "uid": uid or f"uid-capi-{name}",
        "finalizers": [CLAIM_FINALIZER],
        "ownerReferences": [
            {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine", "name": "m", "uid": "u"}
        ],
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-24T09:00:00Z"
    return {
        "apiVersion": "ipam.cluster.x-k8s.io/v1beta2",
        "kind": "IPAddressClaim",
        "metadata": metadata,
        "spec": {"poolRef": {"apiGroup": "ipam.metal3.io", "kind": kind, "name": "provisioning"}},
    }


async def _plane() -> tuple[
    CapiClaimController, IpamController, AggregateCommands, MemoryCluster, MemoryCluster
]:
    commands, metal3, capi = AggregateCommands(), MemoryCluster(), MemoryCluster()
    ipam = IpamController(commands, metal3, clock=lambda: NOW, choose=lambda: 0)
    await ipam.reconcile_pool(pool_object(), POOL)
    controller = CapiClaimController(commands, capi, RESOURCES, clock=lambda: NOW, choose=lambda: 0)
    return controller, ipam, commands, metal3, capi


async def test_a_claim_gets_a_capi_ipaddress_with_its_owners_and_a_ready_condition() -> None:
    controller, _, commands, _, capi = await _plane()
    await controller.reconcile(capi_claim("a"), f"{NAMESPACE}/a")
    [(key, address)] = capi.addresses.items()
    assert key == (NAMESPACE, "provisioning-192-168-0-10")
    assert address["spec"] == {
        "address": "192.168.0.10",
        "poolRef": {"apiGroup": "ipam.metal3.io", "kind": "IPPool", "name": "provisioning"},
        "claimRef": {"name": "a"},
        "prefix": 24,
        "gateway": "192.168.0.1",
    }
    assert [o["kind"] for o in address["metadata"]["ownerReferences"]] == [
        "Machine",
        "IPPool",
        "IPAddressClaim",
    ]
    status = capi.status(f"{NAMESPACE}/a")
    assert status["addressRef"] == {"name": "provisioning-192-168-0-10"}
    assert status["conditions"][0]["status"] == "True"
    assert (await commands.state(POOL)).indexes == {"a": "192.168.0.10"}


async def test_a_vanished_claim_frees_its_address_but_never_an_ipclaims_of_the_same_name() -> None:
    controller, ipam, commands, _, capi = await _plane()
    await controller.reconcile(capi_claim("a"), f"{NAMESPACE}/a")
    await ipam.reconcile_claim(claim_object("b"), f"{NAMESPACE}/b")
    assert set((await commands.state(POOL)).indexes) == {"a", "b"}

    # An IPAddressClaim named like the IPClaim is refused, and its disappearance frees nothing.
    await controller.reconcile(capi_claim("b"), f"{NAMESPACE}/b")
    assert capi.status(f"{NAMESPACE}/b")["conditions"][0]["reason"] == "NameTaken"
    await controller.reconcile(None, f"{NAMESPACE}/b")
    assert "b" in (await commands.state(POOL)).indexes

    await controller.reconcile(None, f"{NAMESPACE}/a")  # removed without our finalizer's consent
    assert "a" not in (await commands.state(POOL)).indexes
    assert capi.deleted == ["provisioning-192-168-0-10"]


async def test_deleting_a_claim_deletes_its_address_and_removes_the_finalizer() -> None:
    controller, _, commands, _, capi = await _plane()
    await controller.reconcile(capi_claim("a"), f"{NAMESPACE}/a")
    await controller.reconcile(capi_claim("a", deleting=True), f"{NAMESPACE}/a")
    assert capi.addresses == {}
    assert capi.finalizers[-1] == (f"{NAMESPACE}/a", CLAIM_FINALIZER, False)
    assert "a" not in (await commands.state(POOL)).indexes


async def test_another_providers_claim_is_not_touched() -> None:
    controller, _, commands, _, capi = await _plane()
    await controller.reconcile(capi_claim("x", kind="InClusterIPPool"), f"{NAMESPACE}/x")
    assert (capi.addresses, capi.statuses, capi.finalizers) == ({}, {}, [])
    assert "x" not in (await commands.state(POOL)).indexes
