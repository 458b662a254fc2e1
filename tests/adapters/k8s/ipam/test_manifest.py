from __future__ import annotations

from typing import Any

import pytest

from adapters.k8s.ipam import addresses
from adapters.k8s.ipam.manifest import ManifestProblem, read_claim, read_pool
from adapters.k8s.ipam.status import claim_bound, claim_failed, pool_status
from core.aggregates import ippools
from core.aggregates.ippool_state import INITIAL
from core.events import ippools as ev
from core.events.ippool_values import AddressRange, OwnerRef, PoolRef
from tests.adapters.k8s.ipam.fakes import NOW, claim_object, pool_object


def test_metal3s_sample_pool_reads_into_the_aggregates_spec() -> None:
    pool = read_pool(pool_object(generation=3))
    assert pool.meta.id == "metal3/provisioning"
    assert pool.meta.generation == 3
    assert pool.spec.name_prefix == "provisioning"
    assert pool.spec.cluster_name == "cluster-1"
    assert pool.spec.pools[1] == AddressRange(subnet="192.168.1.0/30", prefix=30, gateway="192.168.1.1")
    assert pool.spec.dns_servers == ("8.8.8.8",)
    assert pool.spec.pre_allocations == {"reserved-claim": "192.168.0.12"}


def test_unknown_fields_are_ignored() -> None:
    pool = read_pool(pool_object(futureField={"x": 1}))
    assert pool.spec.prefix == 24


@pytest.mark.parametrize(
    ("spec", "field", "words"),
    [
        ({"pools": [{"start": "192.168.0.20", "end": "192.168.0.10"}]}, "spec.pools[0].end", "before"),
        ({"preAllocations": {"c": "10.9.9.9"}}, "spec.preAllocations[c]", "out of bounds"),
        ({"pools": [{"start": "10.0.0.1", "end": "10.0.0.2", "prefix": "x"}]}, "spec.pools[0].prefix", "int"),
        ({"namePrefix": "Bad_Prefix"}, "spec.namePrefix", "lower-case"),
    ],
)
def test_a_pool_spec_the_schema_cannot_refuse_names_the_field(
    spec: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ManifestProblem) as caught:
        read_pool(pool_object(**spec))
    assert caught.value.field == field
    assert words in caught.value.message


def test_a_claim_reads_its_pool_and_requested_address() -> None:
    claim = read_claim(claim_object("c1", annotations={"ipAddress": " 192.168.0.11 "}))
    assert claim.pool_id == "metal3/provisioning"
    assert claim.requested_address == "192.168.0.11"
    assert read_claim(claim_object("c2")).requested_address is None


def test_a_claim_pointing_into_another_namespace_names_the_field() -> None:
    with pytest.raises(ManifestProblem) as caught:
        read_claim(claim_object("c1", pool_namespace="elsewhere"))
    assert caught.value.field == "spec.pool.namespace"
    with pytest.raises(ManifestProblem) as caught:
        read_claim({"metadata": {"name": "c", "namespace": "n"}, "spec": {"pool": {}}})
    assert caught.value.field == "spec.pool.name"


def test_pool_status_lists_the_allocations_by_claim() -> None:
    state = ippools.evolve(
        INITIAL,
        ev.PoolCreated(
            namespace="metal3", name="p", uid="u", generation=1, spec=read_pool(pool_object()).spec
        ),
    )
    held = ev.AddressAllocated(
        claim="b", address="192.168.0.10", address_name="provisioning-192-168-0-10", pool=state.ref, prefix=24
    )
    state = ippools.evolve(state, held)
    assert pool_status(state, NOW) == {
        "indexes": {"b": "192.168.0.10"},
        "lastUpdated": "2026-11-24T09:00:00Z",
    }


def test_claim_status_shows_the_address_or_the_error() -> None:
    bound = claim_bound("metal3", "provisioning-192-168-0-10")
    assert bound == {"address": {"name": "provisioning-192-168-0-10", "namespace": "metal3"}}
    assert claim_failed("Exhausted IP Pools") == {"errorMessage": "Exhausted IP Pools"}
    assert claim_failed("x", bound) == {**bound, "errorMessage": "x"}


def test_an_ipaddress_carries_metal3s_name_spec_owners_labels_and_finalizer() -> None:
    held = ev.AddressAllocated(
        claim="c1",
        address="192.168.0.10",
        address_name="provisioning-192-168-0-10",
        pool=PoolRef(namespace="metal3", name="provisioning", uid="pool-uid"),
        prefix=24,
        gateway="192.168.0.1",
        dns_servers=("8.8.8.8",),
        labels={"role": "worker"},
        owners=(OwnerRef(api_version="ipam.metal3.io/v1alpha1", kind="IPClaim", name="c1", uid="claim-uid"),),
    )
    body = addresses.address_object(held)
    assert body["metadata"]["name"] == "provisioning-192-168-0-10"
    assert body["metadata"]["finalizers"] == ["ipaddress.ipam.metal3.io"]
    assert body["metadata"]["labels"] == {"role": "worker"}
    assert [(o["kind"], o["uid"]) for o in body["metadata"]["ownerReferences"]] == [
        ("IPPool", "pool-uid"),
        ("IPClaim", "claim-uid"),
    ]
    assert body["spec"] == {
        "address": "192.168.0.10",
        "pool": {"name": "provisioning", "namespace": "metal3"},
        "claim": {"name": "c1", "namespace": "metal3"},
        "prefix": 24,
        "gateway": "192.168.0.1",
        "dnsServers": ["8.8.8.8"],
    }
    assert addresses.pool_of(body) == "metal3/provisioning"
    assert addresses.claim_of(body) == "c1"
