"""The IP pool aggregate (Metal3 IPAM): ``decide`` which address a claim gets, and when a pool may go.

One pool, with every claim on it, is one consistency boundary. Metal3 gets conflict-freedom by
processing a pool's claims serially in one controller and by failing the second create of an
IPAddress name; here every allocation is decided against the pool's whole state and appended
with optimistic concurrency on the pool's subject, so any number of processes may allocate from
one pool and an address is never handed out twice (a concurrent append conflicts, the command
handler reloads the pool and decides again).

Allocation follows Metal3's ``allocateAddress``: a claim that holds an address keeps it (nothing
is recorded); a pre-allocated claim gets its reserved address, a claim with an ``ipAddress``
annotation gets exactly that address, and any other claim gets the lowest free address
(``sequential``) or a random free one (``random``, from the command's ``choice``) of the first
range in ``spec.pools`` that has one. Pre-allocated addresses are never given to other claims.
Refusals raise ``AllocationRefused`` whose ``claim_message`` is Metal3's
``IPClaim.status.errorMessage`` ("Exhausted IP Pools", "Requested IP not available", ...).

IPAddress names and Metal3 IPAM#1437. Metal3 names an IPAddress ``<namePrefix>-<address>`` and
treats "already exists" as a transient error, so two pools in one namespace with the same
``namePrefix`` and an overlapping range fight over one object name, and one claim never gets its
address. metalstream keeps that name (so objects look as they do under Metal3) and makes the
pool part of every allocation's identity instead: ``AddressAllocated.pool`` carries the pool's
namespace, name and uid, and a name is unique within its pool by construction. Uniqueness across
pools is the adapter's to enforce, with this rule: it creates an IPAddress with ``spec.pool``
set from ``AddressAllocated.pool`` and, when the name already exists, uses the object only if its
``spec.pool`` is this pool; an object of another pool is never adopted, changed or deleted.
Instead the adapter sends ``ReportNameCollision`` and the pool records ``AddressRenamed`` with a
pool-qualified name (``<namePrefix>-<address>-<8 hex digits of the pool id>``), which the other
pool never computes. So the first pool to create a name keeps it, the other one renames its own
allocation, and both claims get their addresses.
"""

from __future__ import annotations

from core.aggregates import ip_ranges
from core.aggregates import ippool_commands as cmd
from core.aggregates.base import AggregateDefinition
from core.aggregates.ip_ranges import InvalidField, Span
from core.aggregates.ippool_state import INITIAL, PoolState, evolve
from core.errors import AggregateNotFound, CommandRejected
from core.events import ippools as ev
from core.events.base import Event
from core.events.ippool_values import AllocationSource, PoolSpec
from core.ids import object_id

MAX_NAME_LENGTH = 253
_SHOWN = 5
"""How many offending claims a rejection lists before it says "and N more"."""


class AllocationRefused(CommandRejected):
    """No address could be given to a claim; nothing was recorded.

    ``claim_message`` is what Metal3 writes to the claim's ``status.errorMessage`` in this case,
    so the Kubernetes adapter can show users the message they know.
    """

    def __init__(self, *, rule: str, state: str, claim_message: str, detail: str) -> None:
        super().__init__(rule=rule, state=state, detail=f"{claim_message}: {detail}")
        self.claim_message = claim_message


def _state_name(state: PoolState) -> str:
    if not state.exists:
        return "absent"
    if state.deleted:
        return "deleted"
    return "deleting" if state.deletion_requested else "active"


def _reject(state: PoolState, rule: str, detail: str) -> CommandRejected:
    return CommandRejected(rule=rule, state=_state_name(state), detail=detail)


def _refuse(state: PoolState, rule: str, claim_message: str, detail: str) -> AllocationRefused:
    return AllocationRefused(rule=rule, state=_state_name(state), claim_message=claim_message, detail=detail)


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


# --- the spec ---------------------------------------------------------------------------------------


def _checked_spec(state: PoolState, spec: PoolSpec) -> tuple[Span, ...]:
    try:
        return ip_ranges.check_spec(spec)
    except InvalidField as exc:
        raise _reject(state, "invalid-spec", f"{exc.field}: {exc.problem}") from None


def _check_change(state: PoolState, spec: PoolSpec, spans: tuple[Span, ...]) -> None:
    """Rules that compare the new spec with the current one and with the allocations it must keep."""
    old = state.spec
    if old is not None and spec.name_prefix != old.name_prefix:
        raise _reject(
            state,
            "name-prefix-immutable",
            f"spec.namePrefix cannot change from {old.name_prefix!r} (IPAddress names are made from it); "
            "create a new pool instead",
        )
    if old is not None and spec.allocation_strategy != old.allocation_strategy:
        raise _reject(
            state,
            "allocation-strategy-immutable",
            f"spec.allocationStrategy cannot change from {old.allocation_strategy!r} after creation; "
            "create a new pool instead",
        )
    holders: dict[int, str] = {}
    stranded: list[str] = []
    for claim, held in sorted(state.allocations.items()):
        key = ip_ranges.address_key(held.address)
        holders[key] = claim
        if not any(key in span for span in spans):
            stranded.append(f"{held.address} (claim {claim})")
    if stranded:
        raise _reject(
            state,
            "allocation-out-of-bounds",
            f"spec.pools: {_listed(stranded)} in use but out of bounds of the new ranges; "
            "release those claims first or keep a range that holds them",
        )
    for claim, text in sorted(spec.pre_allocations.items()):
        holder = holders.get(ip_ranges.address_key(text))
        if holder is not None and holder != claim:
            raise _reject(
                state,
                "preallocation-taken",
                f"spec.preAllocations[{claim}]: {text} is allocated to claim {holder!r}; "
                "release that claim first or pre-allocate another address",
            )


def _apply_spec(state: PoolState, c: cmd.ApplyPoolSpec) -> list[Event]:
    if state.exists and not state.deleted:
        if c.uid != state.uid:
            raise _reject(
                state,
                "one-object-per-pool",
                f"pool {state.id} still exists with uid {state.uid}; finish deleting it before re-creating",
            )
        if c.generation <= state.generation or c.spec == state.spec:
            return []
        spans = _checked_spec(state, c.spec)
        _check_change(state, c.spec, spans)
        return [ev.PoolSpecChanged(generation=c.generation, spec=c.spec)]
    if state.deleted and c.uid == state.uid:
        raise _reject(state, "deleted-is-final", f"pool {state.id} with uid {c.uid} was deleted")
    try:
        object_id(c.namespace, c.name)
    except ValueError as exc:
        raise _reject(state, "invalid-name", str(exc)) from None
    _checked_spec(state, c.spec)
    return [
        ev.PoolCreated(namespace=c.namespace, name=c.name, uid=c.uid, generation=c.generation, spec=c.spec)
    ]


# --- allocation -------------------------------------------------------------------------------------


def _allocation(
    state: PoolState, c: cmd.AllocateAddress, key: int, span: Span, source: AllocationSource
) -> ev.AddressAllocated:
    address = ip_ranges.address_text(key)
    name_prefix = state.spec.name_prefix if state.spec is not None else state.name
    return ev.AddressAllocated(
        claim=c.claim,
        address=address,
        address_name=ip_ranges.address_name(name_prefix, address),
        pool=state.ref,
        prefix=span.prefix,
        gateway=span.gateway,
        dns_servers=span.dns_servers,
        source=source,
        labels=dict(c.labels),
        owners=c.owners,
    )


def _pick(state: PoolState, span: Span, choice: int) -> int | None:
    """A free address of ``span`` by the pool's strategy, skipping others' pre-allocations."""
    if state.spec is None or state.spec.allocation_strategy == "sequential":
        return ip_ranges.first_free(state.used, state.reserved, span.first, span.last)
    start = span.first + choice % span.size
    found = ip_ranges.first_free(state.used, state.reserved, start, span.last)
    if found is None and start > span.first:
        found = ip_ranges.first_free(state.used, state.reserved, span.first, start - 1)
    return found


def _requested_key(state: PoolState, c: cmd.AllocateAddress) -> int | None:
    if not c.requested_address:
        return None
    try:
        return ip_ranges.address_key(c.requested_address)
    except ValueError:
        message = f"Invalid ipAddress annotation {c.requested_address!r}: not a valid IP address"
        raise _refuse(
            state, "requested-ip-invalid", message, "fix or remove the claim's ipAddress annotation"
        ) from None


def _preallocated_key(state: PoolState, claim: str) -> int | None:
    text = state.spec.pre_allocations.get(claim) if state.spec is not None else None
    if text is None:
        return None
    try:
        return ip_ranges.address_key(text)
    except ValueError:
        return None


def _allocate_exactly(
    state: PoolState, c: cmd.AllocateAddress, key: int, source: AllocationSource
) -> list[Event]:
    address = ip_ranges.address_text(key)
    span = next((span for span in state.ranges if key in span), None)
    if span is None:
        if source == "preallocated":
            raise _refuse(
                state,
                "preallocation-out-of-bounds",
                "Pre-allocated IP out of bounds",
                f"{address}, pre-allocated to claim {c.claim!r}, is in no range of spec.pools; "
                "add a range that holds it or change spec.preAllocations",
            )
        raise _refuse(
            state,
            "requested-ip-not-available",
            "Requested IP not available",
            f"{address} is in no range of pool {state.id}; request an address inside spec.pools",
        )
    if key in state.used:
        raise _refuse(
            state,
            "requested-ip-not-available",
            "Requested IP not available",
            f"{address} is allocated to another claim; request a free address or remove the annotation",
        )
    owner = state.reserved_by.get(key)
    if owner is not None and owner != c.claim:
        raise _refuse(
            state,
            "requested-ip-not-available",
            "Requested IP not available",
            f"{address} is pre-allocated to claim {owner!r}; request another address",
        )
    return [_allocation(state, c, key, span, source)]


def _allocate(state: PoolState, c: cmd.AllocateAddress) -> list[Event]:
    if not 0 < len(c.claim) <= MAX_NAME_LENGTH:
        raise _reject(
            state, "invalid-claim", f"claim name {c.claim!r} must be 1..{MAX_NAME_LENGTH} characters"
        )
    if c.choice < 0:
        raise _reject(state, "choice-range", f"AllocateAddress.choice must be >= 0, got {c.choice}")
    if state.allocation(c.claim) is not None:
        return []
    if state.deletion_requested:
        raise _reject(
            state, "pool-deleting", f"pool {state.id} is being deleted; point the claim at another pool"
        )
    requested = _requested_key(state, c)
    reserved = _preallocated_key(state, c.claim)
    if requested is not None and reserved is not None and requested != reserved:
        raise _refuse(
            state,
            "preallocation-conflict",
            "PreAllocation and requested ip address are conflicting",
            f"claim {c.claim!r} is pre-allocated {ip_ranges.address_text(reserved)} but its ipAddress "
            f"annotation asks for {ip_ranges.address_text(requested)}; remove the annotation or change "
            "spec.preAllocations",
        )
    if reserved is not None:
        return _allocate_exactly(state, c, reserved, "preallocated")
    if requested is not None:
        return _allocate_exactly(state, c, requested, "requested")
    for span in state.ranges:
        key = _pick(state, span, c.choice)
        if key is not None:
            source: AllocationSource = "random" if _is_random(state) else "sequential"
            return [_allocation(state, c, key, span, source)]
    raise _refuse(
        state,
        "pool-exhausted",
        "Exhausted IP Pools",
        f"every address of pool {state.id} is allocated or pre-allocated; "
        "add a range to spec.pools or release a claim",
    )


def _is_random(state: PoolState) -> bool:
    return state.spec is not None and state.spec.allocation_strategy == "random"


# --- release, deletion, name collisions -------------------------------------------------------------


def _release(state: PoolState, c: cmd.ReleaseAddress) -> list[Event]:
    held = state.allocation(c.claim)
    if held is None:
        return []
    events: list[Event] = [
        ev.AddressReleased(claim=c.claim, address=held.address, address_name=held.address_name)
    ]
    if state.deletion_requested and state.allocation_count == 1:
        events.append(ev.PoolDeleted())
    return events


def _request_deletion(state: PoolState) -> list[Event]:
    if state.deletion_requested:
        return []
    return [ev.DeletionRequested()] + ([ev.PoolDeleted()] if state.allocation_count == 0 else [])


def _rename(state: PoolState, c: cmd.ReportNameCollision) -> list[Event]:
    held = state.allocation(c.claim)
    if held is None or held.address_name != c.address_name:
        return []  # released or renamed since the adapter looked
    if c.taken_by == state.id:
        raise _reject(
            state,
            "not-a-collision",
            f"IPAddress {c.address_name} belongs to this pool; adopt it instead of reporting a collision",
        )
    name_prefix = state.spec.name_prefix if state.spec is not None else state.name
    qualified = ip_ranges.pool_qualified_name(name_prefix, held.address, state.id)
    if qualified == held.address_name:
        raise _reject(
            state,
            "address-name-collision",
            f"IPAddress {c.address_name} of claim {c.claim!r} is taken by pool {c.taken_by} even though it "
            "is qualified by this pool; give the pools different spec.namePrefix values",
        )
    return [
        ev.AddressRenamed(
            claim=c.claim,
            address=held.address,
            previous_name=held.address_name,
            address_name=qualified,
            taken_by=c.taken_by,
        )
    ]


def decide(state: PoolState, command: cmd.PoolCommand) -> list[Event]:
    """The events that record ``command`` (none when it changes nothing)."""
    if isinstance(command, cmd.ApplyPoolSpec):
        return _apply_spec(state, command)
    if not state.exists:
        raise AggregateNotFound(f"ippool {state.id if state.name else '(unknown)'}")
    if state.deleted:
        raise _reject(state, "deleted-is-final", f"pool {state.id} was deleted")
    match command:
        case cmd.AllocateAddress():
            return _allocate(state, command)
        case cmd.ReleaseAddress():
            return _release(state, command)
        case cmd.RequestPoolDeletion():
            return _request_deletion(state)
        case cmd.ReportNameCollision():
            return _rename(state, command)


DEFINITION: AggregateDefinition[PoolState, cmd.PoolCommand] = AggregateDefinition(
    type=ev.AGGREGATE_TYPE,
    codec=ev.CODEC,
    initial=INITIAL,
    decide=decide,
    evolve=evolve,
)

__all__ = ["DEFINITION", "AllocationRefused", "PoolState", "decide", "evolve"]
