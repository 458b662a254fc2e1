"""Finding a host's Ironic node: by UUID, then by name ``<namespace>~<name>``, then by boot MAC.

Like BMO's ``findExistingHost``. A node found only through the boot MAC but named differently
belongs to someone else: that is a registration error naming both. A UUID the host remembers
but Ironic does not know any more means Ironic lost the node (e.g. its database was reset).

A host about to be registered may skip the lookup by name (``by_name=False``) when the caller
creates the node next: Ironic refuses a second node with the same name (HTTP 409), and the
caller then reads the node by name. That saves a request per new host, the most common case.
The boot MAC is then looked up first, and a node found by MAC under another name is still
checked against the name before it counts as a conflict, so the outcome is the same as in the
usual order.
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.ironic import wire
from adapters.ironic.client import IronicClient
from adapters.ironic.errors import IronicNotFound


def node_name(namespace: str, name: str) -> str:
    """Metal3's Ironic node name for a host."""
    return f"{namespace}~{name}"


@dataclass(frozen=True, slots=True)
class Lookup:
    node: wire.Node | None = None
    lost: bool = False
    """The host's provisioning ID is unknown to Ironic."""
    conflict: str | None = None
    """Why the node found by MAC cannot be used (the registration error message)."""


async def _by_name(client: IronicClient, name: str) -> wire.Node | None:
    try:
        return await client.get_node(name)
    except IronicNotFound:
        return None


async def find_node(
    client: IronicClient,
    *,
    provisioning_id: str | None,
    name: str,
    boot_mac: str | None,
    by_name: bool = True,
) -> Lookup:
    """The host's node. ``by_name=False``: the caller creates it by ``name`` if none is found."""
    lost = False
    if provisioning_id:
        try:
            return Lookup(node=await client.get_node(provisioning_id))
        except IronicNotFound:
            lost = True
    if by_name:
        named = await _by_name(client, name)
        if named is not None:
            return Lookup(node=named, lost=lost)
    if boot_mac:
        node = await client.find_node_by_port_mac(boot_mac)
        if node is not None:
            if node.name == name:
                return Lookup(node=node, lost=lost)
            named = None if by_name else await _by_name(client, name)
            if named is not None:
                return Lookup(node=named, lost=lost)
            return Lookup(
                lost=lost,
                conflict=f"MAC address {boot_mac} conflicts with existing node {node.name or node.uuid}",
            )
    return Lookup(lost=lost)
