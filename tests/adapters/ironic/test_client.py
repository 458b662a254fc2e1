from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from adapters.ironic import wire
from adapters.ironic.client import IronicClient, IronicEndpoint, choose_version
from adapters.ironic.errors import (
    IronicClientError,
    IronicConflict,
    IronicNodeLocked,
    IronicNotFound,
    IronicTransientError,
    IronicVersionError,
    redact,
)
from metalstream.devstack.ironic import IronicHarness, free_port
from tests.adapters.ironic.conftest import (
    FaultServer,
    endpoint_for,
    ironic_error,
    unique,
    unique_mac,
    wait_for_state,
)


async def test_fake_hardware_node_goes_through_its_whole_lifecycle(client: IronicClient) -> None:
    name, mac = unique("life"), unique_mac()
    timings: dict[str, float] = {}

    async def step(label: str, target: wire.ProvisionTarget, state: str, **kw: object) -> wire.Node:
        began = time.monotonic()
        await client.set_provision_state(name, target, **kw)  # type: ignore[arg-type]
        node = await wait_for_state(client, name, state)
        timings[label] = time.monotonic() - began
        return node

    created = await client.create_node(wire.NodeCreate(name=name, driver="fake-hardware"))
    assert created.state == "enroll"
    assert created.deploy_interface == "fake"
    port = await client.create_port(created.uuid, mac)
    assert [p.address for p in await client.list_ports(created.uuid)] == [mac]
    assert (await client.find_node_by_port_mac(mac.upper())) is not None
    assert port.node_uuid == created.uuid

    await step("manage", "manage", "manageable")
    inspected = await step("inspect", "inspect", "manageable")
    assert inspected.inspection_finished_at is not None
    with pytest.raises(IronicNotFound):
        await client.get_inventory(name)  # the fake inspect interface records no inventory
    await step("provide", "provide", "available")

    await client.set_power_state(name, "power on")
    await asyncio.sleep(0.3)
    assert (await client.get_node(name)).power_state == "power on"
    await client.set_boot_device(name, "pxe")

    image = {"image_source": "http://127.0.0.1:1/image.qcow2", "image_checksum": "0" * 32}
    patched = await client.patch_node(name, [wire.PatchOp.add("/instance_info", image)])
    assert patched.instance_info["image_source"] == image["image_source"]
    validation = await client.validate_node(name)
    assert validation["deploy"].result is True
    assert validation["boot"].result is True
    drive = wire.ConfigDrive(meta_data={"uuid": "u-1", "name": "host"}, user_data="#cloud-config\n")
    active = await step("deploy", "active", "active", configdrive=drive)
    assert active.instance_info["image_source"] == image["image_source"]
    await step("rebuild", "rebuild", "active")
    await step("deprovision", "deleted", "available")
    await step("manage again", "manage", "manageable")
    await client.delete_node(name)
    with pytest.raises(IronicNotFound) as raised:
        await client.get_node(name)
    assert "could not be found" in str(raised.value)
    print("fake-hardware lifecycle seconds:", {k: round(v, 2) for k, v in timings.items()})


async def test_unknown_node_is_a_typed_not_found(client: IronicClient) -> None:
    with pytest.raises(IronicNotFound) as raised:
        await client.get_node("test~does-not-exist")
    assert raised.value.status == 404
    assert await client.find_node_by_port_mac(unique_mac()) is None


async def test_refused_action_carries_ironics_message(client: IronicClient) -> None:
    name = unique("refused")
    await client.create_node(wire.NodeCreate(name=name, driver="fake-hardware"))
    with pytest.raises(IronicClientError) as raised:
        await client.set_provision_state(name, "provide")
    assert raised.value.status == 400
    assert "can not be performed on node" in raised.value.message
    assert '"enroll"' in raised.value.message
    with pytest.raises(IronicConflict):
        await client.create_node(wire.NodeCreate(name=name, driver="fake-hardware"))
    await client.delete_node(name)


async def test_driver_info_secrets_never_reach_error_messages(client: IronicClient) -> None:
    secret = "Very-Secret-Pw-91c2"
    body = wire.NodeCreate(
        name=unique("secret"), driver="no-such-driver", driver_info={"ipmi_password": secret}
    )
    with pytest.raises(IronicClientError) as raised:
        await client.create_node(body)
    assert secret not in str(raised.value)
    assert secret not in repr(body)
    created = await client.create_node(
        wire.NodeCreate(name=unique("secret"), driver="fake-hardware", driver_info={"ipmi_password": secret})
    )
    assert created.driver_info["ipmi_password"] == "******"
    await client.delete_node(created.uuid)


def test_redact_masks_password_values_and_known_secrets() -> None:
    text = "bad driver_info {'ipmi_password': 'hunter22', \"redfish_password\": \"p w\"} for token abc123"
    shown = redact(text, ["abc123"])
    assert "hunter22" not in shown
    assert "p w" not in shown
    assert "abc123" not in shown
    assert "'ipmi_password': '***'" in shown
    assert len(redact("x" * 5000)) == 1000


@pytest.mark.parametrize(
    ("server_max", "chosen"),
    [
        pytest.param("1.115", (1, 110), id="newest"),
        pytest.param("1.109", (1, 109), id="health"),
        pytest.param("1.100", (1, 95), id="between"),
        pytest.param("1.94", (1, 93), id="vmedia"),
        pytest.param("1.89", (1, 89), id="baseline"),
    ],
)
def test_the_highest_metal3_version_the_server_speaks_is_chosen(
    server_max: str, chosen: tuple[int, int]
) -> None:
    assert choose_version(server_max) == chosen


async def test_negotiated_version_is_sent_on_every_call(
    fault_server: FaultServer, ironic: IronicHarness
) -> None:
    fault_server.max_version = "1.100"

    async def node(_: web.Request) -> web.Response:
        return web.json_response({"uuid": "n-1", "provision_state": "enroll"})

    fault_server.script("GET", "/v1/nodes/n-1", node)
    async with IronicClient(IronicEndpoint(url=fault_server.url)) as c:
        assert (await c.get_node("n-1")).uuid == "n-1"
        assert c.api_version == "1.95"
    headers = fault_server.requests[-1][2]
    assert headers["X-OpenStack-Ironic-API-Version"] == "1.95"
    async with IronicClient(endpoint_for(ironic)) as real:
        assert await real.negotiate() == "1.110"


async def test_ironic_older_than_1_89_is_refused(fault_server: FaultServer) -> None:
    fault_server.max_version = "1.81"
    async with IronicClient(IronicEndpoint(url=fault_server.url)) as c:
        with pytest.raises(IronicVersionError) as raised:
            await c.get_node("anything")
    assert "1.81 is older than 1.89" in str(raised.value)
    assert [r[1] for r in fault_server.requests] == ["/"]


async def test_locked_node_is_retried_without_surfacing(fault_server: FaultServer) -> None:
    locked = "Node n-1 is locked by host conductor-1, please retry after the current operation is completed."

    async def busy(_: web.Request) -> web.Response:
        return ironic_error(409, locked)

    async def accepted(_: web.Request) -> web.Response:
        return web.Response(status=202)

    path = "/v1/nodes/n-1/states/provision"
    fault_server.script("PUT", path, busy, busy, accepted)
    endpoint = IronicEndpoint(url=fault_server.url, locked_retry_delay=0.05, locked_retry_attempts=5)
    async with IronicClient(endpoint) as c:
        await c.set_provision_state("n-1", "manage")
        assert sum(1 for r in fault_server.requests if r[1] == path) == 3

        fault_server.script("PUT", path, *[busy] * 5)
        with pytest.raises(IronicNodeLocked) as raised:
            await c.set_provision_state("n-1", "manage")
    assert "locked by host" in raised.value.message
    assert isinstance(raised.value, IronicConflict)


async def test_server_errors_and_slow_answers_are_transient(fault_server: FaultServer) -> None:
    async def unavailable(_: web.Request) -> web.Response:
        return ironic_error(503, "No conductor service registered which supports driver fake-hardware")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"uuid": "n-1"})

    fault_server.script("GET", "/v1/nodes/n-1", unavailable, slow)
    async with IronicClient(IronicEndpoint(url=fault_server.url, timeout=0.3)) as c:
        with pytest.raises(IronicTransientError) as raised:
            await c.get_node("n-1")
        assert raised.value.status == 503
        assert "No conductor" in raised.value.message
        began = time.monotonic()
        with pytest.raises(IronicTransientError, match="timed out"):
            await c.get_node("n-1")
        assert time.monotonic() - began < 1.5


async def test_unreachable_ironic_is_transient_within_the_timeout() -> None:
    endpoint = IronicEndpoint(url=f"http://127.0.0.1:{free_port()}", timeout=2.0, connect_timeout=1.0)
    began = time.monotonic()
    async with IronicClient(endpoint) as c:
        with pytest.raises(IronicTransientError) as raised:
            await c.get_node("anything")
    assert time.monotonic() - began < 2.5
    assert "ClientConnectorError" in str(raised.value) or "refused" in str(raised.value).lower()
