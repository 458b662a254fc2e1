"""The emulator harnesses themselves: failures name their logs, every run starts fresh, ports on request."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import pytest

from adapters.bmc import errors
from adapters.bmc.ports import PowerAction
from metalstream.devstack.ipmi_sim import BmcSpec, IpmiSimulator, IpmiSimulatorError
from metalstream.devstack.sushy import SushyEmulator, SushyEmulatorError
from tests.adapters.bmc.conftest import PASSWORD, USER, fake_system, redfish_client, wait_until


async def test_sushy_start_failure_names_the_log_file(tmp_path: Path) -> None:
    emulator = SushyEmulator([fake_system(0)], state_dir=tmp_path, python="/bin/false", start_timeout=5)

    with pytest.raises(SushyEmulatorError, match="exited with code 1") as caught:
        await emulator.start()

    assert emulator.log_path is not None
    assert str(emulator.log_path) in str(caught.value)


async def test_ipmi_simulator_start_failure_names_the_log_file(tmp_path: Path) -> None:
    simulator = IpmiSimulator([BmcSpec(name="x")], state_dir=tmp_path, python="/bin/false", start_timeout=5)

    with pytest.raises(IpmiSimulatorError) as caught:
        await simulator.start()

    assert simulator.log_path is not None
    assert str(simulator.log_path) in str(caught.value)


async def test_each_sushy_run_starts_from_the_configured_state(tmp_path: Path) -> None:
    system = fake_system(0)
    async with SushyEmulator(
        [system], users={USER: PASSWORD}, power_delay=(0, 0), state_dir=tmp_path
    ) as first:
        async with redfish_client(first, system) as client:
            await client.set_power(PowerAction.ON)
            await wait_until(client.get_power, deadline=5)
        port = first.port

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port or 0)) != 0, "the emulator still listens after stop"

    async with SushyEmulator([system], users={USER: PASSWORD}, state_dir=tmp_path) as second:
        async with redfish_client(second, system) as client:
            assert await client.get_power() is False
        assert second.startup_seconds is not None
        assert second.startup_seconds < 10


def _free_tcp_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def test_sushy_listens_on_the_port_it_is_given() -> None:
    system, port = fake_system(0), _free_tcp_port()
    async with SushyEmulator([system], port=port) as emulator, redfish_client(emulator, system) as client:
        assert emulator.port == port
        assert emulator.address(system) == f"redfish+http://127.0.0.1:{port}{system.path}"
        assert (await client.validate_access()).system_id == system.path


async def test_sushy_on_a_taken_port_does_not_start(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        emulator = SushyEmulator([fake_system(0)], port=taken, state_dir=tmp_path, start_timeout=20)
        with pytest.raises(SushyEmulatorError, match="exited with code"):
            await emulator.start()


@pytest.mark.parametrize("port", [-1, 65536])
def test_sushy_refuses_a_port_out_of_range(port: int) -> None:
    with pytest.raises(ValueError, match=f"port must be 0 .* not {port}"):
        SushyEmulator([fake_system(0)], port=port)


async def test_sushy_without_auth_accepts_any_credentials() -> None:
    system = fake_system(0)
    async with (
        SushyEmulator([system]) as emulator,
        redfish_client(emulator, system, password="anything") as client,
    ):
        assert (await client.validate_access()).system_id == system.path


async def test_ipmi_simulator_serves_each_bmc_on_its_own_port() -> None:
    specs = [BmcSpec(name=f"b{i}", password=f"pw{i}") for i in range(4)]
    async with IpmiSimulator(specs) as simulator:
        ports = {e.port for e in simulator.endpoints.values()}
        assert len(ports) == 4
        assert set(simulator.endpoints) == {"b0", "b1", "b2", "b3"}
        assert simulator.startup_seconds is not None


def test_harness_errors_are_not_bmc_errors() -> None:
    assert not issubclass(SushyEmulatorError, errors.BmcError)
    assert not issubclass(IpmiSimulatorError, errors.BmcError)


_ORPHAN_SCRIPT = """
import asyncio, json, sys
from metalstream.devstack.ipmi_sim import BmcSpec, IpmiSimulator
from metalstream.devstack.sushy import SushyEmulator
from tests.adapters.bmc.conftest import fake_system

async def main():
    async with SushyEmulator([fake_system(0)]) as emulator, IpmiSimulator([BmcSpec(name="a")]) as simulator:
        print(json.dumps([emulator.pid, simulator.pid]), flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


async def test_emulators_exit_when_the_process_that_started_them_is_killed() -> None:
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _ORPHAN_SCRIPT, stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )
    assert parent.stdout is not None
    async with asyncio.timeout(30):
        children = json.loads(await parent.stdout.readline())
    assert all(_running(pid) for pid in children)

    parent.kill()
    await parent.wait()

    async def gone() -> bool:
        return not any(_running(pid) for pid in children)

    await wait_until(gone, deadline=10, interval=0.05)
