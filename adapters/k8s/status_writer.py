"""Writes an object's ``.status`` only when it would change.

A projection recomputes an object's status after every event, and most of the time the result
is what the object already shows. Writing it anyway costs a request, bumps the
``resourceVersion``, and wakes every watcher of the kind (including our own informer, which
would reconcile the object again): a busy controller would keep itself busy. So the writer
compares first, and it compares with two things:

* the status of the object the caller passes (typically the informer's cached copy), and
* what this writer itself last wrote for the object, *if* the caller's copy is the one that write
  was based on: an informer lags behind our own writes, and its stale copy must not trigger the
  same write again.

Fields named in ``volatile`` (timestamps such as ``lastUpdated``) are ignored in the comparison,
at any depth, including inside lists of objects (conditions): a change in those alone is not
worth a write, but they are written whenever something else changes.

The write replaces the whole status through the status subresource with the object's
``resourceVersion`` as a precondition. On ``409 Conflict`` the writer reads the object again,
compares again (someone may have written the same status) and retries, a few times. On ``404`` the
object is gone: nothing to write, and ``write`` returns ``None`` without raising.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

import structlog

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection, JsonObject
from adapters.k8s.resources import Resource

log = structlog.get_logger("metalstream.k8s.status")

ATTEMPTS: Final = 5
"""Writes tried per ``write`` call when the object keeps changing under us."""


@dataclass(frozen=True, slots=True)
class _Written:
    based_on: str | None
    """The resourceVersion the write was made against."""
    status: Any
    """What was written, without the volatile fields."""


class StatusWriter:
    """Skips unchanged status writes for one kind; retries on conflicts; quiet about deleted objects."""

    def __init__(
        self,
        conn: Connection,
        resource: Resource,
        *,
        volatile: Collection[str] = (),
        attempts: int = ATTEMPTS,
        limit: float | None = None,
    ) -> None:
        """``volatile``: field names ignored when comparing; ``limit``: seconds per request."""
        self.resource = resource
        self.volatile = frozenset(volatile)
        self.attempts = attempts
        self.writes = 0
        """Status writes sent (conflicted ones included)."""
        self.skipped = 0
        """``write`` calls that found nothing to change."""
        self._conn = conn
        self._limit = limit
        self._written: dict[str, _Written] = {}

    def comparable(self, status: Any) -> Any:
        """``status`` without the volatile fields, for comparison."""
        if isinstance(status, Mapping):
            return {k: self.comparable(v) for k, v in status.items() if k not in self.volatile}
        if isinstance(status, list):
            return [self.comparable(v) for v in status]
        return status

    def unchanged(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> bool:
        """Whether writing ``status`` onto ``obj`` would change nothing that matters."""
        wanted = self.comparable(status)
        if self.comparable(obj.get("status") or {}) == wanted:
            return True
        written = self._written.get(objects.key_of(obj))
        return (
            written is not None
            and written.status == wanted
            and written.based_on == objects.resource_version_of(obj)
        )

    async def write(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> JsonObject | None:
        """Make ``obj``'s status ``status`` if it differs; return the object as now stored.

        ``obj`` is the caller's latest copy (it needs ``metadata.name``, ``namespace`` and
        ``resourceVersion``). Returns ``obj`` unchanged when no write was needed, and ``None``
        when the object no longer exists. Raises ``errors.Conflict`` if it kept changing for
        ``attempts`` tries, and the other ``errors`` for anything else.
        """
        key = objects.key_of(obj)
        namespace, name = objects.split_key(key)
        current: Mapping[str, Any] = obj
        for _ in range(self.attempts):
            if self.unchanged(current, status):
                self.skipped += 1
                return dict(current)
            based_on = objects.resource_version_of(current)
            self.writes += 1
            try:
                stored = await objects.patch_status(
                    self._conn,
                    self.resource,
                    name,
                    status,
                    namespace=namespace,
                    resource_version=based_on,
                    limit=self._limit,
                )
            except errors.NotFound:
                log.debug("object gone, status not written", resource=str(self.resource), key=key)
                self.forget(key)
                return None
            except errors.Conflict:
                try:
                    current = await objects.get(
                        self._conn, self.resource, name, namespace=namespace, limit=self._limit
                    )
                except errors.NotFound:
                    self.forget(key)
                    return None
                continue
            self._written[key] = _Written(based_on=based_on, status=self.comparable(status))
            return stored
        msg = f"the object kept changing; gave up after {self.attempts} attempts"
        raise errors.Conflict(
            f"write status of {self.resource.kind} {key}", status=409, reason="Conflict", message=msg
        )

    def forget(self, key: str) -> None:
        """Drop what the writer remembers about ``key`` (call it when the object is deleted)."""
        self._written.pop(key, None)
