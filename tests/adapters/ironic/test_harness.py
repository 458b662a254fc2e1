"""The Ironic harness's ``keep_database`` option: a restarted dev stack still knows its nodes."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.ironic import wire
from adapters.ironic.client import IronicClient
from metalstream.devstack.ironic import IronicHarness
from tests.adapters.ironic.conftest import INTEGRATION_TIMEOUT, endpoint_for, unique


@pytest.mark.timeout(INTEGRATION_TIMEOUT)  # two Ironic starts; the first may build the venv
async def test_keep_database_keeps_the_nodes_of_an_earlier_run(tmp_path: Path) -> None:
    name = unique("kept")
    async with (
        IronicHarness(state_dir=tmp_path, ipmitool=False, start_timeout=120) as first,
        IronicClient(endpoint_for(first)) as client,
    ):
        created = await client.create_node(wire.NodeCreate(name=name, driver="fake-hardware"))

    kept_database = IronicHarness(state_dir=tmp_path, ipmitool=False, start_timeout=120, keep_database=True)
    async with kept_database as second, IronicClient(endpoint_for(second)) as client:
        kept = await client.get_node(name)
    assert kept.uuid == created.uuid
    assert kept.state == "enroll"
