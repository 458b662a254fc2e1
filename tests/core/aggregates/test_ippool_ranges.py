from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.aggregates import ip_ranges
from core.aggregates.ip_ranges import AddressSet, InvalidField, Span
from core.events.ippool_values import AddressRange, PoolSpec

SPEC = PoolSpec(name_prefix="pool")


def k(text: str) -> int:
    return ip_ranges.address_key(text)


RANGES = [
    pytest.param(
        AddressRange(start="10.0.0.10", end="10.0.0.20"),
        SPEC,
        Span(first=k("10.0.0.10"), last=k("10.0.0.20"), prefix=0),
        id="start and end",
    ),
    pytest.param(
        AddressRange(start="10.0.0.10", subnet="10.0.0.0/24"),
        SPEC,
        Span(first=k("10.0.0.10"), last=k("10.0.0.255"), prefix=24),
        id="start runs to the subnet's last address, as in Metal3",
    ),
    pytest.param(
        AddressRange(subnet="10.0.0.0/24"),
        SPEC,
        Span(first=k("10.0.0.1"), last=k("10.0.0.255"), prefix=24),
        id="subnet only starts after the network address",
    ),
    pytest.param(
        AddressRange(subnet="10.0.0.7/24", end="10.0.0.99"),
        SPEC,
        Span(first=k("10.0.0.1"), last=k("10.0.0.99"), prefix=24),
        id="subnet with host bits and an end",
    ),
    pytest.param(
        AddressRange(subnet="10.0.0.8/31"),
        SPEC,
        Span(first=k("10.0.0.9"), last=k("10.0.0.9"), prefix=31),
        id="/31 has one address",
    ),
    pytest.param(
        AddressRange(subnet="fd00::/120", prefix=64, gateway="fd00::1", dns_servers=("fd00::53",)),
        PoolSpec(name_prefix="p", prefix=24, gateway="10.0.0.1", dns_servers=("10.0.0.53",)),
        Span(first=k("fd00::1"), last=k("fd00::ff"), prefix=64, gateway="fd00::1", dns_servers=("fd00::53",)),
        id="range values override pool defaults",
    ),
    pytest.param(
        AddressRange(start="10.0.0.10", end="10.0.0.20", subnet="10.0.0.0/24"),
        PoolSpec(name_prefix="p", prefix=16, gateway="10.0.0.1", dns_servers=("10.0.0.53",)),
        Span(
            first=k("10.0.0.10"),
            last=k("10.0.0.20"),
            prefix=16,
            gateway="10.0.0.1",
            dns_servers=("10.0.0.53",),
        ),
        id="pool defaults fill what the range leaves out",
    ),
    pytest.param(
        AddressRange(start="::ffff:10.0.0.1", end="10.0.0.2"),
        SPEC,
        Span(first=k("10.0.0.1"), last=k("10.0.0.2"), prefix=0),
        id="IPv4-mapped IPv6 is IPv4",
    ),
]


@pytest.mark.parametrize(("entry", "spec", "span"), RANGES)
def test_a_range_becomes_a_key_interval_with_its_defaults_resolved(
    entry: AddressRange, spec: PoolSpec, span: Span
) -> None:
    assert ip_ranges.parse_range(entry, 0, spec) == span


BAD_RANGES = [
    pytest.param(AddressRange(), SPEC, "spec.pools[0]", "set start and end", id="nothing set"),
    pytest.param(
        AddressRange(start="10.0.0.300", end="10.0.0.2"), SPEC, ".start", "not an IP", id="bad start"
    ),
    pytest.param(AddressRange(start="10.0.0.1"), SPEC, ".end", "set end", id="start without end or subnet"),
    pytest.param(AddressRange(end="10.0.0.1"), SPEC, ".start", "set start", id="end without start or subnet"),
    pytest.param(AddressRange(subnet="10.0.0.0/33"), SPEC, ".subnet", "CIDR", id="bad subnet"),
    pytest.param(
        AddressRange(start="10.0.0.1", end="fd00::1"),
        SPEC,
        "spec.pools[0]",
        "one family",
        id="mixed families",
    ),
    pytest.param(
        AddressRange(start="10.0.1.1", subnet="10.0.0.0/24"),
        SPEC,
        ".start",
        "outside subnet",
        id="start outside",
    ),
    pytest.param(
        AddressRange(end="10.0.1.1", subnet="10.0.0.0/24"), SPEC, ".end", "outside subnet", id="end outside"
    ),
    pytest.param(
        AddressRange(start="10.0.0.9", end="10.0.0.1"), SPEC, ".end", "before", id="end before start"
    ),
    pytest.param(AddressRange(subnet="10.0.0.1/32"), SPEC, ".subnet", "set start", id="/32 without start"),
    pytest.param(
        AddressRange(start="10.0.0.1", end="10.0.0.9", prefix=33), SPEC, ".prefix", "0..32", id="v4 prefix 33"
    ),
    pytest.param(AddressRange(subnet="fd00::/64", prefix=129), SPEC, ".prefix", "0..128", id="v6 prefix 129"),
    pytest.param(
        AddressRange(start="10.0.0.1", end="10.0.0.9"),
        PoolSpec(name_prefix="p", prefix=64),
        "spec.prefix",
        "IPv4",
        id="v4 range inherits a v6 prefix",
    ),
    pytest.param(
        AddressRange(start="10.0.0.1", end="10.0.0.9", gateway="gw"),
        SPEC,
        ".gateway",
        "not an IP",
        id="gateway",
    ),
    pytest.param(
        AddressRange(start="10.0.0.1", end="10.0.0.9", dns_servers=("10.0.0.53", "dns")),
        SPEC,
        ".dnsServers[1]",
        "not an IP",
        id="second DNS server",
    ),
]


@pytest.mark.parametrize(("entry", "spec", "field", "problem"), BAD_RANGES)
def test_a_bad_range_names_the_field_and_the_fix(
    entry: AddressRange, spec: PoolSpec, field: str, problem: str
) -> None:
    with pytest.raises(InvalidField) as caught:
        ip_ranges.parse_range(entry, 0, spec)

    assert caught.value.field.startswith("spec.")
    assert caught.value.field.endswith(field)
    assert problem in caught.value.problem


BAD_SPECS = [
    pytest.param(PoolSpec(name_prefix=""), "spec.namePrefix", id="empty namePrefix"),
    pytest.param(PoolSpec(name_prefix="Pool"), "spec.namePrefix", id="upper-case namePrefix"),
    pytest.param(PoolSpec(name_prefix="p-"), "spec.namePrefix", id="namePrefix ending in -"),
    pytest.param(PoolSpec(name_prefix="p" * 201), "spec.namePrefix", id="namePrefix too long"),
    pytest.param(PoolSpec(name_prefix="p", gateway="x"), "spec.gateway", id="pool gateway"),
    pytest.param(
        PoolSpec(name_prefix="p", dns_servers=("1.1.1.1", "x")), "spec.dnsServers[1]", id="pool DNS"
    ),
    pytest.param(PoolSpec(name_prefix="p", prefix=200), "spec.prefix", id="pool prefix"),
    pytest.param(
        PoolSpec(
            name_prefix="p",
            pools=(AddressRange(subnet="10.0.0.0/24"),),
            pre_allocations={"a": "10.0.0.5", "b": "10.0.0.5"},
        ),
        "spec.preAllocations[b]",
        id="one address pre-allocated twice (IPAM#1440)",
    ),
    pytest.param(
        PoolSpec(
            name_prefix="p", pools=(AddressRange(subnet="10.0.0.0/24"),), pre_allocations={"a": "10.0.1.5"}
        ),
        "spec.preAllocations[a]",
        id="pre-allocation out of bounds",
    ),
    pytest.param(
        PoolSpec(name_prefix="p", pools=(AddressRange(subnet="10.0.0.0/24"),), pre_allocations={"a": "ten"}),
        "spec.preAllocations[a]",
        id="pre-allocation not an address",
    ),
]


@pytest.mark.parametrize(("spec", "field"), BAD_SPECS)
def test_a_bad_spec_names_the_field(spec: PoolSpec, field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        ip_ranges.check_spec(spec)

    assert caught.value.field == field


def test_ranges_of_a_recorded_spec_skips_what_it_cannot_read() -> None:
    spec = PoolSpec(
        name_prefix="p",
        pools=(AddressRange(start="10.0.0.1"), AddressRange(start="10.0.0.5", end="10.0.0.6")),
    )

    assert ip_ranges.ranges_of(spec) == (Span(first=k("10.0.0.5"), last=k("10.0.0.6"), prefix=0),)


NAMES = [
    pytest.param("192.168.0.10", "pool-192-168-0-10", id="IPv4, as Metal3"),
    pytest.param("2001:db8::1", "pool-2001-db8--1", id="IPv6, as Metal3"),
    pytest.param("2001:db8::", "pool-2001-db8--0", id="IPv6 ending in ::, kept unique"),
    pytest.param("10:0:0:1::", "pool-10-0-0-1--0", id="IPv6 that Metal3 would name like 10.0.0.1"),
]


@pytest.mark.parametrize(("address", "name"), NAMES)
def test_ipaddress_names(address: str, name: str) -> None:
    assert ip_ranges.address_name("pool", address) == name


def test_pool_qualified_names_differ_between_pools_and_are_stable() -> None:
    ours = ip_ranges.pool_qualified_name("pool", "10.0.0.1", "metal3/a")

    assert ours == ip_ranges.pool_qualified_name("pool", "10.0.0.1", "metal3/a")
    assert ours != ip_ranges.pool_qualified_name("pool", "10.0.0.1", "metal3/b")
    assert ours.startswith("pool-10-0-0-1-")
    assert len(ours) == len("pool-10-0-0-1-") + 8


@given(st.ip_addresses())
def test_address_keys_round_trip_to_canonical_text(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    canonical = str(mapped or address)

    key = k(str(address))

    assert ip_ranges.address_text(key) == canonical
    assert k(address.exploded) == key


@given(st.lists(st.ip_addresses(), min_size=2, max_size=40, unique=True))
def test_distinct_addresses_get_distinct_names(
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> None:
    texts = {ip_ranges.address_text(k(str(a))) for a in addresses}

    assert len({ip_ranges.address_name("p", text) for text in texts}) == len(texts)


@pytest.mark.parametrize("text", ["10.0.0.256", "010.0.0.1", "10.0.0", "fd00::g", "", "10.0.0.1/24"])
def test_address_key_refuses_what_is_not_an_address(text: str) -> None:
    with pytest.raises(ValueError, match="address"):
        k(text)


# --- AddressSet --------------------------------------------------------------------------------------

OPERATIONS = st.lists(st.tuples(st.booleans(), st.integers(0, 63)), max_size=120)


def _runs(keys: set[int]) -> int:
    return sum(1 for key in keys if key - 1 not in keys)


@settings(max_examples=300)
@given(OPERATIONS, st.integers(0, 70))
def test_address_set_behaves_like_a_set(operations: list[tuple[bool, int]], probe: int) -> None:
    model: set[int] = set()
    current = ip_ranges.EMPTY
    for add, key in operations:
        current = current.add(key) if add else current.remove(key)
        model = model | {key} if add else model - {key}
        assert len(current) == len(model)
        assert current.runs == _runs(model)
    assert set(current) == model
    assert (probe in current) == (probe in model)
    assert current.next_absent(probe) == min(n for n in range(probe, 200) if n not in model)
    assert current == AddressSet.of(model)


EVENS = frozenset(range(0, 1_200, 2))
"""600 runs: several chunks, so changes at chunk boundaries are exercised."""


@settings(max_examples=150)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 1_210)), max_size=150), st.integers(0, 1_210))
def test_a_set_of_many_runs_behaves_like_a_set(operations: list[tuple[bool, int]], probe: int) -> None:
    model = set(EVENS)
    current = AddressSet.of(EVENS)
    assert current.runs == len(EVENS) > ip_ranges.CHUNK
    for add, key in operations:
        current = current.add(key) if add else current.remove(key)
        model = model | {key} if add else model - {key}
        assert current.next_absent(key) == min(n for n in range(key, 1_300) if n not in model)
    assert set(current) == model
    assert len(current) == len(model)
    assert current.runs == _runs(model)
    assert (probe in current) == (probe in model)
    assert current == AddressSet.of(model)


def test_filling_the_gaps_between_many_runs_leaves_one_run() -> None:
    current = AddressSet.of(EVENS)
    for key in range(1, 1_199, 2):
        current = current.add(key)

    assert current.runs == 1
    assert current.next_absent(0) == 1_199
    assert len(current) == 1_199


def test_adding_leaves_the_previous_set_unchanged() -> None:
    before = AddressSet.of([1, 2, 3])

    after = before.add(4).remove(2)

    assert set(before) == {1, 2, 3}
    assert set(after) == {1, 3, 4}


@given(st.sets(st.integers(0, 40)), st.sets(st.integers(0, 40)), st.integers(0, 40), st.integers(0, 40))
def test_first_free_skips_used_and_reserved(
    used: set[int], reserved: set[int], first: int, last: int
) -> None:
    expected = next((n for n in range(first, last + 1) if n not in used | reserved), None)

    assert ip_ranges.first_free(AddressSet.of(used), AddressSet.of(reserved), first, last) == expected


def test_a_full_sequentially_allocated_slash_16_is_one_run() -> None:
    span = ip_ranges.parse_range(AddressRange(subnet="10.0.0.0/16"), 0, SPEC)
    used = ip_ranges.EMPTY
    for _ in range(span.size):
        key = ip_ranges.first_free(used, ip_ranges.EMPTY, span.first, span.last)
        assert key is not None
        used = used.add(key)

    assert len(used) == 65_535
    assert used.runs == 1
    assert ip_ranges.first_free(used, ip_ranges.EMPTY, span.first, span.last) is None
