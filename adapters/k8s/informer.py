"""A local, continuously updated copy of one kind's objects: list once, then watch.

A controller must not ask the API server for an object every time it thinks about it, and it must
hear about every change, including the ones made while it was not connected. The informer keeps a
cache ``key -> object`` (plain JSON dicts) for one ``Resource``, optionally limited to a namespace
and a label selector, and calls a handler with the key of every object that was added, changed or
deleted. The handler should be quick (typically ``WorkQueue.add``); the informer awaits it before
reading the next event, so a slow handler holds back the watch. A deleted object is removed from
the cache before its handler call, so ``informer.get(key) is None`` means "deleted". An exception
from the handler ends ``run``.

The protocol, as in client-go's reflector:

1. **List** (in pages), replace the cache, and remember the list's ``resourceVersion``. Objects that
   vanished since the previous list (deleted while the watch was down) get a handler call too;
   objects whose ``resourceVersion`` did not change do not. ``synced`` is set after the first list.
2. **Watch** from the remembered ``resourceVersion`` with ``allowWatchBookmarks=true`` and a
   server-side ``timeoutSeconds``; every event, and every bookmark, moves the remembered version on.
   When the server ends the watch (its timeout) the informer watches again from there at once,
   so nothing is missed and nothing is seen twice.
3. **Relist** when the server says the remembered version is too old: ``410 Gone``, either as the
   watch's answer or as an ``ERROR`` event with code 410 (etcd was compacted, or the API server's
   watch cache does not reach back that far, e.g. after a restart).
4. **Back off** on connection failures and other refusals (capped exponential with jitter), then
   watch again from the remembered version; the client-side deadline (``timeoutSeconds`` plus a
   grace period) catches a connection that went silent.

``run`` never returns; cancel it to stop. Run it again later and it resumes from where it was.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NoReturn, TypeAlias

import msgspec
import structlog

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection, JsonObject
from adapters.k8s.resources import Resource

log = structlog.get_logger("metalstream.k8s.informer")

Handler: TypeAlias = Callable[[str], Awaitable[None] | None]
"""Called with an object's key after each change; sync or async."""


class InformerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How an informer lists, watches and recovers."""

    watch_timeout: int = 300
    """Seconds after which the server ends a watch (``timeoutSeconds``); the informer re-watches."""
    watch_grace: float = 30.0
    """Seconds past ``watch_timeout`` before the client gives up on a silent watch connection."""
    page_size: int = 500
    """Objects per list page."""
    backoff_initial: float = 0.5
    """Seconds before the first retry after a failure; doubled per failure in a row."""
    backoff_max: float = 30.0
    """Upper bound of the retry delay, in seconds."""

    def __post_init__(self) -> None:
        if self.watch_timeout < 1:
            msg = f"informer watch_timeout={self.watch_timeout!r} is invalid: set it to at least 1 second"
            raise ValueError(msg)
        if self.page_size < 1:
            msg = f"informer page_size={self.page_size!r} is invalid: set it to at least 1"
            raise ValueError(msg)
        if not 0 < self.backoff_initial <= self.backoff_max:
            msg = (
                f"informer backoff_initial={self.backoff_initial!r}, backoff_max={self.backoff_max!r} are "
                "invalid: set 0 < backoff_initial <= backoff_max"
            )
            raise ValueError(msg)


@dataclass(slots=True)
class InformerStats:
    """Counters of what the informer did, for metrics and tests."""

    lists: int = 0
    """Complete lists (the first one and every relist)."""
    relists: int = 0
    """Lists caused by an expired ``resourceVersion`` (410 Gone)."""
    watches: int = 0
    """Watch requests started."""
    events: int = 0
    """Watch events received, bookmarks included."""
    bookmarks: int = 0
    failures: int = 0
    """Connection failures and refusals that led to a back-off."""


class Informer:
    """List+watch of one ``Resource``; a read-only cache and a handler call per change."""

    def __init__(
        self,
        conn: Connection,
        resource: Resource,
        *,
        handler: Handler | None = None,
        namespace: str | None = None,
        label_selector: str | None = None,
        settings: InformerSettings | None = None,
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.settings = settings or InformerSettings()
        self.synced = asyncio.Event()
        """Set once the first list has been loaded into the cache (and its handler calls made)."""
        self.stats = InformerStats()
        self.resource_version: str | None = None
        """Where the next watch resumes. Set only while ``run`` is not running (tests inject an
        expired one); ``None`` makes ``run`` start with a list."""
        self._conn = conn
        self._handler = handler
        self._cache: dict[str, JsonObject] = {}
        self._running = False

    @property
    def cache(self) -> Mapping[str, JsonObject]:
        """The objects by key (read-only; do not modify the objects either)."""
        return MappingProxyType(self._cache)

    def get(self, key: str) -> JsonObject | None:
        """The cached object with ``key``, or ``None``."""
        return self._cache.get(key)

    def keys(self) -> Iterator[str]:
        """The keys of all cached objects."""
        return iter(list(self._cache))

    async def run(self) -> NoReturn:
        """List and watch until cancelled; never returns."""
        if self._running:
            msg = f"informer for {self.resource} is already running"
            raise RuntimeError(msg)
        self._running = True
        try:
            await self._run()
        finally:
            self._running = False

    async def _run(self) -> NoReturn:
        delay = self.settings.backoff_initial
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch()
                delay = self.settings.backoff_initial
            except errors.Gone as gone:
                log.info(
                    "resourceVersion expired, listing again", resource=str(self.resource), reason=str(gone)
                )
                self.resource_version = None
                self.stats.relists += 1
            except errors.KubeError as error:
                self.stats.failures += 1
                pause = random.uniform(delay / 2, delay)
                log.warning(
                    "list/watch failed, retrying",
                    resource=str(self.resource),
                    namespace=self.namespace,
                    error=str(error),
                    retry_in=round(pause, 3),
                )
                await asyncio.sleep(pause)
                delay = min(delay * 2, self.settings.backoff_max)

    async def _list(self) -> None:
        """Load every page, then bring the cache in line with it."""
        listed: dict[str, JsonObject] = {}
        continue_token: str | None = None
        version = ""
        while True:
            page = await objects.list_page(
                self._conn,
                self.resource,
                namespace=self.namespace,
                label_selector=self.label_selector,
                page_size=self.settings.page_size,
                continue_token=continue_token,
            )
            for item in page.get("items") or []:
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                listed[objects.key_of(item)] = item
            metadata = page.get("metadata") or {}
            continue_token = metadata.get("continue") or None
            if continue_token is None:
                version = str(metadata.get("resourceVersion", ""))
                break
        self.stats.lists += 1
        for key in [key for key in self._cache if key not in listed]:
            del self._cache[key]
            await self._notify(key)  # deleted while we were not watching
        for key, item in listed.items():
            previous = self._cache.get(key)
            self._cache[key] = item
            if previous is None or objects.resource_version_of(previous) != objects.resource_version_of(item):
                await self._notify(key)
        self.resource_version = version or None
        self.synced.set()

    async def _watch(self) -> None:
        """One watch request from ``resource_version``, until the server ends it."""
        timeout = self.settings.watch_timeout
        query: dict[str, Any] = {
            "watch": True,
            "allowWatchBookmarks": True,
            "timeoutSeconds": timeout,
            "resourceVersion": self.resource_version,
            "labelSelector": self.label_selector,
        }
        path = objects.path_of(self.resource, namespace=self.namespace)
        limit = timeout + self.settings.watch_grace
        self.stats.watches += 1
        try:
            async with asyncio.timeout(limit), self._conn.stream(path, query=query, limit=limit) as events:
                async for event in events:
                    await self._apply(event)
        except TimeoutError as error:
            raise errors.unreachable(f"watch {path}", error) from error

    async def _apply(self, event: JsonObject) -> None:
        self.stats.events += 1
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            raise errors.from_status(f"watch {self.resource}", int(obj.get("code") or 500), obj)
        version = objects.resource_version_of(obj)
        if kind == "BOOKMARK":
            self.stats.bookmarks += 1
        elif kind in ("ADDED", "MODIFIED"):
            key = objects.key_of(obj)
            previous = self._cache.get(key)
            self._cache[key] = obj
            if previous is None or objects.resource_version_of(previous) != version:
                await self._notify(key)
        elif kind == "DELETED":
            key = objects.key_of(obj)
            if self._cache.pop(key, None) is not None:
                await self._notify(key)
        else:
            log.warning("unknown watch event type ignored", resource=str(self.resource), type=kind)
            return
        if version:
            self.resource_version = version

    async def _notify(self, key: str) -> None:
        if self._handler is None:
            return
        result = self._handler(key)
        if inspect.isawaitable(result):
            await result
