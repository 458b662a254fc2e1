"""Fixtures for the generic Kubernetes runtime: a connection, a test CRD, a namespace per test.

The ``Gadget`` kind (group ``runtime.test.metalstream.dev``) exists only for these tests: a small
namespaced custom resource with a status subresource and a validated ``spec.size``, so the tests
exercise exactly what the runtime will meet with Metal3's kinds (custom resources as plain JSON,
``/status`` writes, 422s with field causes) without depending on those CRDs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Final

import pytest
import pytest_asyncio

from adapters.k8s import objects
from adapters.k8s.connection import Connection, ConnectionSettings, JsonObject, connect
from adapters.k8s.resources import Resource
from metalstream.devstack.kube import KubeApiServer
from tests.adapters.k8s.conftest import Kubectl

GADGETS: Final = Resource(group="runtime.test.metalstream.dev", version="v1", plural="gadgets", kind="Gadget")
NAMESPACES: Final = Resource(group="", version="v1", plural="namespaces", kind="Namespace", namespaced=False)

GADGET_CRD: Final = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.runtime.test.metalstream.dev
spec:
  group: runtime.test.metalstream.dev
  scope: Namespaced
  names: {kind: Gadget, listKind: GadgetList, plural: gadgets, singular: gadget}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer, minimum: 1}
            status:
              type: object
              x-kubernetes-preserve-unknown-fields: true
"""


def settings_for(server: KubeApiServer, **overrides: Any) -> ConnectionSettings:
    options: dict[str, Any] = {"qps": 200.0, "burst": 200, "request_timeout": 10.0} | overrides
    return ConnectionSettings(kubeconfig=str(server.kubeconfig), **options)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def gadgets(kubectl: Kubectl) -> Resource:
    """The Gadget CRD, applied (idempotently) and Established."""
    await kubectl.run("apply", "-f", "-", stdin=GADGET_CRD)
    await kubectl.run("wait", "--for=condition=Established", f"crd/{GADGETS}", "--timeout=30s")
    return GADGETS


@pytest_asyncio.fixture(loop_scope="session")
async def conn(kube_apiserver: KubeApiServer) -> AsyncIterator[Connection]:
    async with connect(settings_for(kube_apiserver)) as connection:
        yield connection


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(conn: Connection) -> str:
    """A fresh namespace (left behind: without a controller-manager a deleted one never goes away)."""
    name = unique("rt")
    await objects.create(conn, NAMESPACES, {"metadata": {"name": name}})
    return name


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def gadget(name: str, namespace: str, *, size: int = 1, labels: dict[str, str] | None = None) -> JsonObject:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = labels
    return {"metadata": metadata, "spec": {"size": size}}


async def eventually(condition: Callable[[], bool], *, what: str, within: float = 30.0) -> None:
    """Poll ``condition`` (cheap, local) until it holds; fail the test naming ``what`` otherwise."""
    try:
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110 - polling state that has no event to wait on
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"not within {within:g}s: {what}")


@asynccontextmanager
async def running(*coroutines: Coroutine[Any, Any, Any]) -> AsyncIterator[None]:
    """Run ``coroutines`` as tasks for the duration of the block, then cancel them and wait."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(coroutine) for coroutine in coroutines]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
