"""Kubernetes Events about the objects metalstream manages, as ``kubectl describe`` shows them.

Events are how an operator tells a human what it did ("Registered", "ProvisioningStarted",
"PowerOff failed: BMC unreachable") next to the object, without reading controller logs. The
recorder writes ``core/v1`` Events: the involved object (with its uid, so ``describe`` finds
them), a reason, a message, ``Normal`` or ``Warning``, ``source.component`` and
``reportingComponent`` set to ``metalstream``, and first/last timestamps.

A controller that retries tells the same thing over and over. Like client-go's event correlator,
the recorder remembers the Events it created (per involved object, type, reason and message, a
bounded number of them) and records a repeat by bumping the existing Event's ``count`` and
``lastTimestamp`` instead of creating another object. If that Event has expired meanwhile (the
API server deletes Events after an hour by default), a new one is created.

Recording is best effort: a failure is logged and ``record`` returns ``None``; it never fails
the reconciliation that wanted to tell about it. Calls are serialised by a lock so that two
concurrent repeats cannot both create an Event. Messages are cut to ``MAX_MESSAGE_CHARS``; callers
must not put secrets in them (they are readable by anyone who can list Events).
"""

from __future__ import annotations

import asyncio
import datetime
import socket
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias

import structlog

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection, JsonObject
from adapters.k8s.resources import EVENTS

log = structlog.get_logger("metalstream.k8s.events")

EventType: TypeAlias = Literal["Normal", "Warning"]
COMPONENT: Final = "metalstream"
MAX_MESSAGE_CHARS: Final = 1024
REMEMBERED: Final = 4096
"""Events remembered for aggregation; the least recently recorded are forgotten first."""


@dataclass(frozen=True, slots=True)
class _Recorded:
    namespace: str
    name: str
    count: int


_Key: TypeAlias = tuple[str, str, str, str]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class EventRecorder:
    """Records Events for involved objects, aggregating repeats."""

    def __init__(
        self,
        conn: Connection,
        *,
        component: str = COMPONENT,
        instance: str | None = None,
        clock: Callable[[], datetime.datetime] = _utc_now,
        limit: float | None = None,
    ) -> None:
        """``instance`` names this replica in ``reportingInstance`` (default: the host name)."""
        self.component = component
        self.instance = instance if instance is not None else socket.gethostname()
        self._conn = conn
        self._clock = clock
        self._limit = limit
        self._recorded: OrderedDict[_Key, _Recorded] = OrderedDict()
        self._lock = asyncio.Lock()

    async def record(
        self, involved: Mapping[str, Any], *, reason: str, message: str, type: EventType = "Normal"
    ) -> JsonObject | None:
        """Record an Event about ``involved`` (an object with apiVersion, kind and metadata).

        Returns the Event as stored, or ``None`` if it could not be written.
        """
        reference = _reference(involved)
        message = errors.truncate(message, MAX_MESSAGE_CHARS)
        key: _Key = (reference.get("uid") or objects.key_of(involved), type, reason, message)
        now = self._clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        async with self._lock:
            try:
                return await self._record(key, reference, reason, message, type, now)
            except errors.KubeError as error:
                log.warning(
                    "event not recorded", involved=objects.key_of(involved), reason=reason, error=str(error)
                )
                return None

    async def _record(
        self, key: _Key, reference: dict[str, str], reason: str, message: str, type: EventType, now: str
    ) -> JsonObject:
        seen = self._recorded.get(key)
        if seen is not None:
            try:
                event = await objects.merge_patch(
                    self._conn,
                    EVENTS,
                    seen.name,
                    {"count": seen.count + 1, "lastTimestamp": now},
                    namespace=seen.namespace,
                    limit=self._limit,
                )
            except errors.NotFound:
                del self._recorded[key]  # expired: record it afresh
            else:
                self._remember(key, event)
                return event
        namespace = reference.get("namespace") or "default"
        body = {
            "metadata": {
                "name": f"{reference['name'][:200]}.{uuid.uuid4().hex[:16]}",
                "namespace": namespace,
            },
            "involvedObject": reference,
            "reason": reason,
            "message": message,
            "type": type,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": self.component},
            "reportingComponent": self.component,
            "reportingInstance": self.instance,
        }
        event = await objects.create(self._conn, EVENTS, body, limit=self._limit)
        self._remember(key, event)
        return event

    def _remember(self, key: _Key, event: Mapping[str, Any]) -> None:
        metadata = event.get("metadata") or {}
        self._recorded[key] = _Recorded(
            namespace=str(metadata.get("namespace", "")),
            name=str(metadata.get("name", "")),
            count=int(event.get("count") or 1),
        )
        self._recorded.move_to_end(key)
        while len(self._recorded) > REMEMBERED:
            self._recorded.popitem(last=False)


def _reference(obj: Mapping[str, Any]) -> dict[str, str]:
    """The ``involvedObject`` for ``obj``."""
    metadata = obj.get("metadata") or {}
    reference = {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
        "uid": metadata.get("uid"),
        "resourceVersion": metadata.get("resourceVersion"),
    }
    missing = [field for field in ("apiVersion", "kind", "name") if not reference[field]]
    if missing:
        msg = f"an Event needs the involved object's {', '.join(missing)}: pass the whole object"
        raise ValueError(msg)
    return {k: str(v) for k, v in reference.items() if v}
