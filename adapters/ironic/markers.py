"""Round markers kept in an Ironic node's ``extra``, which make steps safe across restarts.

Inspection and manual cleaning start from ``manageable`` and end there again, so the node's
state alone cannot tell whether a step already ran. Before starting one, the provisioner tags
the node with the round it belongs to and Ironic's ``provision_updated_at``; the step has run
when that timestamp moved. The credentials version sent to Ironic lives in ``extra`` as well.
"""

from __future__ import annotations

import hashlib
from typing import Final

import msgspec

from adapters.ironic import wire
from core.aggregates.host_state import HostState

EXTRA_CREDENTIALS: Final = "metalstream_credentials"
EXTRA_INSPECTION: Final = "metalstream_inspection"
EXTRA_PREPARATION: Final = "metalstream_preparation"


def marker(round_id: str, node: wire.Node) -> str:
    return f"{round_id}|{node.provision_updated_at or ''}"


def ran_since_marker(node: wire.Node, key: str, round_id: str) -> bool:
    """The step tagged ``key`` for ``round_id`` started and Ironic's state moved since."""
    raw = node.extra.get(key)
    if not isinstance(raw, str):
        return False
    marked_round, _, updated_at = raw.rpartition("|")
    return marked_round == round_id and (node.provision_updated_at or "") != updated_at


def first_inspection(state: HostState, node: wire.Node) -> bool:
    """The host was never inspected and its node carries no inspection marker.

    Such an inspection is not marked, which saves Ironic a write per host (writes are what a busy
    Ironic is slow at): whatever inventory the node gets is the host's, as in BMO, which takes any
    inventory a node already has on the first inspection. Re-inspections are marked, because the
    node then holds the previous round's inventory.
    """
    return state.hardware is None and EXTRA_INSPECTION not in node.extra


def inspected_in_round(state: HostState, node: wire.Node, round_id: str) -> bool:
    return first_inspection(state, node) or ran_since_marker(node, EXTRA_INSPECTION, round_id)


def inspection_marker(node: wire.Node, round_id: str) -> wire.PatchOp:
    return wire.PatchOp.add(f"/extra/{EXTRA_INSPECTION}", marker(round_id, node))


def preparation_marker(node: wire.Node, round_id: str) -> wire.PatchOp:
    return wire.PatchOp.add(f"/extra/{EXTRA_PREPARATION}", marker(round_id, node))


def preparation_round(state: HostState) -> str:
    """Names one set of wanted preparation results, so a marker tells which set a cleaning applied."""
    wanted: object = state.spec.raid
    if state.firmware_settings or state.firmware_updates:
        wanted = (state.spec.raid, sorted(state.firmware_settings.items()), state.firmware_updates)
    # RAID alone hashes as before firmware support, so an upgrade does not clean a node twice.
    return hashlib.sha256(msgspec.json.encode(wanted)).hexdigest()[:16]
