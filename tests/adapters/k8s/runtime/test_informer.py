"""The informer against the real API server: changes, resumed watches, 410 relists, restarts."""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict

import pytest

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection
from adapters.k8s.informer import Informer, InformerSettings
from adapters.k8s.resources import Resource
from metalstream.devstack.kube import KubeApiServer
from tests.adapters.k8s.runtime.conftest import eventually, gadget, running, unique

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120, func_only=True)]

FAST = InformerSettings(watch_timeout=60, backoff_initial=0.05, backoff_max=0.5)


class Seen:
    """A handler that records, per key, the resourceVersion the cache held at each call (None: deleted)."""

    def __init__(self) -> None:
        self.informer: Informer | None = None
        self.calls: dict[str, list[str | None]] = defaultdict(list)

    def __call__(self, key: str) -> None:
        assert self.informer is not None
        obj = self.informer.get(key)
        self.calls[key].append(objects.resource_version_of(obj) if obj is not None else None)

    def watching(self, informer: Informer) -> Informer:
        self.informer = informer
        return informer


def versions(informer: Informer) -> dict[str, str | None]:
    return {key: objects.resource_version_of(obj) for key, obj in informer.cache.items()}


async def server_versions(conn: Connection, gadgets: Resource, namespace: str) -> dict[str, str | None]:
    page = await objects.list_page(conn, gadgets, namespace=namespace)
    return {
        f"{namespace}/{item['metadata']['name']}": objects.resource_version_of(item) for item in page["items"]
    }


async def test_adds_updates_and_deletes_reach_the_cache_and_the_handler(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    await objects.create(conn, gadgets, gadget("before", namespace))
    seen = Seen()
    informer = seen.watching(Informer(conn, gadgets, namespace=namespace, handler=seen, settings=FAST))
    async with running(informer.run()):
        await eventually(informer.synced.is_set, what="first list")
        assert list(informer.cache) == [f"{namespace}/before"]
        assert informer.cache[f"{namespace}/before"]["kind"] == "Gadget", "list items get their kind"

        created = await objects.create(conn, gadgets, gadget("after", namespace))
        key = f"{namespace}/after"
        await eventually(lambda: key in informer.cache, what="added object cached")
        assert seen.calls[key] == [objects.resource_version_of(created)]

        updated = await objects.merge_patch(
            conn, gadgets, "after", {"spec": {"size": 7}}, namespace=namespace
        )
        await eventually(lambda: len(seen.calls[key]) == 2, what="update seen")
        assert informer.cache[key]["spec"] == {"size": 7}
        assert seen.calls[key][-1] == objects.resource_version_of(updated)

        await objects.delete(conn, gadgets, "before", namespace=namespace)
        await eventually(lambda: f"{namespace}/before" not in informer.cache, what="deletion seen")
        assert seen.calls[f"{namespace}/before"][-1] is None
    assert informer.stats.lists == 1


async def test_a_label_selector_limits_the_cache(conn: Connection, gadgets: Resource, namespace: str) -> None:
    await objects.create(conn, gadgets, gadget("blue", namespace, labels={"team": "blue"}))
    await objects.create(conn, gadgets, gadget("red", namespace, labels={"team": "red"}))
    informer = Informer(conn, gadgets, namespace=namespace, label_selector="team=blue", settings=FAST)
    async with running(informer.run()):
        await eventually(informer.synced.is_set, what="first list")
        assert list(informer.cache) == [f"{namespace}/blue"]
        await objects.merge_patch(
            conn, gadgets, "blue", {"metadata": {"labels": {"team": "red"}}}, namespace=namespace
        )
        await eventually(lambda: not informer.cache, what="relabelled object leaves the cache")


async def test_watches_resume_where_they_ended_without_missing_or_repeating_a_change(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    seen = Seen()
    settings = InformerSettings(watch_timeout=1, backoff_initial=0.05, backoff_max=0.5)
    informer = seen.watching(Informer(conn, gadgets, namespace=namespace, handler=seen, settings=settings))
    names = [f"g{i}" for i in range(4)]
    async with running(informer.run()):
        await eventually(informer.synced.is_set, what="first list")
        step = 0
        # Keep changing objects while the server ends the watch (every second) at least three times.
        while informer.stats.watches < 4 or step < 20:
            name = names[step % len(names)]
            match step % 9:
                case 0 | 1 | 2 | 3:
                    with contextlib.suppress(errors.AlreadyExists):
                        await objects.create(conn, gadgets, gadget(name, namespace))
                case 8:
                    with contextlib.suppress(errors.NotFound):
                        await objects.delete(conn, gadgets, name, namespace=namespace)
                case _:
                    with contextlib.suppress(errors.NotFound):
                        await objects.merge_patch(
                            conn, gadgets, name, {"spec": {"size": step + 1}}, namespace=namespace
                        )
            step += 1
        expected = await server_versions(conn, gadgets, namespace)
        await eventually(lambda: versions(informer) == expected, what="cache matches the server")

    assert informer.stats.lists == 1, "every watch resumed from its resourceVersion: no relist"
    assert informer.stats.watches >= 4
    for key, calls in seen.calls.items():
        present = [int(v) for v in calls if v is not None]
        assert present == sorted(set(present)), f"{key}: a change was reported twice or out of order: {calls}"
        assert calls[-1] == expected.get(key), f"{key}: the last report is not the final state"


async def test_bookmarks_move_the_resume_point(conn: Connection, gadgets: Resource, namespace: str) -> None:
    seen = Seen()
    settings = InformerSettings(watch_timeout=3, backoff_initial=0.05, backoff_max=0.5)
    informer = seen.watching(Informer(conn, gadgets, namespace=namespace, handler=seen, settings=settings))
    async with running(informer.run()):
        await eventually(informer.synced.is_set, what="first list")
        start = int(informer.resource_version or 0)
        elsewhere = await objects.create(conn, gadgets, gadget(unique("elsewhere"), "default"))
        later = int(objects.resource_version_of(elsewhere) or 0)
        assert later > start
        await eventually(
            lambda: int(informer.resource_version or 0) >= later, what="a bookmark carried the new version"
        )
        await objects.delete(conn, gadgets, elsewhere["metadata"]["name"], namespace="default")
    assert informer.stats.bookmarks >= 1
    assert not seen.calls, "objects in other namespaces are not reported"


async def test_an_expired_resource_version_relists_and_reports_what_changed_meanwhile(
    conn: Connection, gadgets: Resource, namespace: str
) -> None:
    for name in ("kept", "changed", "deleted"):
        await objects.create(conn, gadgets, gadget(name, namespace))
    seen = Seen()
    informer = seen.watching(Informer(conn, gadgets, namespace=namespace, handler=seen, settings=FAST))
    async with running(informer.run()):
        await eventually(informer.synced.is_set, what="first list")
    seen.calls.clear()

    # While nobody watches: one change, one deletion, one new object.
    await objects.merge_patch(conn, gadgets, "changed", {"spec": {"size": 2}}, namespace=namespace)
    await objects.delete(conn, gadgets, "deleted", namespace=namespace)
    await objects.create(conn, gadgets, gadget("new", namespace))
    # The resume point is far older than anything the server keeps: it answers 410 Gone.
    informer.resource_version = "1"

    async with running(informer.run()):
        expected = await server_versions(conn, gadgets, namespace)
        await eventually(lambda: versions(informer) == expected, what="cache matches the server")

    assert (informer.stats.lists, informer.stats.relists) == (2, 1)
    assert dict(seen.calls) == {
        f"{namespace}/changed": [expected[f"{namespace}/changed"]],
        f"{namespace}/deleted": [None],
        f"{namespace}/new": [expected[f"{namespace}/new"]],
    }, "unchanged objects are not reported again; the vanished one is"


async def test_the_informer_survives_an_api_server_restart(
    kube_apiserver: KubeApiServer, conn: Connection, gadgets: Resource, namespace: str
) -> None:
    await objects.create(conn, gadgets, gadget("old", namespace))
    seen = Seen()
    informer = seen.watching(Informer(conn, gadgets, namespace=namespace, handler=seen, settings=FAST))
    try:
        async with running(informer.run()):
            await eventually(informer.synced.is_set, what="first list")
            watches = informer.stats.watches

            await kube_apiserver.restart()

            await until_answering(conn, gadgets, namespace)
            await objects.create(conn, gadgets, gadget("new", namespace))
            await objects.delete(conn, gadgets, "old", namespace=namespace)
            expected = await server_versions(conn, gadgets, namespace)
            await eventually(
                lambda: versions(informer) == expected, what="cache matches the server", within=60
            )
    finally:
        if not kube_apiserver.running:
            await kube_apiserver.start()
    assert informer.stats.watches > watches
    assert seen.calls[f"{namespace}/old"][-1] is None


async def until_answering(conn: Connection, gadgets: Resource, namespace: str) -> None:
    """Retry a cheap read until the restarted server answers (pooled connections may be stale)."""
    for _ in range(50):
        try:
            await objects.list_page(conn, gadgets, namespace=namespace, page_size=1)
        except errors.Unreachable:
            await asyncio.sleep(0.1)
            continue
        return
    pytest.fail("the API server did not answer after its restart")
