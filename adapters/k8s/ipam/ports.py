"""What the IPAM controller needs from the rest of the system, as small protocols.

The controller's decisions (which command, which object, which status) are tested apart from
the wiring: the composition root implements ``PoolCommands`` with the command handler of the
``ippool`` aggregate, and ``IpamCluster`` with the runtime's object helpers on a real API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol

from core.aggregates import ippool_commands as cmd
from core.aggregates.ippool_state import PoolState


class PoolCommands(Protocol):
    """The pool aggregate, as seen from Kubernetes."""

    async def state(self, pool_id: str) -> PoolState:
        """The pool's current state (``PoolState()`` when it was never created)."""
        ...

    async def send(self, pool_id: str, command: cmd.PoolCommand) -> PoolState:
        """Decide and record ``command``; the new state. Raises ``CommandRejected``."""
        ...


class IpamCluster(Protocol):
    """The Kubernetes calls the controller makes (each with its own timeout).

    Objects are IPPools or IPClaims as the informers hold them (``kind`` says which); methods
    that change an object return it as now stored, or None when it no longer exists.
    """

    async def set_finalizer(
        self, obj: Mapping[str, Any], finalizer: str, *, present: bool
    ) -> Mapping[str, Any] | None:
        """Add or remove ``finalizer``; conflict-safe and idempotent."""
        ...

    async def set_labels(self, obj: Mapping[str, Any], labels: Mapping[str, str]) -> Mapping[str, Any] | None:
        """Merge ``labels`` into the object's labels."""
        ...

    async def write_status(
        self, obj: Mapping[str, Any], status: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Replace the object's status (skipped when nothing that matters changes)."""
        ...

    async def get_address(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The IPAddress, or None."""
        ...

    async def create_address(self, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Create the IPAddress; None when the name is already taken (nothing was written)."""
        ...

    async def delete_address(self, namespace: str, name: str) -> None:
        """Remove the IPAddress's finalizer and delete it; nothing when it does not exist."""
        ...

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        """A Kubernetes Event about ``obj`` (repeats are aggregated)."""
        ...
