"""Many hosts at once: BMC calls run in threads and the event loop stays responsive."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from adapters.bmc import addresses, observing
from adapters.bmc.credentials import Credentials
from adapters.bmc.ipmi import IpmiClient
from adapters.bmc.ports import BmcClient, PowerAction
from metalstream.devstack.ipmi_sim import IpmiSimulator
from metalstream.devstack.sushy import SushyEmulator
from tests.adapters.bmc.conftest import HOSTS, USER, free_port, ipmi_client, redfish_client, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")

PROBE_INTERVAL = 0.01
"""No absolute time limits here (machines are noisy): every bound below is relative to a duration
measured in the same run. A loop blocked by a BMC call is late by the whole call and serialises
the hosts; a loop that only competes for the GIL is late by a small fraction of a call."""


class LoopProbe:
    """Measures how late the event loop wakes a task that sleeps in short steps."""

    def __init__(self) -> None:
        self.lags: list[float] = []

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            before = time.monotonic()
            await asyncio.sleep(PROBE_INTERVAL)
            self.lags.append(max(0.0, time.monotonic() - before - PROBE_INTERVAL))

    @property
    def max_lag(self) -> float:
        return max(self.lags, default=0.0)


@asynccontextmanager
async def probing() -> AsyncIterator[LoopProbe]:
    probe = LoopProbe()
    stop = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(probe.run(stop), name="loop-probe")
        try:
            yield probe
        finally:
            stop.set()


async def _cycle_power(
    host_id: str, client: BmcClient, durations: list[float]
) -> list[observing.Observation]:
    started = time.monotonic()
    seen: list[observing.Observation] = [await observing.validate_access(host_id, client)]
    await client.set_power(PowerAction.ON)
    await wait_until(client.get_power, deadline=15)
    seen.append(await observing.observe_power(host_id, client))
    await client.set_power(PowerAction.OFF)
    await wait_until(lambda: _is_off(client), deadline=15)
    seen.append(await observing.observe_power(host_id, client))
    await client.aclose()
    durations.append(time.monotonic() - started)
    return seen


async def test_sixteen_redfish_and_sixteen_ipmi_hosts_at_once(
    sushy: SushyEmulator, ipmi_sim: IpmiSimulator
) -> None:
    clients: dict[str, BmcClient] = {}
    for i, system in enumerate(sushy.systems):
        clients[f"metal3/redfish-{i}"] = redfish_client(sushy, system)
    for i in range(HOSTS):
        clients[f"metal3/ipmi-{i}"] = ipmi_client(ipmi_sim, f"ipmi-{i}")
    tasks: dict[str, asyncio.Task[list[observing.Observation]]] = {}
    durations: list[float] = []

    started = time.monotonic()
    async with probing() as probe, asyncio.TaskGroup() as tg:
        for host_id, client in clients.items():
            tasks[host_id] = tg.create_task(_cycle_power(host_id, client, durations), name=host_id)
    took = time.monotonic() - started

    for host_id, task in tasks.items():
        access, on, off = task.result()
        assert isinstance(access, observing.AccessValidated), access
        assert on == observing.PowerObserved(host_id=host_id, powered_on=True)
        assert off == observing.PowerObserved(host_id=host_id, powered_on=False)
    assert len(probe.lags) > 10
    # Run one after another the cycles would take the sum of their durations.
    assert took < sum(durations) / 4, f"hosts were not handled concurrently: {took:.1f}s"
    # Loop blocking proper is checked with silent BMCs below, where one blocked call costs seconds;
    # here calls take milliseconds, so lag says more about the machine's load than about us.


async def test_unresponsive_bmcs_are_waited_for_in_parallel() -> None:
    single_port = free_port(socket.SOCK_DGRAM)
    single = IpmiClient.for_access(
        addresses.parse(f"ipmi://127.0.0.1:{single_port}"), Credentials(USER, "pw-single")
    )
    started = time.monotonic()
    await _validate(single)
    one_call = time.monotonic() - started
    ports = [free_port(socket.SOCK_DGRAM) for _ in range(HOSTS)]
    clients = [
        IpmiClient.for_access(addresses.parse(f"ipmi://127.0.0.1:{port}"), Credentials(USER, f"pw-{port}"))
        for port in ports
    ]

    started = time.monotonic()
    async with probing() as probe:
        results = await asyncio.gather(*(_validate(c) for c in clients))
    took = time.monotonic() - started

    assert all(isinstance(r, observing.BmcFailed) and r.reason == "unreachable" for r in results), results
    assert all(isinstance(r, observing.BmcFailed) and r.error_kind == "transient" for r in results)
    # One silent BMC costs pyghmi several seconds; sixteen in a row would take 16 times that.
    assert took < one_call * HOSTS / 4, f"{took:.1f}s for {HOSTS} BMCs, {one_call:.1f}s for one"
    assert probe.max_lag < one_call / 4, f"event loop blocked for {probe.max_lag:.3f}s"


async def _validate(client: IpmiClient) -> observing.AccessValidated | observing.BmcFailed:
    async with client:
        return await observing.validate_access(client.address, client)


async def _is_off(client: BmcClient) -> bool:
    return not await client.get_power()
