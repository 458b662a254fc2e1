"""Machines racing for fewer hosts, each reconciled as if by its own process, on the real aggregates.

Every controller has its own command handlers (its own caches) over one event store, and all
of them roll the same number, so they all choose the same host first: the host aggregate's
``ClaimHost`` is the only thing standing between them and a host with two consumers.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.k8s.capm3.machines import MachineController
from adapters.k8s.capm3.names import HOST_ANNOTATION, HOSTS, MACHINES
from core.aggregates import hosts, machines
from metalstream.commanding import CommandHandler
from metalstream.kube.machines import HandlerCommands
from metalstream.registry import CODECS
from tests.adapters.k8s.capm3.fakes import NOW, MemoryCluster, add_available_host
from tests.fakes.memory_eventstore import MemoryEventStore

NS = "race"


def _machine(name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "generation": 1},
        "spec": {
            "image": {"url": "http://example.test/os.qcow2", "checksum": "0" * 64, "checksumType": "sha256"},
            "userData": {"name": "user-data"},
            "hostSelector": {"matchLabels": {"role": "worker"}},
        },
    }


def _controller(store: MemoryEventStore, cluster: MemoryCluster) -> MachineController:
    return MachineController(
        HandlerCommands(CommandHandler(store, machines.DEFINITION, clock=lambda: NOW)),
        HandlerCommands(CommandHandler(store, hosts.DEFINITION, clock=lambda: NOW)),
        cluster,
        cluster.cache,
        clock=lambda: NOW,
        roll=lambda: 0.0,
    )


@pytest.mark.parametrize(("machine_count", "host_count"), [(2, 1), (8, 3), (12, 5)])
async def test_racing_machines_never_share_a_host(machine_count: int, host_count: int) -> None:
    store = MemoryEventStore(CODECS)
    cluster = MemoryCluster()
    for i in range(host_count):
        await add_available_host(store, NS, f"host-{i}")
        cluster.put(HOSTS, {"metadata": {"name": f"host-{i}", "namespace": NS, "labels": {"role": "worker"}}})
    names = [f"m-{i}" for i in range(machine_count)]
    for name in names:
        cluster.put(MACHINES, _machine(name))

    async def reconcile_all() -> None:
        controllers = [_controller(store, cluster) for _ in names]
        await asyncio.gather(
            *(
                c.reconcile(cluster.cached(MACHINES, f"{NS}/{n}"), f"{NS}/{n}")
                for c, n in zip(controllers, names, strict=True)
            )
        )

    await reconcile_all()
    await reconcile_all()  # a second round (resync) changes nothing

    fresh_hosts = CommandHandler(store, hosts.DEFINITION)
    consumers: dict[str, str] = {}
    for i in range(host_count):
        host_state, _ = await fresh_hosts.load(f"{NS}/host-{i}")
        assert host_state.consumer is not None
        consumers[f"{NS}/host-{i}"] = host_state.consumer.name
    assert len(set(consumers.values())) == host_count

    fresh_machines = CommandHandler(store, machines.DEFINITION)
    placed: dict[str, str] = {}
    for name in names:
        machine_state, _ = await fresh_machines.load(f"{NS}/{name}")
        if machine_state.host is not None:
            placed[str(machine_state.host)] = name
    assert placed == consumers
    for host_id, machine in consumers.items():
        host_obj = cluster.cached(HOSTS, host_id)
        assert host_obj is not None
        assert host_obj["spec"]["consumerRef"]["name"] == machine
        machine_obj = cluster.cached(MACHINES, f"{NS}/{machine}")
        assert machine_obj is not None
        assert machine_obj["metadata"]["annotations"][HOST_ANNOTATION] == host_id
    losers = [n for n in names if n not in consumers.values()]
    assert len(losers) == machine_count - host_count
    for name in losers:
        obj = cluster.cached(MACHINES, f"{NS}/{name}")
        assert obj is not None
        condition = {c["type"]: c for c in obj["status"]["conditions"]}["AssociateBareMetalHost"]
        assert condition["status"] == "False"
        assert "no available host" in condition["message"]
