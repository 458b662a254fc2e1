"""Connecting with a kubeconfig, the rate limiter on every request, and transport errors."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
from kubernetes_asyncio.client import CoreV1Api

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection, ConnectionSettings, connect
from adapters.k8s.ratelimit import TokenBucket
from metalstream.devstack.kube import KubeApiServer
from tests.adapters.k8s.runtime.conftest import NAMESPACES, settings_for
from tests.adapters.k8s.runtime.fakeclock import FakeClock

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60, func_only=True)]


async def test_every_request_takes_a_token_from_the_limiter(kube_apiserver: KubeApiServer) -> None:
    clock = FakeClock()
    limiter = TokenBucket(2.0, 3, clock=clock, sleep=clock.sleep)
    async with connect(settings_for(kube_apiserver), limiter=limiter) as conn:
        for _ in range(5):
            await objects.get(conn, NAMESPACES, "default")
        # The generated typed APIs go through the same client, so they are limited too.
        namespaces = await CoreV1Api(conn.api_client).list_namespace(_request_timeout=10)
        assert any(ns.metadata.name == "default" for ns in namespaces.items)
        assert conn.requests["GET"] == 6
    assert limiter.acquired == 6
    assert limiter.waits == 3, "three tokens of burst, then one every half second"
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.5])
    assert clock.now == pytest.approx(1.5)


async def test_a_context_that_does_not_exist_is_named(kube_apiserver: KubeApiServer) -> None:
    settings = settings_for(kube_apiserver, context="no-such-context")
    with pytest.raises(errors.KubeConfigError, match="context 'no-such-context' of kubeconfig"):
        async with connect(settings):
            pytest.fail("connected with an unknown context")


async def test_a_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(errors.KubeConfigError, match="nope"):
        async with connect(ConnectionSettings(kubeconfig=str(missing))):
            pytest.fail("connected without a kubeconfig")


async def test_the_named_context_is_used(kube_apiserver: KubeApiServer, tmp_path: Path) -> None:
    config = json.loads(kube_apiserver.kubeconfig.read_text())
    config["contexts"].append({"name": "elsewhere", "context": {"cluster": "elsewhere", "user": "nobody"}})
    config["clusters"].append({"name": "elsewhere", "cluster": {"server": "https://127.0.0.1:1"}})
    config["users"].append({"name": "nobody", "user": {"token": "x"}})
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    current = config["current-context"]
    async with connect(ConnectionSettings(kubeconfig=str(path), context=current)) as conn:
        assert conn.host == kube_apiserver.url
    async with connect(ConnectionSettings(kubeconfig=str(path), context="elsewhere")) as conn:
        assert conn.host == "https://127.0.0.1:1"


PLUGIN = """
import datetime, json, os, sys
with open(os.environ["CALLS"], "a") as calls:
    calls.write("call\\n")
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
status = {"token": os.environ["TOKEN"], "expirationTimestamp": now}
credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}
print(json.dumps({**credential, "status": status}))
"""


async def test_an_expiring_exec_plugin_token_is_renewed_before_requests(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    plugin, calls = tmp_path / "plugin.py", tmp_path / "calls"
    plugin.write_text(PLUGIN)
    config = json.loads(kube_apiserver.kubeconfig.read_text())
    config["users"][0]["user"] = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "env": [{"name": "CALLS", "value": str(calls)}, {"name": "TOKEN", "value": kube_apiserver.token}],
            "interactiveMode": "Never",
        }
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    async with connect(ConnectionSettings(kubeconfig=str(path), request_timeout=20)) as conn:
        for _ in range(2):
            await objects.get(conn, NAMESPACES, "default")
    # Once when loading, then before each request: the token it hands out is already expiring.
    assert calls.read_text().splitlines() == ["call"] * 3


async def test_a_server_that_does_not_answer_is_unreachable(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = json.loads(kube_apiserver.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    async with connect(ConnectionSettings(kubeconfig=str(path), request_timeout=5)) as conn:
        with pytest.raises(errors.Unreachable, match=r"GET /api/v1/namespaces/default: no answer"):
            await objects.get(conn, NAMESPACES, "default")


async def test_a_request_that_takes_too_long_is_unreachable(conn: Connection) -> None:
    # A watch that the server would hold open for 30 s, given 0.5 s.
    with pytest.raises(errors.Unreachable, match="TimeoutError"):
        await conn.request(
            "GET", "/api/v1/namespaces", query={"watch": True, "timeoutSeconds": 30}, limit=0.5
        )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"qps": 0.0}, "qps=0.0", id="qps"),
        pytest.param({"burst": 0}, "burst=0", id="burst"),
        pytest.param({"request_timeout": -1.0}, "request_timeout=-1.0", id="timeout"),
    ],
)
async def test_settings_refuse_nonsense_naming_the_field(overrides: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=f"setting {field} is invalid"):
        ConnectionSettings(**overrides)  # type: ignore[arg-type]
