"""How much the provisioner asks of Ironic: a busy Ironic is slow, so reads that add nothing are saved."""

from __future__ import annotations

import collections
import re
import time
from collections.abc import Mapping

import msgspec
from yarl import URL

from adapters.ironic import wire
from adapters.ironic.capacity import Capacity
from adapters.ironic.client import IronicClient
from adapters.ironic.node_lookup import node_name
from core.aggregates import host_commands as cmd
from metalstream.devstack.ironic import IronicHarness
from tests.adapters.ironic.conftest import endpoint_for, provision_transitions
from tests.adapters.ironic.world import FAST, NAMESPACE, PS, World, fake_spec

_NODE_PATH = re.compile(r"^/v1/nodes/([^/]+)$")


class CountingClient(IronicClient):
    """Counts requests by method and path, node identifiers folded into ``{node}``; keeps when
    each node was read and written, and which node reads Ironic answered with 404."""

    def __init__(self, harness: IronicHarness) -> None:
        super().__init__(endpoint_for(harness))
        self.calls: collections.Counter[str] = collections.Counter()
        self.not_found: collections.Counter[str] = collections.Counter()
        self.node_requests: list[tuple[float, str, str]] = []
        """(monotonic time sent, method, node identifier) of requests to one node's own path."""

    async def _once(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None,
        path: str,
    ) -> tuple[int, bytes]:
        call = f"{method} {re.sub(r'^/v1/nodes/[^/]+', '/v1/nodes/{node}', path)}"
        self.calls[call] += 1
        node = _NODE_PATH.match(path)
        if node is not None:
            self.node_requests.append((time.monotonic(), method, node.group(1)))
        status, payload = await super()._once(method, url, headers, body, params, path)
        if status == 404:
            self.not_found[call] += 1
        return status, payload

    def reads_soon_after_writes(self, node_uuid: str, within: float) -> list[float]:
        """Seconds from a write to the node to a read of it that followed sooner than ``within``."""
        soon: list[float] = []
        written: float | None = None
        for at, method, ident in self.node_requests:
            if ident != node_uuid:
                continue
            if method != "GET":
                written = at
            elif written is not None and at - written < within:
                soon.append(at - written)
        return soon


async def test_capacity_lists_nodes_only_when_the_limit_may_be_reached_or_the_count_is_old() -> None:
    now = [0.0]
    busy = [wire.Node(uuid="a", provision_state="deploying")]
    listings = 0

    async def listing() -> list[wire.Node]:
        nonlocal listings
        listings += 1
        return list(busy)

    capacity = Capacity(listing, limit=3, ttl=1.0, max_age=10.0, clock=lambda: now[0])
    assert await capacity.admit("b")
    assert await capacity.admit("c")
    assert listings == 1, "below the limit the count is kept"
    assert not await capacity.admit("d")
    assert listings == 1, "listed less than ttl ago: refused on the count"
    now[0] = 1.5
    busy.clear()
    assert await capacity.admit("d")
    assert listings == 2, "at the limit and older than ttl: listed again, and room was found"
    now[0] = 12.0
    assert await capacity.admit("e")
    assert listings == 3, "older than max_age: listed again"


async def test_reads_of_our_own_nodes_free_places_without_a_listing() -> None:
    async def listing() -> list[wire.Node]:
        return [wire.Node(uuid="a", provision_state="cleaning")]

    capacity = Capacity(listing, limit=2, ttl=60, max_age=600)
    assert await capacity.admit("b", writes=4)
    assert capacity.free == 0
    assert not capacity.observe(wire.Node(uuid="b", provision_state="manageable"), writes=4)
    assert capacity.free == 0, "admitted, its operation not sent yet: the place stays taken"
    assert not capacity.observe(wire.Node(uuid="b", provision_state="inspecting"), writes=5)
    assert capacity.observe(wire.Node(uuid="a", provision_state="available"))
    assert capacity.free == 1, "a busy node seen settled gives its place back"
    assert capacity.observe(wire.Node(uuid="b", provision_state="manageable"), writes=5)
    assert capacity.free == 2
    assert not capacity.observe(wire.Node(uuid="z", provision_state="available"))


async def test_a_host_lifecycle_reads_no_more_than_it_needs(ironic: IronicHarness) -> None:
    async with CountingClient(ironic) as counting:
        world = World(counting)
        async with world.running():
            host = await world.apply("lean-0", fake_spec(online=True))
            available = await world.wait_state(host, PS.AVAILABLE)
            await world.wait_for(host, lambda s: s.powered_on, what="powered on")
            node_uuid = available.provisioning_id or ""
            await world.declare(host, cmd.RequestInspection(now=world.now()))
            reinspected = await world.wait_for(
                host,
                lambda s: (
                    s.provisioning_state is PS.AVAILABLE
                    and s.operation_history.inspect.end is not None
                    and s.operation_history.inspect.start != available.operation_history.inspect.start
                ),
                what="inspected again",
            )
            assert reinspected.error_type is None
            node = await counting.get_node(node_uuid)
            await world.delete(host)
            await world.wait_for(host, lambda s: s.deleted, what="deleted")
    calls = counting.calls
    assert calls["GET /v1/ports"] <= 2, calls  # the MAC lookup, and at most one check of the boot port
    assert not counting.not_found["GET /v1/nodes/{node}"], "a new host is not looked up by name"
    # After a write, the node is read again only once Ironic may have moved on (the short interval),
    # even when the host's state changes in between (observations recorded, a spec applied).
    assert not counting.reads_soon_after_writes(node_uuid, 0.9 * FAST.short_requeue)
    assert calls["POST /v1/ports"] == 1
    assert calls["POST /v1/nodes"] == 1
    assert calls["GET /v1/nodes"] <= 2, calls  # capacity listings
    inspections = provision_transitions(ironic.log_path, node_uuid).count(("manageable", "inspecting"))
    assert inspections == 2
    # The first inspection is not marked (any inventory is the host's); the re-inspection is.
    assert "metalstream_inspection" in node.extra
    assert calls["PATCH /v1/nodes/{node}"] == 1, calls


async def test_a_node_left_by_name_without_its_port_is_taken_over(ironic: IronicHarness) -> None:
    """A process stopped between creating a host's node and its port: the next one, which does
    not look new hosts up by name, meets the name as a conflict when creating and uses that node."""
    async with CountingClient(ironic) as counting:
        world = World(counting)
        name = f"leftover-{time.monotonic_ns()}"
        left = await counting.create_node(
            msgspec.convert({"name": node_name(NAMESPACE, name), "driver": "fake-hardware"}, wire.NodeCreate)
        )
        spec = fake_spec()
        async with world.running():
            host = await world.apply(name, spec)
            state = await world.wait_state(host, PS.AVAILABLE)
            ports = await counting.list_ports(left.uuid)
            await world.delete(host)
            await world.wait_for(host, lambda s: s.deleted, what="deleted")
    assert state.provisioning_id == left.uuid
    assert [p.address for p in ports] == [spec.boot_mac_address]
    assert counting.calls["POST /v1/nodes"] == 2, "the test's node and the refused second one"
