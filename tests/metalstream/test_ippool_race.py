"""Two command handlers on separate NATS connections race for one pool: no address goes out twice.

Each handler serialises its own commands per pool, so the only thing between the two is
JetStream's expected-sequence check on the pool's subject, exactly as between two processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from adapters.nats.eventstore import JetStreamEventStore
from core.aggregates import ippool_commands as cmd
from core.aggregates import ippools
from core.aggregates.ippool_state import PoolState
from core.aggregates.ippools import AllocationRefused
from core.errors import ConcurrencyConflict
from core.events import ippools as ev
from core.events.ippool_values import AddressRange, PoolSpec
from metalstream import settings, wiring
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.devstack.nats import NatsServer

POOL = "metal3/provisioning"
CLAIMERS_PER_HANDLER = 8
CLAIMS_PER_CLAIMER = 10
POOL_SIZE = 150
"""Fewer addresses than claims (2 x 8 x 10 = 160): exactly 150 claims may win."""
CONTEXT = CommandContext(actor="test:race")

Handler = CommandHandler[PoolState, cmd.PoolCommand]


@contextlib.asynccontextmanager
async def _store(server: NatsServer) -> AsyncIterator[JetStreamEventStore]:
    config = settings.load({}, overrides={"nats": {"urls": [server.url], "request_timeout": 5.0}})
    async with wiring.event_store(config) as store:
        yield store


async def _allocate(handler: Handler, claim: str, refusals: list[str]) -> str | None:
    """The address ``claim`` got, or None when the pool is exhausted; retries lost races."""
    for _ in range(100):
        try:
            outcome = await handler.handle(POOL, cmd.AllocateAddress(claim=claim), CONTEXT)
        except ConcurrencyConflict:
            continue  # the handler gave up after repeated conflicts: ask again
        except AllocationRefused as refused:
            refusals.append(refused.claim_message)
            return None
        held = outcome.state.allocation(claim)
        assert held is not None
        return held.address
    pytest.fail(f"{claim} lost 100 races in a row")


async def _claimer(handler: Handler, prefix: str, got: dict[str, str | None], refusals: list[str]) -> None:
    for n in range(CLAIMS_PER_CLAIMER):
        claim = f"{prefix}-{n}"
        got[claim] = await _allocate(handler, claim, refusals)


async def test_two_handlers_on_two_connections_never_hand_out_an_address_twice(
    nats_server: NatsServer,
) -> None:
    spec = PoolSpec(name_prefix="prov", pools=(AddressRange(start="10.0.0.1", end=f"10.0.0.{POOL_SIZE}"),))
    got: dict[str, str | None] = {}
    refusals: list[str] = []
    async with _store(nats_server) as first_store, _store(nats_server) as second_store:
        first: Handler = CommandHandler(first_store, ippools.DEFINITION)
        second: Handler = CommandHandler(second_store, ippools.DEFINITION)
        create = cmd.ApplyPoolSpec(namespace="metal3", name="provisioning", uid="u1", generation=1, spec=spec)
        await first.handle(POOL, create, CONTEXT)
        await second.load(POOL)  # both start from a cached state, so the race is real
        async with asyncio.timeout(90), asyncio.TaskGroup() as group:
            for number in range(CLAIMERS_PER_HANDLER):
                for name, handler in (("a", first), ("b", second)):
                    group.create_task(
                        _claimer(handler, f"{name}{number}", got, refusals),
                        name=f"claimer-{name}{number}",
                    )
        history = await CommandHandler(first_store, ippools.DEFINITION).history(POOL)
        conflicts = first.conflicts + second.conflicts

    winners = {claim: address for claim, address in got.items() if address is not None}
    assert len(got) == 2 * CLAIMERS_PER_HANDLER * CLAIMS_PER_CLAIMER
    assert len(winners) == POOL_SIZE
    assert len(set(winners.values())) == POOL_SIZE, "an address was returned to two claims"
    assert {claim[0] for claim in winners} == {"a", "b"}, "one handler never won a race"
    assert conflicts > 0, "the handlers never raced"

    allocations = [r.event for r in history if isinstance(r.event, ev.AddressAllocated)]
    assert len(allocations) == POOL_SIZE, "a claim was recorded twice"
    assert len({a.address for a in allocations}) == POOL_SIZE
    assert {a.claim: a.address for a in allocations} == winners
    assert ippools.DEFINITION.fold([r.event for r in history]).indexes == dict(sorted(winners.items()))
    assert [r.envelope.version for r in history] == list(range(1, len(history) + 1))
    assert refusals == ["Exhausted IP Pools"] * (len(got) - POOL_SIZE)
