"""The ``metalstream`` command line, run as a real process against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from metalstream import settings, wiring
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.devstack.nats import NatsServer
from tests.projections.records import hosts_hardware, spec

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
USER = CommandContext(actor="k8s:alice")


@pytest.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    async with NatsServer(tmp_path / "nats") as server:
        yield server.url


async def _record_host(url: str, namespace: str, name: str, *, inspect: bool = True) -> None:
    config = settings.load({}, overrides={"nats": {"urls": [url]}})
    async with wiring.event_store(config) as store:
        handler = CommandHandler(store, hosts.DEFINITION)
        host = f"{namespace}/{name}"
        await handler.handle(
            host,
            cmd.ApplySpec(namespace=namespace, name=name, uid="u1", generation=1, spec=spec(), now=NOW),
            USER,
        )
        if inspect:
            await handler.handle(host, cmd.RecordRegistration(provisioning_id="node-1", now=NOW), USER)
            await handler.handle(host, cmd.RecordInspection(hardware=hosts_hardware(), now=NOW), USER)


async def _cli(*args: str, timeout: float = 30) -> tuple[int, str, str]:  # noqa: ASYNC109
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metalstream.cli",
        "--log-format",
        "json",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    async with asyncio.timeout(timeout):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_history_prints_every_event_and_the_current_state(nats_url: str) -> None:
    await _record_host(nats_url, "default", "worker-0")
    code, out, err = await _cli("--nats-url", nats_url, "history", "default/worker-0")
    assert code == 0, err
    assert "disconnected" not in err  # closing its own connection on exit is not worth a warning
    for event_type in ("host.created", "host.registration_succeeded", "host.hardware_inspected"):
        assert event_type in out
    assert "actor=k8s:alice" in out
    assert 'provisioning_state: "registering" -> "inspecting"' in out
    assert "provisioning state     preparing" in out


async def test_history_at_an_earlier_event_shows_the_state_then(nats_url: str) -> None:
    await _record_host(nats_url, "default", "worker-0")
    code, out, _ = await _cli("--nats-url", nats_url, "history", "default/worker-0", "--version", "2")
    assert code == 0
    assert "host.registration_succeeded" not in out
    assert "provisioning state     registering" in out

    code, out, _ = await _cli(
        "--nats-url", nats_url, "history", "default/worker-0", "--at", "2000-01-01T00:00:00Z"
    )
    assert code == 0
    assert "(does not exist yet)" in out


async def test_history_as_json_is_machine_readable(nats_url: str) -> None:
    await _record_host(nats_url, "default", "worker-0")
    code, out, _ = await _cli("--nats-url", nats_url, "history", "default/worker-0", "--seq", "2", "--json")
    assert code == 0
    document = json.loads(out)
    assert [e["envelope"]["position"] for e in document["events"]] == [1, 2]
    assert document["events"][0]["event"]["type"] == "host.created"
    assert document["state"]["provisioning_state"] == "registering"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["history", "default/nobody"], 1, "has no events", id="unknown-host"),
        pytest.param(["history", "worker-0"], 2, "<namespace>/<name>", id="no-namespace"),
        pytest.param(["history", "gizmo:default/m"], 2, "unknown aggregate type", id="unknown-type"),
        pytest.param(["history", "machine:default/m"], 1, "has no events", id="known-type-no-events"),
        pytest.param(["history", "default/w", "--at", "yesterday"], 2, "ISO 8601", id="bad-time"),
    ],
)
async def test_bad_input_gets_a_clear_error(nats_url: str, args: list[str], code: int, message: str) -> None:
    result, _, err = await _cli("--nats-url", nats_url, *args)
    assert result == code
    assert message in err


async def test_an_unreachable_event_store_is_reported_not_a_traceback(tmp_path: Path) -> None:
    code, _, err = await _cli("--nats-url", "nats://127.0.0.1:9", "history", "default/w", timeout=60)
    assert code == 3
    assert "event store unavailable" in err
    assert "Traceback" not in err


async def test_events_tail_follows_only_matching_subjects(nats_url: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "metalstream.cli",
        "--nats-url",
        nats_url,
        "events",
        "tail",
        "metalstream.host.default.>",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        async with asyncio.timeout(20):
            while b"following" not in await process.stderr.readline():
                pass
        await _record_host(nats_url, "other", "skipped", inspect=False)
        await _record_host(nats_url, "default", "followed", inspect=False)
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
        assert "host:default/followed" in line
        assert "host.created" in line
    finally:
        process.terminate()
        async with asyncio.timeout(10):
            await process.wait()
