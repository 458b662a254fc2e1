"""Power changes on sushy-tools' fake driver land 1-11 s after the request, as on slow hardware."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from adapters.bmc.ports import PowerAction
from metalstream.devstack.sushy import SushyEmulator
from tests.adapters.bmc.conftest import PASSWORD, USER, fake_system, redfish_client, wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def slow_sushy() -> AsyncIterator[SushyEmulator]:
    """The emulator with its own random 1-11 s power delay (no ``power_delay`` override)."""
    async with SushyEmulator([fake_system(0)], users={USER: PASSWORD}) as emulator:
        yield emulator


async def test_power_on_is_observed_after_the_real_random_delay(slow_sushy: SushyEmulator) -> None:
    async with redfish_client(slow_sushy, slow_sushy.systems[0]) as client:
        assert await client.get_power() is False

        await client.set_power(PowerAction.ON)
        # The emulator's delay is at most 11 s; the deadline leaves room for a loaded machine
        # (no wall-clock bound is asserted: wait_until fails the test if power never comes on).
        await wait_until(client.get_power, deadline=30, interval=0.25)
        assert await client.get_power() is True
