"""The provisioner loop's scheduling, with a scripted reconciler (no Ironic)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from adapters.ironic.provisioning import DONE, ReconcileResult
from adapters.ironic.scheduling import ProvisionerLoop
from core.aggregates.host_state import HostState


class Scripted:
    """Counts reconciles per host; can hold one reconcile open until released."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.called = asyncio.Event()
        self.hold = asyncio.Event()
        self.hold.set()

    async def reconcile(self, state: HostState) -> ReconcileResult:
        self.calls.append(state.id)
        self.called.set()
        await self.hold.wait()
        return DONE


def host(name: str) -> HostState:
    return HostState(exists=True, namespace="ns", name=name)


@contextlib.asynccontextmanager
async def running(loop: ProvisionerLoop) -> AsyncIterator[None]:
    async with asyncio.TaskGroup() as group:
        task = group.create_task(loop.run(), name="test.loop")
        yield
        task.cancel()


async def next_call(reconciler: Scripted) -> None:
    async with asyncio.timeout(2):
        await reconciler.called.wait()
    reconciler.called.clear()


async def test_wake_makes_a_known_host_due_without_a_new_state() -> None:
    reconciler = Scripted()
    loop = ProvisionerLoop(reconciler, concurrency=2)
    async with running(loop):
        loop.update(host("a"))
        await next_call(reconciler)
        loop.wake("ns/a")
        loop.wake("ns/unknown")
        await next_call(reconciler)
    assert reconciler.calls == ["ns/a", "ns/a"]


async def test_a_wake_during_a_reconcile_runs_it_again_right_after() -> None:
    reconciler = Scripted()
    reconciler.hold.clear()
    loop = ProvisionerLoop(reconciler, concurrency=2)
    async with running(loop):
        loop.update(host("a"))
        await next_call(reconciler)
        loop.wake("ns/a")
        reconciler.hold.set()
        await next_call(reconciler)
    assert reconciler.calls == ["ns/a", "ns/a"]
