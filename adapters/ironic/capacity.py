"""Metal3's PROVISIONING_LIMIT: how many hosts may be busy in Ironic at once.

Busy means cleaning, inspecting, deploying or deleting (and their wait states); hosts that boot
from virtual media do not count, as in BMO's ``loadBusyHosts``. Counting lists every node, which
costs Ironic real work on a large fleet (BMO lists on every check), so the count is kept: hosts
admitted since the last listing are added to it, so a burst of hosts cannot all pass on the same
stale count, and the nodes are listed again only when the count says the limit is reached (at
most every ``ttl`` seconds: some may have finished) or when it is older than ``max_age`` (nodes
made busy by someone else).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from adapters.ironic import wire

DEFAULT_LIMIT: Final = 20
BUSY_STATES: Final = frozenset(
    {
        wire.ProvisionState.CLEANING,
        wire.ProvisionState.CLEAN_WAIT,
        wire.ProvisionState.INSPECTING,
        wire.ProvisionState.INSPECT_WAIT,
        wire.ProvisionState.DEPLOYING,
        wire.ProvisionState.DEPLOY_WAIT,
        wire.ProvisionState.DELETING,
    }
)
VIRTUAL_MEDIA_BOOT: Final = frozenset(
    {"redfish-virtual-media", "idrac-redfish-virtual-media", "redfish-https", "ilo-virtual-media"}
)


def is_busy(node: wire.Node) -> bool:
    return node.state in BUSY_STATES and (node.boot_interface or "") not in VIRTUAL_MEDIA_BOOT


class Capacity:
    """Decides whether one more host may start a busy operation."""

    def __init__(
        self,
        list_nodes: Callable[[], Awaitable[Sequence[wire.Node]]],
        *,
        limit: int = DEFAULT_LIMIT,
        ttl: float = 1.0,
        max_age: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._list_nodes = list_nodes
        self.limit = limit
        self._ttl = ttl
        self._max_age = max(ttl, max_age)
        self._clock = clock
        self._busy: set[str] = set()
        self._admitted: set[str] = set()
        self._listed_at: float | None = None

    async def _refresh(self, *, older_than: float) -> None:
        now = self._clock()
        if self._listed_at is not None and now - self._listed_at < older_than:
            return
        nodes = await self._list_nodes()
        self._busy = {n.uuid for n in nodes if is_busy(n)}
        self._admitted.clear()
        self._listed_at = now

    def _full(self) -> bool:
        return len(self._busy | self._admitted) >= self.limit

    async def admit(self, node_uuid: str) -> bool:
        """True if the node may start a busy operation now (a node already busy always may)."""
        if self.limit <= 0:
            return True
        await self._refresh(older_than=self._max_age)
        if node_uuid in self._busy or node_uuid in self._admitted:
            return True
        if self._full():
            await self._refresh(older_than=self._ttl)
            if node_uuid in self._busy:
                return True
            if self._full():
                return False
        self._admitted.add(node_uuid)
        return True
