from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest

from adapters.nats import connecting
from metalstream.devstack.nats import NatsServer
from metalstream.observability.health import (
    HEALTHZ,
    METRICS,
    READYZ,
    HealthServer,
    HealthServerError,
    ObservabilitySettings,
    event_set,
    nats_connected,
    store_answers,
)
from metalstream.observability.metrics import Metrics
from tests.fakes.memory_eventstore import MemoryEventStore
from tests.metalstream.observability.polling import eventually

LOOPBACK = ObservabilitySettings(host="127.0.0.1", port=0, check_timeout=5.0)
REQUEST_LIMIT = aiohttp.ClientTimeout(total=15)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=REQUEST_LIMIT) as session:
        yield session


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


async def test_probes_and_metrics_are_served_on_a_free_port(http: aiohttp.ClientSession) -> None:
    metrics = Metrics()
    metrics.count_dead_letter("hosts-view")
    async with HealthServer(metrics.registry, settings=LOOPBACK) as server:
        assert server.port > 0
        assert await _get(http, server.url + HEALTHZ) == (200, "ok\n")
        assert await _get(http, server.url + READYZ) == (200, "ok\n")
        async with http.get(server.url + METRICS) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            text = await response.text()
        assert 'metalstream_dead_letters_total{reader="hosts-view"} 1.0' in text
        assert "# TYPE metal3_host_error_total counter" in text


async def test_readiness_follows_its_checks(http: aiohttp.ClientSession) -> None:
    caught_up, synced = asyncio.Event(), asyncio.Event()
    server = HealthServer(Metrics().registry, settings=LOOPBACK)
    server.add_check("projections", event_set(caught_up))
    server.add_check("informers", event_set(synced))
    async with server:
        status, body = await _get(http, server.url + READYZ)
        assert status == 503
        assert "[-]informers not ready" in body
        assert "not ready: informers, projections" in body

        caught_up.set()
        status, body = await _get(http, server.url + READYZ)
        assert status == 503
        assert "[+]projections ok" in body
        assert body.rstrip().endswith("not ready: informers")

        synced.set()
        assert await _get(http, server.url + READYZ) == (200, "ok\n")
        status, body = await _get(http, server.url + READYZ + "?verbose")
        assert (status, body) == (200, "[+]informers ok\n[+]projections ok\nok\n")

        synced.clear()
        assert (await _get(http, server.url + READYZ))[0] == 503
        assert await _get(http, server.url + HEALTHZ) == (200, "ok\n")  # liveness does not follow


async def test_a_hung_or_failing_check_fails_readiness_by_name(http: aiohttp.ClientSession) -> None:
    never = asyncio.Event()

    async def hangs() -> bool:
        await never.wait()
        return True

    async def raises() -> bool:
        msg = "connection refused\nsecond line is not shown"
        raise ConnectionError(msg)

    async def fine() -> bool:
        return True

    server = HealthServer(Metrics().registry, settings=LOOPBACK)
    server.add_check("kube", hangs, timeout=0.2)
    server.add_check("ironic", raises)
    server.add_check("nats", fine)
    async with server:
        status, body = await _get(http, server.url + READYZ)
    assert status == 503
    assert "[-]kube timed out after 0.2s" in body
    assert "[-]ironic ConnectionError: connection refused\n" in body
    assert "second line" not in body
    assert "[+]nats ok" in body
    assert "not ready: ironic, kube" in body


async def test_readiness_tracks_a_real_nats_connection(http: aiohttp.ClientSession, tmp_path: Path) -> None:
    async with NatsServer(tmp_path / "nats") as nats_server:
        client = await connecting.connect([nats_server.url], connect_timeout=5.0)
        try:
            server = HealthServer(Metrics().registry, settings=LOOPBACK)
            server.add_check("nats", nats_connected(client))
            async with server:
                ready = server.url + READYZ

                async def status_is(expected: int) -> bool:
                    return (await _get(http, ready))[0] == expected

                assert await status_is(200)
                await nats_server.stop()
                await eventually(lambda: status_is(503), limit=30)
                await nats_server.start()
                await eventually(lambda: status_is(200), limit=30)
        finally:
            await client.close()


async def test_store_check_reports_an_answering_store() -> None:
    check = store_answers(MemoryEventStore({}))
    assert await check() is True


async def test_run_serves_until_cancelled_then_releases_the_port(http: aiohttp.ClientSession) -> None:
    server = HealthServer(Metrics().registry, settings=LOOPBACK)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(server.run(), name="health")
        async with asyncio.timeout(10):
            await server.started.wait()
        url, port = server.url, server.port
        assert await _get(http, url + HEALTHZ) == (200, "ok\n")
        task.cancel()
    assert task.cancelled()
    assert not server.started.is_set()
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(http, url + HEALTHZ)
    with socket.create_server(("127.0.0.1", port)):  # the port is free again
        pass


async def test_a_port_in_use_is_reported_with_the_address() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = HealthServer(Metrics().registry, settings=ObservabilitySettings(host="127.0.0.1", port=port))
        with pytest.raises(HealthServerError, match=f"127.0.0.1:{port}.*free port"):
            await server.start()
    assert not server.started.is_set()
    with pytest.raises(RuntimeError, match="not listening"):
        _ = server.port


def test_check_names_must_be_unique_and_plain() -> None:
    server = HealthServer(Metrics().registry)
    server.add_check("nats", event_set(asyncio.Event()))
    with pytest.raises(ValueError, match="already registered"):
        server.add_check("nats", event_set(asyncio.Event()))
    with pytest.raises(ValueError, match="without spaces"):
        server.add_check("kube informers", event_set(asyncio.Event()))
    server.remove_check("nats")
    assert server.check_names == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"port": 70000}, "not a TCP port", id="port"),
        pytest.param({"check_timeout": 0}, "must be positive", id="check-timeout"),
    ],
)
def test_settings_reject_unusable_values(fields: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert(fields, ObservabilitySettings)


def test_settings_default_to_bmos_health_port_on_every_interface() -> None:
    defaults = ObservabilitySettings()
    assert (defaults.host, defaults.port) == ("0.0.0.0", 9440)  # noqa: S104 - a value, not a bind
