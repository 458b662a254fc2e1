from __future__ import annotations

import pytest
from msgspec.structs import replace

from core.aggregates import ippool_commands as cmd
from core.aggregates.base import Stored
from core.aggregates.ippool_state import PoolState
from core.aggregates.ippools import DEFINITION
from core.events import ippools as ev
from core.events.ippool_values import AddressRange, PoolRef, PoolSpec
from tests.core.aggregates.gwt import Given

SPEC = PoolSpec(
    name_prefix="prov",
    pools=(AddressRange(start="10.0.0.10", end="10.0.0.19", subnet="10.0.0.0/24"),),
    gateway="10.0.0.1",
)
CREATED = ev.PoolCreated(namespace="metal3", name="prov", uid="u1", generation=1, spec=SPEC)
REF = PoolRef(namespace="metal3", name="prov", uid="u1")


def pool(*history: Stored) -> Given[PoolState, cmd.PoolCommand]:
    return Given(DEFINITION, history)


def apply(
    spec: PoolSpec = SPEC, *, generation: int = 1, uid: str = "u1", name: str = "prov"
) -> cmd.ApplyPoolSpec:
    return cmd.ApplyPoolSpec(namespace="metal3", name=name, uid=uid, generation=generation, spec=spec)


def allocated(claim: str, address: str) -> ev.AddressAllocated:
    return ev.AddressAllocated(
        claim=claim,
        address=address,
        address_name=f"prov-{address.replace('.', '-')}",
        pool=REF,
        prefix=24,
        gateway="10.0.0.1",
    )


def test_a_new_pool_is_created_with_its_spec() -> None:
    state = pool().when(apply()).then(CREATED)

    assert state.exists
    assert state.id == "metal3/prov"
    assert state.ref == REF
    assert state.indexes == {}


def test_the_same_or_an_older_generation_changes_nothing() -> None:
    newer = replace(SPEC, gateway="10.0.0.254")

    pool(CREATED).when(apply()).then_nothing()
    pool(CREATED, ev.PoolSpecChanged(generation=3, spec=newer)).when(apply(generation=2)).then_nothing()


def test_a_new_generation_records_the_new_spec() -> None:
    wider = replace(SPEC, pools=(AddressRange(subnet="10.0.0.0/24"),))

    state = pool(CREATED).when(apply(wider, generation=2)).then(ev.PoolSpecChanged(generation=2, spec=wider))

    assert state.generation == 2
    assert state.ranges[0].size == 255


def test_a_new_generation_with_an_equal_spec_records_nothing() -> None:
    pool(CREATED).when(apply(generation=2)).then_nothing()


def test_another_object_with_the_same_name_is_refused_while_the_pool_exists() -> None:
    pool(CREATED).when(apply(uid="u2", generation=5)).then_rejected(rule="one-object-per-pool")


def test_a_deleted_pool_can_be_recreated_by_a_new_object_only() -> None:
    deleted = (CREATED, ev.DeletionRequested(), ev.PoolDeleted())

    pool(*deleted).when(apply()).then_rejected(rule="deleted-is-final")
    state = (
        pool(*deleted)
        .when(apply(uid="u2"))
        .then(ev.PoolCreated(namespace="metal3", name="prov", uid="u2", generation=1, spec=SPEC))
    )
    assert not state.deleted
    assert not state.deletion_requested


def test_an_invalid_object_name_is_refused() -> None:
    rejected = pool().when(apply(name="Prov/1")).then_rejected(rule="invalid-name")

    assert "invalid name" in rejected.detail


INVALID = [
    pytest.param(replace(SPEC, name_prefix="Prov"), "spec.namePrefix", id="namePrefix"),
    pytest.param(
        replace(SPEC, pools=(AddressRange(start="10.0.1.10", subnet="10.0.0.0/24"),)),
        "spec.pools[0].start",
        id="start outside subnet",
    ),
    pytest.param(
        replace(SPEC, pools=(*SPEC.pools, AddressRange(subnet="fd00::/64", prefix=130))),
        "spec.pools[1].prefix",
        id="v6 prefix",
    ),
    pytest.param(
        replace(SPEC, pre_allocations={"a": "10.0.0.11", "b": "10.0.0.11"}),
        "spec.preAllocations[b]",
        id="duplicate pre-allocation",
    ),
]


@pytest.mark.parametrize(("spec", "field"), INVALID)
def test_an_invalid_spec_is_refused_naming_the_field(spec: PoolSpec, field: str) -> None:
    created = pool().when(apply(spec)).then_rejected(rule="invalid-spec")
    changed = pool(CREATED).when(apply(spec, generation=2)).then_rejected(rule="invalid-spec")

    assert created.detail.startswith(f"{field}: ")
    assert changed.detail.startswith(f"{field}: ")


def test_name_prefix_cannot_change() -> None:
    rejected = (
        pool(CREATED)
        .when(apply(replace(SPEC, name_prefix="other"), generation=2))
        .then_rejected(rule="name-prefix-immutable")
    )

    assert "spec.namePrefix" in rejected.detail


def test_allocation_strategy_cannot_change() -> None:
    random = replace(SPEC, allocation_strategy="random")

    pool(CREATED).when(apply(random, generation=2)).then_rejected(rule="allocation-strategy-immutable")


def test_a_range_cannot_shrink_past_an_allocated_address() -> None:
    history = (CREATED, allocated("c1", "10.0.0.10"), allocated("c2", "10.0.0.11"))
    narrower = replace(SPEC, pools=(AddressRange(start="10.0.0.11", end="10.0.0.19"),))

    rejected = (
        pool(*history).when(apply(narrower, generation=2)).then_rejected(rule="allocation-out-of-bounds")
    )

    assert "10.0.0.10 (claim c1)" in rejected.detail
    assert "c2" not in rejected.detail
    assert rejected.detail.startswith("spec.pools: ")


def test_a_range_may_shrink_once_its_addresses_are_released() -> None:
    history = (
        CREATED,
        allocated("c1", "10.0.0.10"),
        ev.AddressReleased(claim="c1", address="10.0.0.10", address_name="prov-10-0-0-10"),
    )
    narrower = replace(SPEC, pools=(AddressRange(start="10.0.0.11", end="10.0.0.19"),))

    pool(*history).when(apply(narrower, generation=2)).then(ev.PoolSpecChanged(generation=2, spec=narrower))


def test_an_address_held_by_one_claim_cannot_be_pre_allocated_to_another() -> None:
    history = (CREATED, allocated("c1", "10.0.0.10"))
    reserving = replace(SPEC, pre_allocations={"c2": "10.0.0.10"})

    rejected = pool(*history).when(apply(reserving, generation=2)).then_rejected(rule="preallocation-taken")

    assert rejected.detail.startswith("spec.preAllocations[c2]: 10.0.0.10 is allocated to claim 'c1'")


def test_the_holder_may_be_given_its_own_address_as_pre_allocation() -> None:
    history = (CREATED, allocated("c1", "10.0.0.10"))
    reserving = replace(SPEC, pre_allocations={"c1": "10.0.0.10"})

    state = (
        pool(*history)
        .when(apply(reserving, generation=2))
        .then(ev.PoolSpecChanged(generation=2, spec=reserving))
    )

    assert state.reserved_by == {state.ranges[0].first: "c1"}


@pytest.mark.parametrize(
    "command",
    [
        cmd.AllocateAddress(claim="c"),
        cmd.ReleaseAddress(claim="c"),
        cmd.RequestPoolDeletion(),
        cmd.ReportNameCollision(claim="c", address_name="n", taken_by="metal3/other"),
    ],
    ids=lambda c: type(c).__name__,
)
def test_commands_for_a_pool_that_does_not_exist_are_not_found(command: cmd.PoolCommand) -> None:
    pool().when(command).then_not_found()
