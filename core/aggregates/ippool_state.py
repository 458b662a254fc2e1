"""The state of one IP pool, and ``evolve``: how each pool event changes it.

A pool can hold tens of thousands of allocations, and ``evolve`` runs once per event both when
a command is handled and when a history is replayed. So every part of the state that grows with
the allocations is a persistent structure that a step changes in (near) constant time while
leaving the previous state intact: ``AddressSet`` (runs of used addresses, see ``ip_ranges``) and
``Allocations``, a small hash trie from claim name to the event that allocated it. Copying a
``dict`` per event instead would make replaying a /16 quadratic.

``evolve`` is total and never validates (``decide`` did, when the event was recorded); an event
this build does not know leaves the state unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, cast

import msgspec
from msgspec.structs import replace

from core.aggregates import ip_ranges
from core.aggregates.ip_ranges import AddressSet, Span
from core.events import ippools as ev
from core.events.base import Event, UndecodableEvent, UnknownEvent
from core.events.ippool_values import PoolRef, PoolSpec

_BITS: Final = 5
_SLOT_MASK: Final = (1 << _BITS) - 1
_HASH_BITS: Final = 64
_LEAF_SIZE: Final = 8
"""Claims a leaf holds before it splits into a node of 32 slots."""
_EMPTY_NODE: Final[tuple[object, ...]] = (None,) * (1 << _BITS)

_Leaf = dict[str, ev.AddressAllocated]
_Node = tuple[object, ...]


def _hash(claim: str) -> int:
    return hash(claim) & ((1 << _HASH_BITS) - 1)


def _put(
    node: _Node, digest: int, shift: int, claim: str, value: ev.AddressAllocated
) -> tuple[_Node, ev.AddressAllocated | None]:
    """``node`` with ``claim`` set, and the value it replaced (None when the claim is new)."""
    index = (digest >> shift) & _SLOT_MASK
    slot = node[index]
    previous = None
    if slot is None:
        new_slot: object = {claim: value}
    elif isinstance(slot, dict):
        leaf = cast(_Leaf, slot)
        previous = leaf.get(claim)
        if previous is not None or len(leaf) < _LEAF_SIZE or shift + _BITS >= _HASH_BITS:
            new_slot = {**leaf, claim: value}
        else:
            child = _EMPTY_NODE
            for other, held in leaf.items():
                child, _ = _put(child, _hash(other), shift + _BITS, other, held)
            new_slot, _ = _put(child, digest, shift + _BITS, claim, value)
    else:
        new_slot, previous = _put(cast(_Node, slot), digest, shift + _BITS, claim, value)
    return (*node[:index], new_slot, *node[index + 1 :]), previous


def _drop(node: _Node, digest: int, shift: int, claim: str) -> _Node:
    index = (digest >> shift) & _SLOT_MASK
    slot = node[index]
    if slot is None:
        return node
    if isinstance(slot, dict):
        leaf = cast(_Leaf, slot)
        if claim not in leaf:
            return node
        new_slot: object = {other: held for other, held in leaf.items() if other != claim} or None
    else:
        child = cast(_Node, slot)
        new_slot = _drop(child, digest, shift + _BITS, claim)
        if new_slot is child:
            return node
    return (*node[:index], new_slot, *node[index + 1 :])


def _walk(node: _Node) -> Iterator[tuple[str, ev.AddressAllocated]]:
    for slot in node:
        if slot is None:
            continue
        if isinstance(slot, dict):
            yield from cast(_Leaf, slot).items()
        else:
            yield from _walk(cast(_Node, slot))


class Allocations:
    """An immutable map from claim name to the ``AddressAllocated`` event that gave it its address."""

    __slots__ = ("_root", "_size")

    def __init__(self, root: _Node = _EMPTY_NODE, size: int = 0) -> None:
        self._root = root
        self._size = size

    def get(self, claim: str) -> ev.AddressAllocated | None:
        node, digest, shift = self._root, _hash(claim), 0
        while True:
            slot = node[(digest >> shift) & _SLOT_MASK]
            if slot is None:
                return None
            if isinstance(slot, dict):
                return cast(_Leaf, slot).get(claim)
            node, shift = cast(_Node, slot), shift + _BITS

    def set(self, claim: str, allocation: ev.AddressAllocated) -> Allocations:
        return self.put(claim, allocation)[0]

    def put(
        self, claim: str, allocation: ev.AddressAllocated
    ) -> tuple[Allocations, ev.AddressAllocated | None]:
        """The map with ``claim`` set, and what the claim held before (None when it is new)."""
        root, previous = _put(self._root, _hash(claim), 0, claim, allocation)
        return Allocations(root, self._size + (previous is None)), previous

    def delete(self, claim: str) -> Allocations:
        if self.get(claim) is None:
            return self
        return Allocations(_drop(self._root, _hash(claim), 0, claim), self._size - 1)

    def items(self) -> Iterator[tuple[str, ev.AddressAllocated]]:
        """Every (claim, allocation), in no particular order."""
        return _walk(self._root)

    def __len__(self) -> int:
        return self._size

    def __contains__(self, claim: object) -> bool:
        return isinstance(claim, str) and self.get(claim) is not None

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Allocations)
            and len(self) == len(other)
            and dict(self.items()) == dict(other.items())
        )

    def __hash__(self) -> int:
        return hash(frozenset((claim, held.address) for claim, held in self.items()))

    def __repr__(self) -> str:
        return f"Allocations({len(self)} claims)"


class PoolState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the domain knows about one IP pool, folded from its events."""

    exists: bool = False
    deleted: bool = False
    namespace: str = ""
    name: str = ""
    uid: str = ""
    generation: int = 0
    spec: PoolSpec | None = None
    ranges: tuple[Span, ...] = ()
    """``spec.pools`` as key ranges with their defaults resolved, in declaration order."""
    reserved_by: dict[int, str] = msgspec.field(default_factory=dict)
    """Address key to claim, for every pre-allocation."""
    reserved: AddressSet = ip_ranges.EMPTY
    """The pre-allocated addresses, which no other claim may get."""
    allocations: Allocations = Allocations()
    used: AddressSet = ip_ranges.EMPTY
    """The allocated addresses."""
    deletion_requested: bool = False

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def ref(self) -> PoolRef:
        """The pool's identity, recorded with each of its allocations."""
        return PoolRef(namespace=self.namespace, name=self.name, uid=self.uid)

    def allocation(self, claim: str) -> ev.AddressAllocated | None:
        """What ``claim`` holds, or None."""
        return self.allocations.get(claim)

    @property
    def allocation_count(self) -> int:
        return len(self.allocations)

    @property
    def indexes(self) -> dict[str, str]:
        """``status.indexes``: claim name to address, sorted by claim."""
        return {claim: held.address for claim, held in sorted(self.allocations.items())}


INITIAL = PoolState()


def _with_spec(state: PoolState, spec: PoolSpec) -> PoolState:
    reserved_by = ip_ranges.reserved_keys(spec)
    return replace(
        state,
        spec=spec,
        ranges=ip_ranges.ranges_of(spec),
        reserved_by=reserved_by,
        reserved=AddressSet.of(reserved_by),
    )


def _key(address: str) -> int | None:
    try:
        return ip_ranges.address_key(address)
    except ValueError:
        return None


def _allocated(state: PoolState, event: ev.AddressAllocated) -> PoolState:
    key = _key(event.address)
    if key is None:
        return state
    allocations, previous = state.allocations.put(event.claim, event)
    used = state.used
    if previous is not None:
        old = _key(previous.address)
        used = used if old is None else used.remove(old)
    return replace(state, allocations=allocations, used=used.add(key))


def _released(state: PoolState, event: ev.AddressReleased) -> PoolState:
    held = state.allocations.get(event.claim)
    if held is None:
        return state
    key = _key(held.address)
    used = state.used if key is None else state.used.remove(key)
    return replace(state, allocations=state.allocations.delete(event.claim), used=used)


def evolve(state: PoolState, event: Event | UnknownEvent | UndecodableEvent) -> PoolState:
    """Apply one event to a pool's state."""
    match event:
        case ev.PoolCreated():
            created = PoolState(
                exists=True,
                namespace=event.namespace,
                name=event.name,
                uid=event.uid,
                generation=event.generation,
            )
            return _with_spec(created, event.spec)
        case ev.PoolSpecChanged():
            return _with_spec(replace(state, generation=event.generation), event.spec)
        case ev.AddressAllocated():
            return _allocated(state, event)
        case ev.AddressReleased():
            return _released(state, event)
        case ev.AddressRenamed():
            held = state.allocations.get(event.claim)
            if held is None:
                return state
            renamed = replace(held, address_name=event.address_name)
            return replace(state, allocations=state.allocations.set(event.claim, renamed))
        case ev.DeletionRequested():
            return replace(state, deletion_requested=True)
        case ev.PoolDeleted():
            return replace(state, deleted=True)
        case UnknownEvent() | UndecodableEvent():
            return state
        case _:
            # An event of another aggregate type never reaches this fold; keep it total anyway.
            return state
