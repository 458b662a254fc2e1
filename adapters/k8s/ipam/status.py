"""Pool and claim status as Metal3 IPAM shows them, rendered from the pool aggregate's state.

``IPPool.status.indexes`` maps each claim to its address and is rewritten from the pool's
allocations (never patched entry by entry), so it cannot drift from the log. ``lastUpdated`` is
volatile: a change in it alone is not worth a write (see ``status_writer``). An IPClaim's status
holds either the reference to its IPAddress or the ``errorMessage`` Metal3 would show.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from core.aggregates.ippool_state import PoolState

VOLATILE: Final = ("lastUpdated",)


def _timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def pool_status(state: PoolState, now: datetime) -> dict[str, Any]:
    """``IPPool.status``: every allocation of the pool, by claim name."""
    return {"indexes": state.indexes, "lastUpdated": _timestamp(now)}


def claim_bound(namespace: str, address_name: str) -> dict[str, Any]:
    """``IPClaim.status`` of a claim whose IPAddress exists."""
    return {"address": {"name": address_name, "namespace": namespace}}


def claim_failed(message: str, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """``IPClaim.status`` of a claim that could not get an address (an address it had is kept)."""
    kept = {"address": previous["address"]} if previous and previous.get("address") else {}
    return {**kept, "errorMessage": message}
