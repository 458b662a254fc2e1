from __future__ import annotations

import json

import msgspec
import pytest

from core.events import ippools as ev
from core.events.base import Event, UndecodableEvent, event_type_of
from core.events.codec import encode
from core.events.ippool_values import AddressRange, OwnerRef, PoolRef, PoolSpec
from metalstream import registry

SPEC = PoolSpec(
    name_prefix="cluster-a-prov",
    cluster_name="cluster-a",
    pools=(
        AddressRange(start="192.168.111.20", end="192.168.111.60", subnet="192.168.111.0/24", prefix=24),
        AddressRange(subnet="fd00:1::/120", gateway="fd00:1::1", dns_servers=("fd00:1::53",)),
    ),
    allocation_strategy="random",
    pre_allocations={"cluster-a-cp-0": "192.168.111.21"},
    prefix=24,
    gateway="192.168.111.1",
    dns_servers=("192.168.111.53", "192.168.111.54"),
)
POOL = PoolRef(namespace="metal3", name="provisioning", uid="0b6e")
CLAIM_OWNER = OwnerRef(api_version="ipam.metal3.io/v1alpha1", kind="IPClaim", name="cp-0-claim", uid="9f1a")

SAMPLES: dict[type[Event], list[Event]] = {
    ev.PoolCreated: [
        ev.PoolCreated(namespace="metal3", name="provisioning", uid="0b6e", generation=1, spec=SPEC),
        ev.PoolCreated(namespace="metal3", name="p", uid="u", generation=1, spec=PoolSpec(name_prefix="p")),
    ],
    ev.PoolSpecChanged: [ev.PoolSpecChanged(generation=2, spec=SPEC)],
    ev.AddressAllocated: [
        ev.AddressAllocated(
            claim="cp-0-claim",
            address="192.168.111.20",
            address_name="cluster-a-prov-192-168-111-20",
            pool=POOL,
            prefix=24,
            gateway="192.168.111.1",
            dns_servers=("192.168.111.53",),
            source="requested",
            labels={"cluster.x-k8s.io/cluster-name": "cluster-a"},
            owners=(CLAIM_OWNER,),
        ),
        ev.AddressAllocated(
            claim="c", address="fd00:1::2", address_name="p-fd00-1--2", pool=POOL, prefix=120
        ),
    ],
    ev.AddressReleased: [
        ev.AddressReleased(claim="c", address="192.168.111.20", address_name="p-192-168-111-20")
    ],
    ev.AddressRenamed: [
        ev.AddressRenamed(
            claim="c",
            address="192.168.111.20",
            previous_name="p-192-168-111-20",
            address_name="p-192-168-111-20-1a2b3c4d",
            taken_by="metal3/other-pool",
        )
    ],
    ev.DeletionRequested: [ev.DeletionRequested()],
    ev.PoolDeleted: [ev.PoolDeleted()],
}


def _all_samples() -> list[object]:
    return [
        pytest.param(sample, id=f"{cls.__name__}-{n}")
        for cls, samples in SAMPLES.items()
        for n, sample in enumerate(samples)
    ]


def test_every_ippool_event_class_has_a_sample() -> None:
    assert set(SAMPLES) == set(ev.IPAM_EVENT_CLASSES)


@pytest.mark.parametrize("event", _all_samples())
def test_ippool_event_survives_encoding_and_decoding(event: Event) -> None:
    decoded = ev.CODEC.decode(encode(event))

    assert type(decoded) is type(event)
    assert decoded == event


@pytest.mark.parametrize("event", _all_samples())
def test_ippool_event_is_written_with_its_type_tag_and_camel_case_keys(event: Event) -> None:
    wire = json.loads(encode(event))

    assert wire["type"] == event_type_of(event)
    assert all("_" not in key for key in wire)


def test_every_ippool_event_tag_is_unique_versioned_and_namespaced_by_ippool() -> None:
    tags = [event_type_of(samples[0]) for samples in SAMPLES.values()]

    assert len(set(tags)) == len(tags)
    assert all(tag.startswith("ippool.") for tag in tags)
    assert ev.CODEC.event_types == frozenset(tags)
    assert all(ev.CODEC.version_of(samples[0]) == 1 for samples in SAMPLES.values())


def test_the_registry_decodes_ippool_events_and_still_knows_hosts() -> None:
    assert registry.CODECS["ippool"] is ev.CODEC
    assert "host" in registry.CODECS
    assert registry.DEFINITIONS["ippool"].codec is ev.CODEC


def test_pool_spec_wire_form_uses_metal3_field_names() -> None:
    wire = json.loads(encode(ev.PoolSpecChanged(generation=2, spec=SPEC)))

    assert wire == {
        "type": "ippool.spec_changed",
        "generation": 2,
        "spec": {
            "namePrefix": "cluster-a-prov",
            "clusterName": "cluster-a",
            "pools": [
                {
                    "start": "192.168.111.20",
                    "end": "192.168.111.60",
                    "subnet": "192.168.111.0/24",
                    "prefix": 24,
                },
                {"subnet": "fd00:1::/120", "gateway": "fd00:1::1", "dnsServers": ["fd00:1::53"]},
            ],
            "allocationStrategy": "random",
            "preAllocations": {"cluster-a-cp-0": "192.168.111.21"},
            "prefix": 24,
            "gateway": "192.168.111.1",
            "dnsServers": ["192.168.111.53", "192.168.111.54"],
        },
    }


def test_address_allocated_wire_form_carries_the_pool_identity() -> None:
    wire = json.loads(encode(SAMPLES[ev.AddressAllocated][0]))

    assert wire["pool"] == {"namespace": "metal3", "name": "provisioning", "uid": "0b6e"}
    assert wire["addressName"] == "cluster-a-prov-192-168-111-20"
    assert wire["owners"] == [
        {"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim", "name": "cp-0-claim", "uid": "9f1a"}
    ]


def test_a_metal3_ippool_spec_decodes_with_metal3_defaults() -> None:
    metal3 = b'{"namePrefix": "p", "pools": [{"subnet": "10.0.0.0/24"}]}'

    spec = msgspec.json.decode(metal3, type=PoolSpec)

    assert spec.allocation_strategy == "sequential"
    assert spec.prefix == 0
    assert spec.pre_allocations == {}
    assert spec.pools == (AddressRange(subnet="10.0.0.0/24"),)


def test_an_unknown_allocation_strategy_is_undecodable() -> None:
    data = b'{"type":"ippool.spec_changed","generation":2,"spec":{"namePrefix":"p","allocationStrategy":"x"}}'

    assert isinstance(ev.CODEC.decode(data), UndecodableEvent)
