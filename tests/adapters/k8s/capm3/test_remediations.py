"""The reboot strategy on the real remediation aggregate, the host's power taken from its log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from adapters.k8s.capm3.names import HOSTS, MACHINES, REMEDIATIONS
from adapters.k8s.capm3.remediations import RemediationController, reboot_annotation
from core.aggregates import hosts, remediations
from core.events import hosts as ev
from metalstream.commanding import CommandHandler
from metalstream.kube.machines import HandlerCommands
from metalstream.registry import CODECS
from tests.adapters.k8s.capm3.fakes import NOW, MemoryCluster, add_available_host, append
from tests.fakes.memory_eventstore import MemoryEventStore

NS = "rem"
HOST = f"{NS}/host-0"


class Setup:
    def __init__(self, *, online: bool = True) -> None:
        self.now = NOW
        self.store = MemoryEventStore(CODECS)
        self.cluster = MemoryCluster()
        self.hosts = CommandHandler(self.store, hosts.DEFINITION)
        self.controller = RemediationController(
            HandlerCommands(CommandHandler(self.store, remediations.DEFINITION)),
            HandlerCommands(self.hosts),
            self.cluster,
            self.cluster.cache,
            clock=lambda: self.now,
        )
        self.cluster.put(HOSTS, {"metadata": {"name": "host-0", "namespace": NS}, "spec": {"online": online}})
        self.cluster.put(
            MACHINES,
            {
                "metadata": {
                    "name": "m-0",
                    "namespace": NS,
                    "annotations": {"metal3.io/BareMetalHost": HOST},
                    "ownerReferences": [{"kind": "Machine", "name": "capi-0"}],
                },
                "spec": {},
            },
        )
        self.cluster.put(
            REMEDIATIONS,
            {
                "metadata": {"name": "capi-0", "namespace": NS, "uid": "r-1"},
                "spec": {"strategy": {"retryLimit": 1, "timeoutSeconds": 300}},
            },
        )

    async def power(self, *, on: bool) -> None:
        await append(self.store, HOST, ev.PowerObserved(powered_on=on))
        self.hosts.forget(HOST)

    async def reconcile(self) -> None:
        await self.controller.reconcile(self.cluster.cached(REMEDIATIONS, f"{NS}/capi-0"), f"{NS}/capi-0")

    def host_annotations(self) -> dict[str, Any]:
        host = self.cluster.cached(HOSTS, HOST)
        assert host is not None
        return dict(host["metadata"].get("annotations") or {})

    def status(self) -> dict[str, Any]:
        obj = self.cluster.cached(REMEDIATIONS, f"{NS}/capi-0")
        assert obj is not None
        return dict(obj["status"])


async def test_a_reboot_powers_the_host_off_and_on_again() -> None:
    setup = Setup()
    await add_available_host(setup.store, NS, "host-0")
    await setup.power(on=True)
    await setup.reconcile()
    assert setup.host_annotations() == {reboot_annotation("r-1"): '{"mode":"hard"}'}
    assert setup.status()["phase"] == "Running"

    await setup.reconcile()
    assert setup.status()["phase"] == "Running", "still powered on: keep waiting"
    await setup.power(on=False)
    await setup.reconcile()
    assert setup.status()["phase"] == "Waiting"
    await setup.reconcile()
    assert setup.host_annotations() == {}, "the annotation is removed to power the host on"
    await setup.power(on=True)
    await setup.reconcile()
    reasons = [reason for _, reason, _ in setup.cluster.events]
    assert reasons == ["RebootStarted", "PoweredOff", "Remediated"]
    assert setup.status() == {"phase": "Waiting", "retryCount": 0, "lastRemediated": "2026-11-24T09:00:00Z"}


async def test_a_host_that_stays_off_is_retried_then_marked_unhealthy() -> None:
    setup = Setup()
    await add_available_host(setup.store, NS, "host-0")
    await setup.power(on=True)
    await setup.reconcile()
    await setup.power(on=False)
    for _ in range(2):
        await setup.reconcile()
    assert setup.status()["phase"] == "Waiting"

    setup.now = NOW + timedelta(seconds=301)
    await setup.reconcile()
    assert (setup.status()["phase"], setup.status()["retryCount"]) == ("Running", 1)
    setup.now = NOW + timedelta(seconds=700)
    for _ in range(4):
        await setup.reconcile()
    assert setup.status()["phase"] == "Deleting machine"
    assert setup.host_annotations() == {"capm3.metal3.io/unhealthy": "capm3/UnhealthyNode"}


async def test_a_host_that_is_meant_to_be_off_is_never_rebooted() -> None:
    setup = Setup(online=False)
    await add_available_host(setup.store, NS, "host-0")
    await setup.reconcile()
    assert setup.status()["phase"] == "Failed"
    assert setup.host_annotations() == {}
    assert setup.cluster.events[-1][1] == "RemediationFailed"
