"""Metal3's PROVISIONING_LIMIT: how many hosts may be busy in Ironic at once.

Busy means cleaning, inspecting, deploying or deleting (and their wait states); hosts that boot
from virtual media do not count, as in BMO's ``loadBusyHosts``. Counting lists every node, which
costs Ironic real work on a large fleet (BMO lists on every check), so the count is kept: hosts
admitted since the last listing are added to it, so a burst of hosts cannot all pass on the same
stale count; every node the provisioner reads updates it (``observe``), so a finished operation
frees its place at once; and the nodes are listed again only when the count says the limit is
reached (at most every ``ttl`` seconds) or when it is older than ``max_age`` (nodes made busy by
someone else). A node deleted here gives its place back at once (``forget``).
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
    """Decides whether one more host may start a busy operation.

    ``writes`` arguments are the client's write count for the node (``IronicClient.node_writes``)
    when it was admitted or read: a node admitted but not yet sent its operation keeps its place
    when it is read, one read after a write that is not busy (any more) gives its place back.
    """

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
        self._admitted: dict[str, int] = {}
        """Admitted since the last listing: node uuid -> its write count when admitted."""
        self._listed_at: float | None = None

    async def _refresh(self, *, older_than: float) -> None:
        now = self._clock()
        if self._listed_at is not None and now - self._listed_at < older_than:
            return
        nodes = await self._list_nodes()
        self._busy = {n.uuid for n in nodes if is_busy(n)}
        self._admitted.clear()
        self._listed_at = now

    def _count(self) -> int:
        return len(self._busy | self._admitted.keys())

    @property
    def free(self) -> int:
        """Places left by the current count (no listing); large when there is no limit."""
        if self.limit <= 0:
            return 1 << 30
        return max(0, self.limit - self._count())

    def observe(self, node: wire.Node, *, writes: int = 0) -> bool:
        """Account for a node just read from Ironic; True if that freed a place.

        Every poll of a busy host reads its node, so the count follows our own nodes without a
        listing, and a place is known to be free as soon as the poll that sees it is made.
        """
        if is_busy(node):
            self._admitted.pop(node.uuid, None)
            self._busy.add(node.uuid)
            return False
        if node.uuid in self._busy:
            self._busy.discard(node.uuid)
            self._admitted.pop(node.uuid, None)
            return True
        admitted_at = self._admitted.get(node.uuid)
        if admitted_at is not None and writes > admitted_at:
            del self._admitted[node.uuid]  # its operation was sent and is over (or never started)
            return True
        return False

    async def admit(self, node_uuid: str, *, writes: int = 0) -> bool:
        """True if the node may start a busy operation now (a node already busy always may)."""
        if self.limit <= 0:
            return True
        await self._refresh(older_than=self._max_age)
        if node_uuid in self._busy or node_uuid in self._admitted:
            return True
        if self._count() >= self.limit:
            await self._refresh(older_than=self._ttl)
            if node_uuid in self._busy:
                return True
            if self._count() >= self.limit:
                return False
        self._admitted[node_uuid] = writes
        return True

    def forget(self, node_uuid: str) -> None:
        """The node was deleted: it holds no place any more."""
        self._busy.discard(node_uuid)
        self._admitted.pop(node_uuid, None)
