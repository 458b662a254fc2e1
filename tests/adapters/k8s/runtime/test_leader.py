"""Leader election on a real API server: one leader, takeover, release, and losing the Lease.

The timings are short (a two- or three-second lease) so that takeovers happen within a test; the
protocol does not depend on them. Nothing here asserts how long something took: waits are
conditions with a failure limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any, Final

import pytest

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection, ConnectionSettings, connect
from adapters.k8s.leader import LEASES, LeaderElector, LeadershipLost, Timings
from metalstream.devstack.kube import KubeApiServer
from tests.adapters.k8s.runtime.conftest import eventually, settings_for, unique

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90, func_only=True)]

FAST: Final = Timings(lease_duration=2.0, renew_deadline=1.5, retry_period=0.3)
LIMIT: Final = 30.0
MICRO_TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")

Became = list[tuple[str, list[str]]]
"""Who became leader, in order, each with the candidates that still led at that moment."""


async def candidate(elector: LeaderElector, became: Became, others: Sequence[LeaderElector]) -> None:
    """Wait to lead, then hold the lease until cancelled (releasing it) or until it is lost."""
    async with elector:
        became.append(
            (elector.identity, [o.identity for o in others if o is not elector and o.leading.is_set()])
        )
        await elector.hold()


async def spec_of(conn: Connection, namespace: str, name: str) -> dict[str, Any]:
    lease = await objects.get(conn, LEASES, name, namespace=namespace)
    spec: dict[str, Any] = lease["spec"]
    return spec


async def lease_until(
    conn: Connection, namespace: str, name: str, condition: Callable[[dict[str, Any]], bool], *, what: str
) -> dict[str, Any]:
    """Read the Lease until ``condition`` holds for its spec; fail naming ``what`` otherwise."""
    try:
        async with asyncio.timeout(LIMIT):
            while not condition(spec := await spec_of(conn, namespace, name)):  # noqa: ASYNC110 - polls the server
                await asyncio.sleep(0.1)
    except TimeoutError:
        pytest.fail(f"not within {LIMIT:g}s: {what}")
    return spec


def held_for(spec: dict[str, Any]) -> float:
    acquired = datetime.datetime.fromisoformat(spec["acquireTime"])
    return (datetime.datetime.fromisoformat(spec["renewTime"]) - acquired).total_seconds()


async def test_one_candidate_leads_and_the_other_takes_over_when_it_stops(
    conn: Connection, kube_apiserver: KubeApiServer, namespace: str
) -> None:
    name = unique("lease")
    async with connect(settings_for(kube_apiserver)) as second_conn:
        a = LeaderElector(conn, namespace=namespace, name=name, identity="a", timings=FAST)
        b = LeaderElector(second_conn, namespace=namespace, name=name, identity="b", timings=FAST)
        became: Became = []
        async with asyncio.TaskGroup() as group:
            tasks = {e.identity: group.create_task(candidate(e, became, [a, b])) for e in (a, b)}
            await eventually(lambda: len(became) == 1, what="a candidate leads")
            leader, standby = (a, b) if became[0][0] == "a" else (b, a)
            # The leader renews for twice the lease duration, and the standby keeps waiting.
            spec = await lease_until(
                conn, namespace, name, lambda s: held_for(s) >= 2 * FAST.lease_duration, what="renewals"
            )
            assert became == [(leader.identity, [])]
            assert standby.holder == leader.identity
            assert not standby.leading.is_set()
            assert spec["holderIdentity"] == leader.identity
            assert spec["leaseDurationSeconds"] == 2
            assert spec["leaseTransitions"] == 0
            assert MICRO_TIME.fullmatch(spec["acquireTime"])
            assert MICRO_TIME.fullmatch(spec["renewTime"])

            tasks[leader.identity].cancel()
            await eventually(lambda: len(became) == 2, what="the standby takes over")
            assert became[1] == (standby.identity, [])
            assert not leader.leading.is_set()
            spec = await spec_of(conn, namespace, name)
            assert spec["holderIdentity"] == standby.identity
            assert spec["leaseTransitions"] == 1
            tasks[standby.identity].cancel()


async def test_a_leader_that_stops_releases_the_lease(conn: Connection, namespace: str) -> None:
    name = unique("lease")
    elector = LeaderElector(conn, namespace=namespace, name=name, identity="a", timings=FAST)
    became: Became = []
    async with asyncio.TaskGroup() as group:
        task = group.create_task(candidate(elector, became, []))
        await eventually(lambda: bool(became), what="the candidate leads")
        task.cancel()
    assert not elector.leading.is_set()
    spec = await spec_of(conn, namespace, name)
    assert spec["holderIdentity"] == ""
    assert spec["leaseDurationSeconds"] == 1
    assert spec["leaseTransitions"] == 0


async def test_a_candidate_takes_a_lease_only_once_it_expired(conn: Connection, namespace: str) -> None:
    name = unique("lease")
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    spec = {
        "holderIdentity": "gone",
        "leaseDurationSeconds": 2,
        "acquireTime": now,
        "renewTime": now,
        "leaseTransitions": 5,
    }
    await objects.create(conn, LEASES, {"metadata": {"name": name, "namespace": namespace}, "spec": spec})
    elector = LeaderElector(conn, namespace=namespace, name=name, identity="a", timings=FAST)
    async with asyncio.timeout(LIMIT):
        await elector.acquire()
    taken = await spec_of(conn, namespace, name)
    assert taken["holderIdentity"] == "a"
    assert taken["leaseTransitions"] == 6
    assert taken["acquireTime"] != now
    await elector.release()
    assert (await spec_of(conn, namespace, name))["holderIdentity"] == ""


async def test_a_leader_whose_lease_is_taken_loses_it_and_leaves_it_alone(
    conn: Connection, namespace: str
) -> None:
    name = unique("lease")
    elector = LeaderElector(conn, namespace=namespace, name=name, identity="a", timings=FAST)
    async with asyncio.timeout(LIMIT), elector:
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        intrusion = {"holderIdentity": "intruder", "leaseDurationSeconds": 60, "renewTime": now}
        await objects.merge_patch(conn, LEASES, name, {"spec": intrusion}, namespace=namespace)
        with pytest.raises(LeadershipLost, match="held by intruder"):
            await elector.hold()
    assert not elector.leading.is_set()
    spec = await spec_of(conn, namespace, name)
    assert spec["holderIdentity"] == "intruder"  # not released over the new holder


async def test_a_leader_cut_off_from_the_api_server_steps_down_before_the_standby_takes_over(
    conn: Connection, kube_apiserver: KubeApiServer, namespace: str, tmp_path: Path
) -> None:
    timings = Timings(lease_duration=3.0, renew_deadline=1.5, retry_period=0.3)
    name = unique("lease")
    async with Proxy(kube_apiserver.port) as proxy:
        config = json.loads(kube_apiserver.kubeconfig.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(json.dumps(config))
        settings = ConnectionSettings(kubeconfig=str(kubeconfig), request_timeout=5.0)
        async with connect(settings) as proxied:
            a = LeaderElector(proxied, namespace=namespace, name=name, identity="a", timings=timings)
            b = LeaderElector(conn, namespace=namespace, name=name, identity="b", timings=timings)
            became: Became = []
            async with asyncio.TaskGroup() as group:
                async with asyncio.timeout(LIMIT), a:
                    standby = group.create_task(candidate(b, became, [a]))
                    await eventually(lambda: b.holder == "a", what="the standby sees the leader")
                    await proxy.cut()
                    with pytest.raises(LeadershipLost, match=r"not renewed for 1\.5s \(last error: "):
                        await a.hold()
                await eventually(lambda: bool(became), what="the standby takes over")
                standby.cancel()
    assert became == [("b", [])], "the standby led while the cut-off leader still believed it led"


async def test_a_lease_in_a_namespace_that_does_not_exist_is_refused(conn: Connection) -> None:
    elector = LeaderElector(conn, namespace=unique("nowhere"), name="lease", timings=FAST)
    async with asyncio.timeout(LIMIT):
        with pytest.raises(errors.NotFound, match="namespaces"):
            await elector.acquire()
    assert not elector.leading.is_set()


class Proxy:
    """A TCP proxy to the API server on loopback that can be cut: existing and new connections fail."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.cut()

    async def cut(self) -> None:
        """Refuse new connections, reset the open ones, and wait for their handlers to end."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for writer in list(self._writers):
            writer.transport.abort()
        async with asyncio.timeout(LIMIT):
            await self._idle.wait()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._handlers += 1
        self._idle.clear()
        try:
            async with self._upstream(writer) as (up_reader, up_writer), asyncio.TaskGroup() as group:
                group.create_task(_pipe(reader, up_writer, writer))
                group.create_task(_pipe(up_reader, writer, up_writer))
        except OSError:
            pass  # the upstream refused: the client sees its connection closed
        finally:
            self._handlers -= 1
            if not self._handlers:
                self._idle.set()

    @contextlib.asynccontextmanager
    async def _upstream(
        self, client: asyncio.StreamWriter
    ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        self._writers.add(client)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target_port)
        except OSError:
            client.transport.abort()
            self._writers.discard(client)
            raise
        self._writers.add(up_writer)
        try:
            yield up_reader, up_writer
        finally:
            for writer in (client, up_writer):
                writer.transport.abort()
                self._writers.discard(writer)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter, back: asyncio.StreamWriter) -> None:
    """Copy until either side ends, then reset both so the other direction ends too."""
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        sink.transport.abort()
        back.transport.abort()
