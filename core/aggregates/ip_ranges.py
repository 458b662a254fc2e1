"""Address arithmetic for IP pools: ranges as integer intervals, IPAddress names, sets of used addresses.

Every address is an integer key: an IPv4 address is its 32-bit value and an IPv6 address its
128-bit value plus 2**128, so both families share one ordered key space without overlapping and a
range is just ``first..last``. The stdlib ``ipaddress`` module does the parsing (it is typed and
does no I/O); an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) counts as the IPv4 address, as in Go.

``AddressSet`` is why allocation stays cheap on a /16: it stores *runs* of consecutive used
addresses, not addresses, as sorted boundaries, so finding the lowest free address at or after
any point is a binary search. Sequential allocation keeps one run per range, so a full /16 is two
integers. Random allocation makes many runs; the boundaries are kept in chunks, so adding or
removing an address returns a new set that copies one or two chunks and shares the rest: the
pool state stays immutable without a tree of Python objects, and a step costs the same on an
empty pool and on a full one.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from typing import Final

import msgspec

from core.events.ippool_values import AddressRange, PoolSpec

V6_BASE: Final = 1 << 128
"""Added to an IPv6 address's value to make its key; IPv4 keys stay below 2**32."""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_V4_END: Final = 1 << 32
_OCTET_MAX: Final = 255
_OCTET: Final = r"(0|[1-9][0-9]{0,2})"
_CANONICAL_V4: Final = re.compile(rf"^{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}$")
_NAME_PREFIX_RE: Final = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
MAX_NAME_PREFIX: Final = 200
"""Leaves room for ``-`` + the longest IPv6 form (39) + a pool qualifier (9) within 253."""


class InvalidField(ValueError):
    """A spec field is unusable; ``field`` is its path (``spec.pools[1].end``), ``problem`` says why."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


# --- addresses --------------------------------------------------------------------------------------


def parse_address(text: str) -> IPAddress:
    """Parse an address, reading ``::ffff:a.b.c.d`` as IPv4; ``ValueError`` when it is not one."""
    address = ipaddress.ip_address(text.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def key_of(address: IPAddress) -> int:
    return int(address) if address.version == 4 else int(address) + V6_BASE


def address_key(text: str) -> int:
    """The key of an address given as text; ``ValueError`` when it is not an address."""
    quad = _CANONICAL_V4.match(text)
    if quad is not None:
        # Canonical dotted quads (every recorded IPv4 address) skip the general parser: replaying a
        # pool parses each allocated address once, so this is on the replay's hot path.
        a, b, c, d = map(int, quad.groups())
        if max(a, b, c, d) <= _OCTET_MAX:
            return a << 24 | b << 16 | c << 8 | d
    return key_of(parse_address(text))


def address_text(key: int) -> str:
    """The canonical text of the address with ``key`` (IPv6 compressed, lower case)."""
    if key >= V6_BASE:
        return str(ipaddress.IPv6Address(key - V6_BASE))
    if not 0 <= key < _V4_END:
        msg = f"{key} is not an address key"
        raise ValueError(msg)
    return f"{key >> 24}.{key >> 16 & 255}.{key >> 8 & 255}.{key & 255}"


def address_name(name_prefix: str, address: str) -> str:
    """The IPAddress object name of ``address``: ``<namePrefix>-<address with . and : as ->``.

    This is Metal3's name for every address except IPv6 ones ending in ``::``: Metal3 trims the
    trailing dashes, so ``10:0:0:1::`` would be named like ``10.0.0.1``. Here such a name ends in
    ``--0`` instead, which keeps names unique within a pool: IPv4 names never contain ``--``, and
    IPv6 names either contain it or have seven dashes where IPv4 ones have three.
    """
    dashed = address.replace(":", "-").replace(".", "-")
    if dashed.endswith("-"):
        dashed += "0"
    return f"{name_prefix}-{dashed}"


def pool_qualified_name(name_prefix: str, address: str, pool: str) -> str:
    """An IPAddress name no other pool computes: the plain name plus 8 hex digits of the pool's id."""
    digest = hashlib.sha256(pool.encode()).hexdigest()[:8]
    return f"{address_name(name_prefix, address)}-{digest}"


# --- ranges -----------------------------------------------------------------------------------------


class Span(msgspec.Struct, frozen=True, kw_only=True):
    """One usable range of a pool, as keys, with what its addresses carry (defaults resolved)."""

    first: int
    last: int
    prefix: int
    gateway: str | None = None
    dns_servers: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return self.last - self.first + 1

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self.first <= key <= self.last


def _address_field(text: str | None, field: str) -> IPAddress | None:
    if text is None:
        return None
    try:
        return parse_address(text)
    except ValueError:
        raise InvalidField(field, f"{text!r} is not an IP address") from None


def _subnet_field(text: str | None, field: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if text is None:
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise InvalidField(field, f"{text!r} is not a CIDR subnet such as 192.168.0.0/24") from None


def _check_prefix(prefix: int, version: int, field: str) -> None:
    limit = 32 if version == 4 else 128
    if not 0 <= prefix <= limit:
        raise InvalidField(field, f"{prefix} is not a valid IPv{version} prefix length; use 0..{limit}")


def parse_range(entry: AddressRange, index: int, spec: PoolSpec) -> Span:
    """Turn ``spec.pools[index]`` into a ``Span``; ``InvalidField`` names what is wrong and the fix."""
    path = f"spec.pools[{index}]"
    start = _address_field(entry.start, f"{path}.start")
    end = _address_field(entry.end, f"{path}.end")
    subnet = _subnet_field(entry.subnet, f"{path}.subnet")
    versions = {a.version for a in (start, end, subnet) if a is not None}
    if not versions:
        raise InvalidField(path, "set start and end, or subnet (with an optional start or end)")
    if len(versions) > 1:
        raise InvalidField(path, "start, end and subnet mix IPv4 and IPv6; use one family per range")
    version = versions.pop()
    if subnet is not None:
        for name, address in (("start", start), ("end", end)):
            if address is not None and address not in subnet:
                raise InvalidField(f"{path}.{name}", f"{address} is outside subnet {subnet}; move it inside")
        first = key_of(start) if start is not None else key_of(subnet.network_address) + 1
        last = key_of(end) if end is not None else key_of(subnet.broadcast_address)
    elif start is None or end is None:
        missing = "end" if end is None else "start"
        raise InvalidField(
            f"{path}.{missing}", f"a range without subnet needs both start and end; set {missing}"
        )
    else:
        first, last = key_of(start), key_of(end)
    if first > last:
        if start is None and end is None:
            raise InvalidField(
                f"{path}.subnet", f"{subnet} has no address after its network address; set start"
            )
        raise InvalidField(
            f"{path}.end", f"{address_text(last)} is before the range's first address {address_text(first)}"
        )
    _check_prefix(entry.prefix, version, f"{path}.prefix")
    if entry.prefix == 0:
        _check_prefix(spec.prefix, version, "spec.prefix")
    _address_field(entry.gateway, f"{path}.gateway")
    for n, dns in enumerate(entry.dns_servers):
        _address_field(dns, f"{path}.dnsServers[{n}]")
    prefix = entry.prefix or spec.prefix or (subnet.prefixlen if subnet is not None else 0)
    return Span(
        first=first,
        last=last,
        prefix=prefix,
        gateway=entry.gateway if entry.gateway is not None else spec.gateway,
        dns_servers=entry.dns_servers or spec.dns_servers,
    )


def check_spec(spec: PoolSpec) -> tuple[Span, ...]:
    """Validate a whole spec like Metal3's webhook does and return its ranges in declaration order."""
    if not _NAME_PREFIX_RE.match(spec.name_prefix) or len(spec.name_prefix) > MAX_NAME_PREFIX:
        raise InvalidField(
            "spec.namePrefix",
            f"{spec.name_prefix!r} cannot start an object name; use lower-case letters, digits, '-' and '.' "
            f"(at most {MAX_NAME_PREFIX} characters, starting and ending with a letter or digit)",
        )
    _address_field(spec.gateway, "spec.gateway")
    for n, dns in enumerate(spec.dns_servers):
        _address_field(dns, f"spec.dnsServers[{n}]")
    if not 0 <= spec.prefix <= 128:
        raise InvalidField("spec.prefix", f"{spec.prefix} is not a valid prefix length; use 0..128")
    spans = tuple(parse_range(entry, index, spec) for index, entry in enumerate(spec.pools))
    owners: dict[int, str] = {}
    for claim, text in sorted(spec.pre_allocations.items()):
        field = f"spec.preAllocations[{claim}]"
        try:
            key = address_key(text)
        except ValueError:
            raise InvalidField(field, f"{text!r} is not an IP address") from None
        if key in owners:
            raise InvalidField(
                field, f"{address_text(key)} is already pre-allocated to claim {owners[key]!r}; pick another"
            )
        if not any(key in span for span in spans):
            raise InvalidField(
                field, f"{address_text(key)} is out of bounds of spec.pools; add a range that holds it"
            )
        owners[key] = claim
    return spans


def ranges_of(spec: PoolSpec) -> tuple[Span, ...]:
    """The usable ranges of a recorded spec, skipping any this build cannot read (never raises)."""
    spans: list[Span] = []
    for index, entry in enumerate(spec.pools):
        try:
            spans.append(parse_range(entry, index, spec))
        except InvalidField:
            continue
    return tuple(spans)


def reserved_keys(spec: PoolSpec) -> dict[int, str]:
    """Address key to claim for every readable pre-allocation of ``spec``."""
    reserved: dict[int, str] = {}
    for claim, text in spec.pre_allocations.items():
        try:
            reserved.setdefault(address_key(text), claim)
        except ValueError:
            continue
    return reserved


# --- the set of used addresses ---------------------------------------------------------------------


CHUNK: Final = 256
"""Run boundaries per chunk of an ``AddressSet`` (128 runs): what one change copies at most twice."""


def _edit(bounds: tuple[int, ...], key: int, add: bool) -> tuple[int, ...] | None:
    """``bounds`` (sorted, half-open runs) with ``key`` added or removed; None when nothing changes."""
    i = bisect_right(bounds, key)
    inside = i % 2 == 1
    if inside == add:
        return None
    if add:
        joins_left = i > 0 and bounds[i - 1] == key
        joins_right = i < len(bounds) and bounds[i] == key + 1
    else:  # the run [bounds[i - 1], bounds[i]) holds key: cut it there
        joins_left = bounds[i - 1] == key
        joins_right = bounds[i] == key + 1
    if joins_left and joins_right:
        return bounds[: i - 1] + bounds[i + 1 :]
    if joins_left:
        return (*bounds[: i - 1], key + 1, *bounds[i:])
    if joins_right:
        return (*bounds[:i], key, *bounds[i + 1 :])
    return (*bounds[:i], key, key + 1, *bounds[i:])


def _chunked(bounds: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    return tuple(bounds[n : n + CHUNK] for n in range(0, len(bounds), CHUNK))


class AddressSet:
    """An immutable set of address keys, stored as sorted half-open runs ``[start, end)``.

    The run boundaries are kept in chunks of at most ``CHUNK`` (an even number, so a run never
    straddles two chunks), with each chunk's first boundary in ``heads``: a change rewrites the
    chunk that holds the key together with the next one (where a joining run may sit), so it
    copies a few hundred integers however many runs the set has.
    """

    __slots__ = ("_chunks", "_count", "_heads")

    def __init__(self, chunks: tuple[tuple[int, ...], ...] = (), count: int = 0) -> None:
        self._chunks = chunks
        self._heads = tuple(chunk[0] for chunk in chunks)
        self._count = count

    @classmethod
    def of(cls, keys: Iterable[int]) -> AddressSet:
        """The set holding ``keys``."""
        ordered = sorted(set(keys))
        bounds: list[int] = []
        for key in ordered:
            if bounds and bounds[-1] == key:
                bounds[-1] = key + 1
            else:
                bounds += (key, key + 1)
        return cls(_chunked(tuple(bounds)), len(ordered))

    def _bounds(self) -> tuple[int, ...]:
        return tuple(key for chunk in self._chunks for key in chunk)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, int):
            return False
        c = bisect_right(self._heads, key) - 1
        return c >= 0 and bisect_right(self._chunks[c], key) % 2 == 1

    def __iter__(self) -> Iterator[int]:
        for chunk in self._chunks:
            for n in range(0, len(chunk), 2):
                yield from range(chunk[n], chunk[n + 1])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AddressSet) and self._bounds() == other._bounds()

    def __hash__(self) -> int:
        return hash(self._bounds())

    def __repr__(self) -> str:
        return f"AddressSet(runs={self.runs}, count={self._count})"

    @property
    def runs(self) -> int:
        """How many runs of consecutive addresses the set holds (its storage size)."""
        return sum(len(chunk) for chunk in self._chunks) // 2

    def next_absent(self, key: int) -> int:
        """The smallest key at or after ``key`` that is not in the set."""
        c = bisect_right(self._heads, key) - 1
        if c < 0:
            return key
        chunk = self._chunks[c]
        i = bisect_right(chunk, key)
        # Runs are maximal, also across chunks, so a run's end is never the next one's start.
        return chunk[i] if i % 2 else key

    def add(self, key: int) -> AddressSet:
        """The set with ``key`` added."""
        return self._changed(key, add=True)

    def remove(self, key: int) -> AddressSet:
        """The set without ``key``."""
        return self._changed(key, add=False)

    def _changed(self, key: int, *, add: bool) -> AddressSet:
        chunks = self._chunks
        c = max(bisect_right(self._heads, key) - 1, 0)
        window = chunks[c] + chunks[c + 1] if c + 1 < len(chunks) else chunks[c] if chunks else ()
        edited = _edit(window, key, add)
        if edited is None:
            return self
        rebuilt = (*chunks[:c], *_chunked(edited), *chunks[c + 2 :])
        return AddressSet(rebuilt, self._count + (1 if add else -1))


EMPTY: Final = AddressSet()


def first_free(used: AddressSet, reserved: AddressSet, first: int, last: int) -> int | None:
    """The lowest key in ``first..last`` in neither set, or None; each step skips a whole run."""
    key = first
    while key <= last:
        key = used.next_absent(key)
        if key > last:
            return None
        free = reserved.next_absent(key)
        if free == key:
            return key
        key = free
    return None
