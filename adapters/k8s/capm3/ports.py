"""What the CAPM3 controllers need from the rest of the system, as small protocols.

The controllers decide (which command, which object to create, which patch) against these, so
their decisions are tested apart from the wiring: the composition root implements ``Commands``
with a command handler per aggregate, ``Cache`` with the informers, and ``Kube`` with the
runtime's object helpers on a real API server (``cluster``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol, TypeVar

from adapters.k8s.resources import Resource

S = TypeVar("S", covariant=True)
C = TypeVar("C", contravariant=True)


@dataclass(frozen=True, slots=True)
class Result:
    """``requeue_after``: look at the object again after this many seconds even without a change."""

    requeue_after: float | None = None


DONE: Final = Result()


class Commands(Protocol[S, C]):
    """One aggregate type: its current state and its commands."""

    async def state(self, aggregate_id: str) -> S:
        """The aggregate's current state (the initial state when it was never created)."""
        ...

    async def send(self, aggregate_id: str, command: C) -> S:
        """Decide and record ``command``; the new state. Raises ``CommandRejected``."""
        ...


class Cache(Protocol):
    """The informers' copies of the objects (read-only, no I/O)."""

    def get(self, resource: Resource, key: str) -> Mapping[str, Any] | None:
        """The cached object with key ``namespace/name``, or None."""
        ...

    def list(self, resource: Resource, namespace: str) -> Sequence[Mapping[str, Any]]:
        """The cached objects of ``resource`` in ``namespace``."""
        ...


class Kube(Protocol):
    """The API calls the controllers make (each with its own timeout)."""

    async def get(self, resource: Resource, namespace: str, name: str) -> Mapping[str, Any] | None:
        """A live read, or None when the object does not exist."""
        ...

    async def create(self, resource: Resource, body: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Create ``body``; None when the name is taken already (nothing is overwritten)."""
        ...

    async def patch(
        self, resource: Resource, obj: Mapping[str, Any], patch: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """Merge-patch ``obj``; the object as stored, or None when it is gone."""
        ...

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        """Delete the object (a missing one is fine)."""
        ...

    async def set_finalizer(
        self, resource: Resource, obj: Mapping[str, Any], finalizer: str, *, present: bool
    ) -> None:
        """Add or remove ``finalizer``; conflict-safe, idempotent, quiet about a missing object."""
        ...

    async def write_status(
        self, resource: Resource, obj: Mapping[str, Any], status: Mapping[str, Any]
    ) -> None:
        """Replace the status through the status subresource (skipped when unchanged)."""
        ...

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        """A Kubernetes Event about ``obj`` (repeats are aggregated)."""
        ...
