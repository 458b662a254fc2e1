"""Finding a host's Ironic node: by UUID, then by name ``<namespace>~<name>``, then by boot MAC.

Like BMO's ``findExistingHost``. A node found only through the boot MAC but named differently
belongs to someone else: that is a registration error naming both. A UUID the host remembers
but Ironic does not know any more means Ironic lost the node (e.g. its database was reset).
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


async def find_node(
    client: IronicClient, *, provisioning_id: str | None, name: str, boot_mac: str | None
) -> Lookup:
    lost = False
    if provisioning_id:
        try:
            return Lookup(node=await client.get_node(provisioning_id))
        except IronicNotFound:
            lost = True
    try:
        return Lookup(node=await client.get_node(name), lost=lost)
    except IronicNotFound:
        pass
    if boot_mac:
        node = await client.find_node_by_port_mac(boot_mac)
        if node is not None:
            if node.name != name:
                return Lookup(
                    lost=lost,
                    conflict=f"MAC address {boot_mac} conflicts with existing node {node.name or node.uuid}",
                )
            return Lookup(node=node, lost=lost)
    return Lookup(lost=lost)
