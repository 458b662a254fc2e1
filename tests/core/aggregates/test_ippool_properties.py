"""Properties of the IP pool over arbitrary command sequences, checked against a plain-set model."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.aggregates import ip_ranges
from core.aggregates import ippool_commands as cmd
from core.aggregates.ip_ranges import AddressSet
from core.aggregates.ippool_state import PoolState
from core.aggregates.ippools import DEFINITION, AllocationRefused
from core.errors import CommandRejected
from core.events import ippools as ev
from core.events.base import Event
from core.events.ippool_values import AddressRange, AllocationStrategy, PoolSpec

CLAIMS = [f"claim-{n}" for n in range(12)]

V4_RANGES = (
    AddressRange(start="10.0.0.250", end="10.0.1.2"),
    AddressRange(subnet="192.168.7.8/30"),
)
V6_RANGES = (
    AddressRange(start="fd00::fffe", end="fd00::1:2"),
    AddressRange(subnet="2001:db8:0:1::/126"),
)
HUGE_V6 = (AddressRange(subnet="2001:db8:1:2::/64"),)


@dataclass
class Step:
    claim: str
    release: bool
    choice: int
    requested: str | None


def _specs(ranges: tuple[AddressRange, ...], reservable: list[str]) -> st.SearchStrategy[PoolSpec]:
    strategies: st.SearchStrategy[AllocationStrategy] = st.sampled_from(["sequential", "random"])
    reservations = st.dictionaries(
        st.sampled_from(CLAIMS[:4]), st.sampled_from(reservable), max_size=2
    ).filter(lambda chosen: len(set(chosen.values())) == len(chosen))
    return st.builds(
        lambda strategy, pre: PoolSpec(
            name_prefix="pool", pools=ranges, allocation_strategy=strategy, pre_allocations=pre
        ),
        strategies,
        reservations,
    )


def _steps(addresses: list[str]) -> st.SearchStrategy[list[Step]]:
    step = st.builds(
        Step,
        claim=st.sampled_from(CLAIMS),
        release=st.booleans(),
        choice=st.integers(0, 2**70),
        requested=st.none() | st.sampled_from(addresses),
    )
    return st.lists(step, max_size=40)


V4_ADDRESSES = ["10.0.0.250", "10.0.0.255", "10.0.1.0", "10.0.1.2", "192.168.7.9", "192.168.7.11", "10.9.9.9"]
V6_ADDRESSES = ["fd00::fffe", "fd00::ffff", "fd00::1:0", "fd00::1:2", "2001:db8:0:1::3", "fd00::9"]
POOLS = st.one_of(
    st.tuples(_specs(V4_RANGES, V4_ADDRESSES[:6]), _steps(V4_ADDRESSES)),
    st.tuples(_specs(V6_RANGES, V6_ADDRESSES[:5]), _steps(V6_ADDRESSES)),
)


def _created(spec: PoolSpec) -> ev.PoolCreated:
    return ev.PoolCreated(namespace="ns", name="pool", uid="u", generation=1, spec=spec)


def _lowest_free(state: PoolState, claim: str) -> int | None:
    """Metal3's sequential scan over plain sets: what a sequential claim must get."""
    held = {ip_ranges.address_key(a) for a in state.indexes.values()}
    others = {key for key, owner in state.reserved_by.items() if owner != claim}
    for span in state.ranges:
        for key in range(span.first, span.last + 1):
            if key not in held and key not in others:
                return key
    return None


def _check_invariants(state: PoolState) -> None:
    keys = [ip_ranges.address_key(address) for address in state.indexes.values()]
    assert len(keys) == len(set(keys)), "an address is allocated twice"
    assert all(any(key in span for span in state.ranges) for key in keys)
    assert state.used == AddressSet.of(keys)
    for key, owner in state.reserved_by.items():
        holder = next((c for c, a in state.indexes.items() if ip_ranges.address_key(a) == key), None)
        assert holder in (None, owner), f"pre-allocation of {owner} given to {holder}"
    names = [held.address_name for _, held in state.allocations.items()]
    assert len(names) == len(set(names))


def _run(spec: PoolSpec, steps: list[Step]) -> tuple[PoolState, list[Event]]:
    history: list[Event] = [_created(spec)]
    state = DEFINITION.fold(history)
    for step in steps:
        command: cmd.PoolCommand
        if step.release:
            command = cmd.ReleaseAddress(claim=step.claim)
        else:
            command = cmd.AllocateAddress(
                claim=step.claim, choice=step.choice, requested_address=step.requested
            )
        expected = None
        if isinstance(command, cmd.AllocateAddress) and state.allocation(step.claim) is None:
            expected = _lowest_free(state, step.claim)
        try:
            events = DEFINITION.decide(state, command)
        except AllocationRefused as refused:
            if refused.rule == "pool-exhausted":
                assert expected is None
            else:
                assert step.requested is not None or step.claim in state.reserved_by.values()
            continue
        if isinstance(command, cmd.AllocateAddress) and state.allocation(step.claim) is not None:
            assert events == []
        for event in events:
            state = DEFINITION.evolve(state, event)
        history.extend(events)
        allocated = [e for e in events if isinstance(e, ev.AddressAllocated)]
        if allocated and allocated[0].source == "sequential":
            assert ip_ranges.address_key(allocated[0].address) == expected
        _check_invariants(state)
    return state, history


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(POOLS)
def test_no_address_is_ever_allocated_twice(pool: tuple[PoolSpec, list[Step]]) -> None:
    spec, steps = pool

    state, history = _run(spec, steps)

    replayed = DEFINITION.fold(history)
    assert replayed.indexes == state.indexes
    assert replayed.used == state.used


@settings(max_examples=80)
@given(
    st.sampled_from([V4_RANGES, V6_RANGES]),
    st.sampled_from(["sequential", "random"]),
    st.lists(st.integers(0, 2**64), min_size=20, max_size=20),
    st.integers(0, 19),
)
def test_a_released_address_is_the_one_a_full_pool_hands_out_next(
    ranges: tuple[AddressRange, ...], strategy: AllocationStrategy, choices: list[int], victim: int
) -> None:
    spec = PoolSpec(name_prefix="pool", pools=ranges, allocation_strategy=strategy)
    state = DEFINITION.fold([_created(spec)])
    size = sum(span.size for span in state.ranges)
    for n in range(size):
        for event in DEFINITION.decide(state, cmd.AllocateAddress(claim=f"c{n}", choice=choices[n % 20])):
            state = DEFINITION.evolve(state, event)
    assert state.allocation_count == size
    victim_claim = f"c{victim % size}"
    freed = state.indexes[victim_claim]

    for event in DEFINITION.decide(state, cmd.ReleaseAddress(claim=victim_claim)):
        state = DEFINITION.evolve(state, event)
    events = DEFINITION.decide(state, cmd.AllocateAddress(claim="newcomer", choice=choices[0]))

    assert [e.address for e in events if isinstance(e, ev.AddressAllocated)] == [freed]


@settings(max_examples=60)
@given(st.lists(st.integers(0, 2**80), min_size=1, max_size=60))
def test_random_allocation_in_a_slash_64_stays_inside_and_never_repeats(choices: list[int]) -> None:
    spec = PoolSpec(name_prefix="pool", pools=HUGE_V6, allocation_strategy="random")
    state = DEFINITION.fold([_created(spec)])
    span = state.ranges[0]
    for n, choice in enumerate(choices):
        (event,) = DEFINITION.decide(state, cmd.AllocateAddress(claim=f"c{n}", choice=choice))
        assert isinstance(event, ev.AddressAllocated)
        key = ip_ranges.address_key(event.address)
        assert key in span
        assert key == ip_ranges.first_free(
            state.used, state.reserved, span.first + choice % span.size, span.last
        )
        state = DEFINITION.evolve(state, event)
    _check_invariants(state)
    assert state.allocation_count == len(choices)


@settings(max_examples=60)
@given(
    st.integers(1, 40),
    st.sampled_from([AddressRange(subnet="fd00:9::/64"), AddressRange(subnet="10.1.0.0/16")]),
)
def test_sequential_allocation_in_a_large_range_is_consecutive(count: int, entry: AddressRange) -> None:
    spec = PoolSpec(name_prefix="pool", pools=(entry,))
    state = DEFINITION.fold([_created(spec)])
    for n in range(count):
        for event in DEFINITION.decide(state, cmd.AllocateAddress(claim=f"c{n}")):
            state = DEFINITION.evolve(state, event)

    keys = sorted(ip_ranges.address_key(a) for a in state.indexes.values())
    assert keys == list(range(state.ranges[0].first, state.ranges[0].first + count))
    assert state.used.runs == 1


def test_a_full_slash_31_refuses_a_second_claim() -> None:
    spec = PoolSpec(name_prefix="pool", pools=(AddressRange(subnet="10.0.0.0/31"),))
    state = DEFINITION.fold([_created(spec)])
    for event in DEFINITION.decide(state, cmd.AllocateAddress(claim="a")):
        state = DEFINITION.evolve(state, event)

    with pytest.raises(CommandRejected) as rejected:
        DEFINITION.decide(state, cmd.AllocateAddress(claim="b"))

    assert rejected.value.rule == "pool-exhausted"
