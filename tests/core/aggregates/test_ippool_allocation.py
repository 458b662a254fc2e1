from __future__ import annotations

import pytest
from msgspec.structs import replace

from core.aggregates import ip_ranges
from core.aggregates import ippool_commands as cmd
from core.aggregates.base import Stored
from core.aggregates.ippool_state import PoolState
from core.aggregates.ippools import DEFINITION, AllocationRefused, decide
from core.errors import CommandRejected
from core.events import ippools as ev
from core.events.ippool_values import AddressRange, AllocationSource, OwnerRef, PoolRef, PoolSpec
from tests.core.aggregates.gwt import Given

REF = PoolRef(namespace="metal3", name="prov", uid="u1")
SPEC = PoolSpec(
    name_prefix="prov",
    pools=(
        AddressRange(start="10.0.0.10", end="10.0.0.12", subnet="10.0.0.0/24"),
        AddressRange(
            start="10.0.1.10", end="10.0.1.11", prefix=26, gateway="10.0.1.1", dns_servers=("10.0.1.53",)
        ),
    ),
    prefix=24,
    gateway="10.0.0.1",
    dns_servers=("10.0.0.53",),
)
FIRST = {"prefix": 24, "gateway": "10.0.0.1", "dns_servers": ("10.0.0.53",)}
SECOND = {"prefix": 26, "gateway": "10.0.1.1", "dns_servers": ("10.0.1.53",)}
CLAIM_OWNER = OwnerRef(api_version="ipam.metal3.io/v1alpha1", kind="IPClaim", name="c1", uid="c1-uid")


def created(spec: PoolSpec = SPEC) -> ev.PoolCreated:
    return ev.PoolCreated(namespace="metal3", name="prov", uid="u1", generation=1, spec=spec)


def pool(*history: Stored) -> Given[PoolState, cmd.PoolCommand]:
    return Given(DEFINITION, history)


def allocated(
    claim: str, address: str, *, source: AllocationSource = "sequential", values: dict[str, object] = FIRST
) -> ev.AddressAllocated:
    return ev.AddressAllocated(
        claim=claim,
        address=address,
        address_name=ip_ranges.address_name("prov", address),
        pool=REF,
        source=source,
        **values,  # type: ignore[arg-type]
    )


def released(claim: str, address: str) -> ev.AddressReleased:
    return ev.AddressReleased(
        claim=claim, address=address, address_name=ip_ranges.address_name("prov", address)
    )


def allocate(claim: str, **fields: object) -> cmd.AllocateAddress:
    return cmd.AllocateAddress(claim=claim, **fields)  # type: ignore[arg-type]


def refusal(state_history: tuple[Stored, ...], command: cmd.AllocateAddress, rule: str) -> AllocationRefused:
    rejected = pool(*state_history).when(command).then_rejected(rule=rule)
    assert isinstance(rejected, AllocationRefused)
    return rejected


# --- sequential ----------------------------------------------------------------------------------------


def test_sequential_allocation_takes_the_lowest_free_address_of_the_first_range() -> None:
    state = pool(created()).when(allocate("c1")).then(allocated("c1", "10.0.0.10"))

    assert state.indexes == {"c1": "10.0.0.10"}
    assert state.allocation("c1") == allocated("c1", "10.0.0.10")


def test_a_range_is_exhausted_before_the_next_is_used_and_carries_its_own_values() -> None:
    history = (
        created(),
        allocated("a", "10.0.0.10"),
        allocated("b", "10.0.0.11"),
        allocated("c", "10.0.0.12"),
    )

    pool(*history).when(allocate("d")).then(allocated("d", "10.0.1.10", values=SECOND))


def test_a_released_address_is_the_lowest_free_one_again() -> None:
    history = (
        created(),
        allocated("a", "10.0.0.10"),
        allocated("b", "10.0.0.11"),
        released("a", "10.0.0.10"),
    )

    state = pool(*history).when(allocate("c")).then(allocated("c", "10.0.0.10"))

    assert state.indexes == {"b": "10.0.0.11", "c": "10.0.0.10"}


def test_allocating_again_for_the_same_claim_records_nothing() -> None:
    history = (created(), allocated("c1", "10.0.0.10"))

    state = pool(*history).when(allocate("c1")).then_nothing()
    pool(*history).when(allocate("c1", requested_address="10.0.0.12")).then_nothing()

    assert state.allocation("c1") == allocated("c1", "10.0.0.10")


def test_an_exhausted_pool_refuses_with_metal3s_message() -> None:
    full = (
        created(),
        *(allocated(c, f"10.0.0.1{n}") for n, c in enumerate("abc")),
        allocated("d", "10.0.1.10", values=SECOND),
        allocated("e", "10.0.1.11", values=SECOND),
    )

    refused = refusal(full, allocate("f"), "pool-exhausted")

    assert refused.claim_message == "Exhausted IP Pools"
    assert refused.detail.startswith("Exhausted IP Pools: every address of pool metal3/prov")


def test_labels_and_owners_of_the_claim_are_recorded_for_the_ipaddress_object() -> None:
    labels = {"cluster.x-k8s.io/cluster-name": "a"}

    pool(created()).when(allocate("c1", labels=labels, owners=(CLAIM_OWNER,))).then(
        replace(allocated("c1", "10.0.0.10"), labels=labels, owners=(CLAIM_OWNER,))
    )


def test_without_any_prefix_the_subnets_prefix_length_is_handed_out() -> None:
    spec = PoolSpec(name_prefix="prov", pools=(AddressRange(subnet="192.168.10.0/23"),))

    pool(created(spec)).when(allocate("c1")).then(
        allocated("c1", "192.168.10.1", values={"prefix": 23, "gateway": None, "dns_servers": ()})
    )


# --- random --------------------------------------------------------------------------------------------

RANDOM = replace(
    SPEC, allocation_strategy="random", pools=(AddressRange(start="10.0.0.10", end="10.0.0.19"),)
)


@pytest.mark.parametrize(("choice", "address"), [(0, "10.0.0.10"), (7, "10.0.0.17"), (23, "10.0.0.13")])
def test_random_allocation_starts_at_the_callers_choice(choice: int, address: str) -> None:
    pool(created(RANDOM)).when(allocate("c1", choice=choice)).then(
        allocated(
            "c1",
            address,
            source="random",
            values={"prefix": 24, "gateway": "10.0.0.1", "dns_servers": ("10.0.0.53",)},
        )
    )


def test_random_allocation_scans_forward_and_wraps_around() -> None:
    values: dict[str, object] = {"prefix": 24, "gateway": "10.0.0.1", "dns_servers": ("10.0.0.53",)}
    history = (
        created(RANDOM),
        allocated("a", "10.0.0.18", source="random", values=values),
        allocated("b", "10.0.0.19", source="random", values=values),
        allocated("c", "10.0.0.10", source="random", values=values),
    )

    pool(*history).when(allocate("d", choice=8)).then(
        allocated("d", "10.0.0.11", source="random", values=values)
    )


def test_random_allocation_refuses_a_negative_choice() -> None:
    pool(created(RANDOM)).when(allocate("c1", choice=-1)).then_rejected(rule="choice-range")


# --- pre-allocations and requested addresses ---------------------------------------------------------------

RESERVING = replace(SPEC, pre_allocations={"cp-0": "10.0.0.10", "cp-1": "10.0.1.11"})


def test_a_pre_allocated_claim_gets_its_address_with_its_ranges_values() -> None:
    pool(created(RESERVING)).when(allocate("cp-1")).then(
        allocated("cp-1", "10.0.1.11", source="preallocated", values=SECOND)
    )


def test_pre_allocated_addresses_are_never_given_to_other_claims() -> None:
    pool(created(RESERVING)).when(allocate("a")).then(allocated("a", "10.0.0.11"))
    history = (created(RESERVING), allocated("a", "10.0.0.11"), allocated("b", "10.0.0.12"))

    pool(*history).when(allocate("c")).then(allocated("c", "10.0.1.10", values=SECOND))
    full = (*history, allocated("c", "10.0.1.10", values=SECOND))
    refusal(full, allocate("d"), "pool-exhausted")


def test_a_pre_allocated_address_stays_reserved_after_its_claim_releases_it() -> None:
    history = (
        created(RESERVING),
        allocated("cp-0", "10.0.0.10", source="preallocated"),
        released("cp-0", "10.0.0.10"),
    )

    pool(*history).when(allocate("a")).then(allocated("a", "10.0.0.11"))
    pool(*history).when(allocate("cp-0")).then(allocated("cp-0", "10.0.0.10", source="preallocated"))


def test_a_requested_address_is_given_when_free_and_in_a_range() -> None:
    pool(created()).when(allocate("c1", requested_address="10.0.1.11")).then(
        allocated("c1", "10.0.1.11", source="requested", values=SECOND)
    )


def test_a_requested_address_is_canonicalised() -> None:
    spec = PoolSpec(name_prefix="prov", pools=(AddressRange(subnet="fd00::/120"),))

    pool(created(spec)).when(allocate("c1", requested_address="FD00:0::0a")).then(
        allocated(
            "c1", "fd00::a", source="requested", values={"prefix": 120, "gateway": None, "dns_servers": ()}
        )
    )


def test_a_pre_allocated_claim_may_request_its_own_address() -> None:
    pool(created(RESERVING)).when(allocate("cp-0", requested_address="10.0.0.10")).then(
        allocated("cp-0", "10.0.0.10", source="preallocated")
    )


REFUSALS = [
    pytest.param(
        (created(),),
        allocate("c1", requested_address="10.0.0.300"),
        "requested-ip-invalid",
        "Invalid ipAddress annotation '10.0.0.300': not a valid IP address",
        id="annotation is not an address",
    ),
    pytest.param(
        (created(), allocated("a", "10.0.0.11")),
        allocate("c1", requested_address="10.0.0.11"),
        "requested-ip-not-available",
        "Requested IP not available",
        id="requested address is allocated",
    ),
    pytest.param(
        (created(RESERVING),),
        allocate("c1", requested_address="10.0.0.10"),
        "requested-ip-not-available",
        "Requested IP not available",
        id="requested address is pre-allocated to another claim",
    ),
    pytest.param(
        (created(),),
        allocate("c1", requested_address="10.0.0.200"),
        "requested-ip-not-available",
        "Requested IP not available",
        id="requested address is in no range",
    ),
    pytest.param(
        (created(RESERVING),),
        allocate("cp-0", requested_address="10.0.0.11"),
        "preallocation-conflict",
        "PreAllocation and requested ip address are conflicting",
        id="pre-allocation and annotation disagree",
    ),
]


@pytest.mark.parametrize(("history", "command", "rule", "message"), REFUSALS)
def test_refusals_carry_metal3s_claim_error_message(
    history: tuple[Stored, ...], command: cmd.AllocateAddress, rule: str, message: str
) -> None:
    refused = refusal(history, command, rule)

    assert refused.claim_message == message
    assert refused.detail.startswith(f"{message}: ")


def test_a_pre_allocation_outside_every_range_is_out_of_bounds() -> None:
    # Only a spec written by an older build can hold one; today's validation refuses it.
    odd = ev.PoolSpecChanged(generation=2, spec=replace(SPEC, pre_allocations={"cp-0": "10.9.9.9"}))

    refused = refusal((created(), odd), allocate("cp-0"), "preallocation-out-of-bounds")

    assert refused.claim_message == "Pre-allocated IP out of bounds"


def test_an_invalid_claim_name_is_refused() -> None:
    pool(created()).when(allocate("")).then_rejected(rule="invalid-claim")


# --- release and deletion -------------------------------------------------------------------------------


def test_releasing_frees_the_address_and_releasing_again_records_nothing() -> None:
    history = (created(), allocated("a", "10.0.0.10"))

    state = pool(*history).when(cmd.ReleaseAddress(claim="a")).then(released("a", "10.0.0.10"))
    pool(*history, released("a", "10.0.0.10")).when(cmd.ReleaseAddress(claim="a")).then_nothing()

    assert state.indexes == {}
    assert 167772170 not in state.used


def test_deleting_an_empty_pool_completes_at_once() -> None:
    state = pool(created()).when(cmd.RequestPoolDeletion()).then(ev.DeletionRequested(), ev.PoolDeleted())

    assert state.deleted
    pool(created(), ev.DeletionRequested(), ev.PoolDeleted()).when(allocate("c")).then_rejected(
        rule="deleted-is-final"
    )


def test_deletion_waits_for_the_last_release_and_refuses_new_allocations() -> None:
    history = (created(), allocated("a", "10.0.0.10"), allocated("b", "10.0.0.11"))
    deleting = (*history, ev.DeletionRequested())

    pool(*history).when(cmd.RequestPoolDeletion()).then(ev.DeletionRequested())
    pool(*deleting).when(cmd.RequestPoolDeletion()).then_nothing()
    rejected = pool(*deleting).when(allocate("c")).then_rejected(rule="pool-deleting")
    pool(*deleting).when(allocate("a")).then_nothing()
    pool(*deleting).when(cmd.ReleaseAddress(claim="a")).then(released("a", "10.0.0.10"))
    state = (
        pool(*deleting, released("a", "10.0.0.10"))
        .when(cmd.ReleaseAddress(claim="b"))
        .then(released("b", "10.0.0.11"), ev.PoolDeleted())
    )

    assert rejected.state == "deleting"
    assert state.deleted


# --- IPAddress names (IPAM#1437) --------------------------------------------------------------------------


def test_a_name_owned_by_another_pool_is_replaced_by_a_pool_qualified_one() -> None:
    history = (created(), allocated("a", "10.0.0.10"))
    report = cmd.ReportNameCollision(claim="a", address_name="prov-10-0-0-10", taken_by="metal3/other")
    qualified = ip_ranges.pool_qualified_name("prov", "10.0.0.10", "metal3/prov")

    state = (
        pool(*history)
        .when(report)
        .then(
            ev.AddressRenamed(
                claim="a",
                address="10.0.0.10",
                previous_name="prov-10-0-0-10",
                address_name=qualified,
                taken_by="metal3/other",
            )
        )
    )

    held = state.allocation("a")
    assert held is not None
    assert held.address_name == qualified
    assert state.indexes == {"a": "10.0.0.10"}


def test_a_stale_collision_report_records_nothing() -> None:
    history = (created(), allocated("a", "10.0.0.10"))

    pool(*history).when(
        cmd.ReportNameCollision(claim="a", address_name="prov-10-0-0-99", taken_by="metal3/other")
    ).then_nothing()
    pool(*history).when(
        cmd.ReportNameCollision(claim="gone", address_name="prov-10-0-0-10", taken_by="metal3/other")
    ).then_nothing()


def test_a_collision_with_its_own_pool_or_of_a_qualified_name_is_refused() -> None:
    qualified = ip_ranges.pool_qualified_name("prov", "10.0.0.10", "metal3/prov")
    renamed = ev.AddressRenamed(
        claim="a",
        address="10.0.0.10",
        previous_name="prov-10-0-0-10",
        address_name=qualified,
        taken_by="metal3/o",
    )
    history = (created(), allocated("a", "10.0.0.10"))

    pool(*history).when(
        cmd.ReportNameCollision(claim="a", address_name="prov-10-0-0-10", taken_by="metal3/prov")
    ).then_rejected(rule="not-a-collision")
    rejected = (
        pool(*history, renamed)
        .when(cmd.ReportNameCollision(claim="a", address_name=qualified, taken_by="metal3/o"))
        .then_rejected(rule="address-name-collision")
    )
    assert "spec.namePrefix" in rejected.detail


def test_the_release_of_a_renamed_address_names_the_renamed_object() -> None:
    qualified = ip_ranges.pool_qualified_name("prov", "10.0.0.10", "metal3/prov")
    renamed = ev.AddressRenamed(
        claim="a",
        address="10.0.0.10",
        previous_name="prov-10-0-0-10",
        address_name=qualified,
        taken_by="metal3/o",
    )

    pool(created(), allocated("a", "10.0.0.10"), renamed).when(cmd.ReleaseAddress(claim="a")).then(
        ev.AddressReleased(claim="a", address="10.0.0.10", address_name=qualified)
    )


def test_every_refusal_is_a_command_rejection_that_records_nothing() -> None:
    state = DEFINITION.fold([created()])

    with pytest.raises(CommandRejected):
        decide(state, allocate("c1", requested_address="nope"))
    assert state.indexes == {}
