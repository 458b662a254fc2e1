"""The real kube-apiserver harness: kubectl, CRDs, the status subresource, restarts, authentication."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest

from metalstream.devstack import kube_build
from metalstream.devstack.kube import KubeApiServer, KubeApiServerError, find_kubectl
from tests.adapters.k8s.conftest import Kubectl
from tests.kube import BUILD_LIMIT

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90, func_only=True)]

CRD_NAME: Final = "widgets.toys.metalstream.dev"
CRD: Final = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.toys.metalstream.dev
spec:
  group: toys.metalstream.dev
  scope: Namespaced
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget, shortNames: [wdg]}
  versions:
    - name: v1alpha1
      served: true
      storage: true
      subresources: {status: {}}
      additionalPrinterColumns:
        - {name: Colour, type: string, jsonPath: .spec.colour}
        - {name: Phase, type: string, jsonPath: .status.phase}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [colour]
              properties:
                colour: {type: string, enum: [red, green, blue]}
                size: {type: integer, minimum: 1}
            status:
              type: object
              properties:
                phase: {type: string}
"""


def widget(name: str, *, colour: str = "red", size: int = 3) -> str:
    return json.dumps(
        {
            "apiVersion": "toys.metalstream.dev/v1alpha1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"colour": colour, "size": size},
        }
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    result = await kubectl.run("get", *args, "-o", "json")
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


@pytest.fixture
async def widgets(kubectl: Kubectl) -> Kubectl:
    """The Widget CRD, applied (idempotently) and Established."""
    await kubectl.run("apply", "-f", "-", stdin=CRD)
    await kubectl.run("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=30s")
    return kubectl


async def test_readyz_through_kubectl(kube_apiserver: KubeApiServer, kubectl: Kubectl) -> None:
    assert (await kubectl.run("get", "--raw", "/readyz")).stdout.strip() == "ok"
    version = json.loads((await kubectl.run("version", "-o", "json")).stdout)["serverVersion"]
    binaries = kube_apiserver.binaries
    assert binaries is not None
    if binaries.source != "assets":
        assert version["gitVersion"] == binaries.kubernetes_version


async def test_custom_resource_round_trip(widgets: Kubectl) -> None:
    name = unique("roundtrip")
    await widgets.run("apply", "-f", "-", stdin=widget(name, colour="green", size=5))
    fetched = await get_json(widgets, "widget", name)
    assert fetched["spec"] == {"colour": "green", "size": 5}
    assert fetched["metadata"]["generation"] == 1
    listed = (await widgets.run("get", "wdg", name)).stdout
    assert listed.split() == ["NAME", "COLOUR", "PHASE", name, "green"]  # no phase yet


async def test_schema_validation_refuses_bad_objects(widgets: Kubectl) -> None:
    name = unique("invalid")
    refused = await widgets.run("apply", "-f", "-", stdin=widget(name, colour="purple"), check=False)
    assert refused.returncode != 0
    assert 'spec.colour: Unsupported value: "purple"' in refused.stderr
    too_small = await widgets.run("apply", "-f", "-", stdin=widget(name, size=0), check=False)
    assert too_small.returncode != 0
    assert "spec.size: Invalid value: 0" in too_small.stderr
    absent = await widgets.run("get", "widget", name, check=False)
    assert "NotFound" in absent.stderr


async def test_status_subresource(widgets: Kubectl) -> None:
    name = unique("status")
    await widgets.run("apply", "-f", "-", stdin=widget(name))
    await widgets.run(
        "patch", "widget", name, "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Ready"}}'
    )
    patched = await get_json(widgets, "widget", name)
    assert patched["status"] == {"phase": "Ready"}
    assert patched["metadata"]["generation"] == 1, "a status write must not bump the generation"

    # Through the main resource, status is ignored and spec changes bump the generation.
    await widgets.run(
        "patch", "widget", name, "--type=merge", "-p", '{"spec":{"size":9},"status":{"phase":"Hacked"}}'
    )
    updated = await get_json(widgets, "widget", name)
    assert updated["spec"]["size"] == 9
    assert updated["status"] == {"phase": "Ready"}
    assert updated["metadata"]["generation"] == 2


async def test_restart_keeps_the_data(kube_apiserver: KubeApiServer, widgets: Kubectl) -> None:
    config_map, custom = unique("survivor"), unique("survivor")
    await widgets.run("create", "configmap", config_map, "--from-literal=answer=42")
    await widgets.run("apply", "-f", "-", stdin=widget(custom, colour="blue"))
    url, before = kube_apiserver.url, kube_apiserver.pids

    await kube_apiserver.restart()

    assert kube_apiserver.url == url
    assert len(kube_apiserver.pids) == 2
    assert set(kube_apiserver.pids).isdisjoint(before), "both processes are new"
    assert (await widgets.run("get", "--raw", "/readyz")).stdout.strip() == "ok"
    assert (await get_json(widgets, "configmap", config_map))["data"] == {"answer": "42"}
    assert (await get_json(widgets, "widget", custom))["spec"]["colour"] == "blue"


async def test_an_invalid_token_is_refused(kube_apiserver: KubeApiServer, kubectl: Kubectl) -> None:
    context = await asyncio.to_thread(kube_apiserver.ssl_context)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for token, expected in (("not-the-token", 401), (kube_apiserver.token, 200)):
            headers = {"Authorization": f"Bearer {token}"}
            async with session.get(f"{kube_apiserver.url}/api", headers=headers, ssl=context) as response:
                assert response.status == expected, await response.text()

    refused = await kubectl.run("--token=not-the-token", "get", "namespaces", check=False)
    assert refused.returncode != 0
    assert "Unauthorized" in refused.stderr


async def test_a_failed_start_names_the_logs(kube_apiserver: KubeApiServer, tmp_path: Path) -> None:
    broken = KubeApiServer(
        tmp_path / "broken", binaries=kube_apiserver.binaries, durable=False, extra_args=["--no-such-flag"]
    )
    with pytest.raises(KubeApiServerError) as caught:
        async with broken:
            pytest.fail("a kube-apiserver with an unknown flag started")
    message = str(caught.value)
    assert message.startswith("kube-apiserver exited with status 1")
    assert f"--- {broken.apiserver_log} ends with:" in message
    assert f"--- {broken.etcd_log} ends with:" in message
    assert "unknown flag: --no-such-flag" in message
    assert broken.pids == (), "etcd must not be left running"


@pytest.mark.timeout(180, func_only=True)  # three starts of etcd and kube-apiserver
async def test_keep_state_resumes_an_earlier_servers_data_and_token(tmp_path: Path) -> None:
    binaries = await kube_build.ensure_binaries(limit=BUILD_LIMIT)
    state = tmp_path / "kube"
    async with KubeApiServer(state, binaries=binaries, durable=False) as first:
        client = Kubectl(find_kubectl(), first.kubeconfig, tmp_path / "kubectl-cache")
        await client.run("create", "configmap", "kept", "--from-literal=answer=42")
        token, ca = first.token, await asyncio.to_thread(first.ca_file.read_bytes)

    async with KubeApiServer(state, binaries=binaries, durable=False, keep_state=True) as second:
        assert second.token == token
        assert await asyncio.to_thread(second.ca_file.read_bytes) == ca, "the old CA still holds"
        client = Kubectl(find_kubectl(), second.kubeconfig, tmp_path / "kubectl-cache")
        assert (await get_json(client, "configmap", "kept"))["data"] == {"answer": "42"}
        old_token = await client.run(f"--token={token}", "get", "configmap", "kept", "-o", "name")
        assert old_token.stdout.strip() == "configmap/kept"

    async with KubeApiServer(state, binaries=binaries, durable=False) as fresh:
        assert fresh.token != token
        client = Kubectl(find_kubectl(), fresh.kubeconfig, tmp_path / "kubectl-cache")
        gone = await client.run("get", "configmap", "kept", check=False)
        assert "NotFound" in gone.stderr, "without keep_state every instance starts afresh"
