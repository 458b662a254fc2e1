"""Enrolling a host in Ironic: the node to create, its boot port and its BMC credentials.

These steps need only the Ironic client and the host's spec, not the provisioner's state machine,
so they live here as plain functions the provisioner's registration phase calls.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog

from adapters.ironic import instance_info, wire
from adapters.ironic.client import IronicClient
from adapters.ironic.errors import IronicConflict
from adapters.ironic.markers import EXTRA_CREDENTIALS
from adapters.ironic.ports import BmcCredentials, NodeDriverSpec
from core.aggregates.host_state import HostState

log = structlog.get_logger("metalstream.ironic.provisioner")

NS = wire.ProvisionState


def node_properties(state: HostState) -> dict[str, Any]:
    properties: dict[str, Any] = {"capabilities": instance_info.boot_mode_capability(state.spec.boot_mode)}
    if state.spec.architecture:
        properties["cpu_arch"] = state.spec.architecture
    return properties


def node_create(
    state: HostState, name: str, driver: NodeDriverSpec, creds: BmcCredentials
) -> wire.NodeCreate:
    """The request that enrols the host's node, credentials version tagged in ``extra``."""
    interfaces = {f"{k}_interface": v for k, v in driver.interfaces.items() if v}
    return msgspec.convert(
        {
            "name": name,
            "driver": driver.driver,
            "driver_info": dict(driver.driver_info),
            "properties": node_properties(state),
            "extra": {EXTRA_CREDENTIALS: creds.version},
            "automated_clean": state.spec.automated_cleaning_mode != "disabled",
            **({"disable_power_off": True} if state.spec.disable_power_off else {}),
            **interfaces,
        },
        wire.NodeCreate,
    )


async def ensure_boot_port(
    client: IronicClient,
    known: dict[str, tuple[str, str]],
    state: HostState,
    node: wire.Node,
    *,
    new_node: bool = False,
) -> None:
    """Make sure the node has a port for the boot MAC; ``known`` remembers ports per host."""
    mac = state.spec.boot_mac_address
    # Only where a host waits before provide/deploy/adopt: saves a request on every poll.
    if not mac or node.state not in (NS.ENROLL, NS.MANAGEABLE):
        return
    wanted = (node.uuid, mac.lower())
    if known.get(state.id) == wanted:
        return  # seen or made by this process; a restart checks again
    if not new_node:
        ports = await client.list_ports(node.uuid)
        if any(p.address.lower() == wanted[1] for p in ports):
            known[state.id] = wanted
            return
    try:
        await client.create_port(node.uuid, wanted[1])
    except IronicConflict as e:
        log.info("boot MAC port already exists", host=state.id, error=str(e))
        return
    known[state.id] = wanted


def credentials_outdated(node: wire.Node, driver: NodeDriverSpec, creds: BmcCredentials) -> bool:
    if node.extra.get(EXTRA_CREDENTIALS) != creds.version:
        return True
    public = driver.public_driver_info()
    return any(str(node.driver_info.get(k)) != str(v) for k, v in public.items())


async def update_driver_info(
    client: IronicClient, node: wire.Node, driver: NodeDriverSpec, creds: BmcCredentials
) -> None:
    ops = [wire.PatchOp.add(f"/driver_info/{k}", v) for k, v in driver.driver_info.items()]
    ops.append(wire.PatchOp.add(f"/extra/{EXTRA_CREDENTIALS}", creds.version))
    await client.patch_node(node.uuid, ops)
    log.info("sent BMC credentials to ironic", node=node.uuid, credentials_version=creds.version)
