"""Metal3's CRDs installed once into the session's kube-apiserver, a namespace per test, manifest helpers."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pytest
import pytest_asyncio
import yaml
from kubernetes_asyncio.config import new_client_from_config

from adapters.k8s import crd_install
from adapters.k8s.crds import catalog
from metalstream.devstack.kube import KubeApiServer
from tests.adapters.k8s.conftest import Kubectl

MANIFESTS: Final = Path(__file__).parent / "manifests"
ALL_KINDS: Final = ",".join(declaration.name for declaration in catalog.ALL)


def load_manifests(name: str) -> list[dict[str, Any]]:
    """The documents of ``manifests/<name>``."""
    with (MANIFESTS / name).open(encoding="utf-8") as stream:
        return [document for document in yaml.safe_load_all(stream) if document]


def missing_fields(expected: object, actual: object, path: str = "") -> list[str]:
    """Paths where ``actual`` lacks or changed what ``expected`` has. A null in ``expected`` is skipped:
    ``kubectl apply`` reads it as "remove this field"."""
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{path or '.'}: expected an object, got {actual!r}"]
        return [
            problem
            for key, value in expected.items()
            if value is not None
            for problem in (
                missing_fields(value, actual[key], f"{path}.{key}")
                if key in actual
                else [f"{path}.{key}: missing"]
            )
        ]
    if isinstance(expected, Sequence) and not isinstance(expected, str):
        if not isinstance(actual, Sequence) or isinstance(actual, str) or len(actual) != len(expected):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        return [
            problem
            for i, item in enumerate(expected)
            for problem in missing_fields(item, actual[i], f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {actual!r}"]


def resource_of(document: Mapping[str, Any]) -> str:
    """``kubectl``'s fully qualified name for the document's kind at the document's own version."""
    group, _, version = str(document["apiVersion"]).rpartition("/")
    declaration = catalog.by_kind(str(document["kind"]))
    return f"{declaration.resource.plural}.{version}.{group}"


async def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    result = await kubectl.run("get", *args, "-o", "json")
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def metal3_crds(kube_apiserver: KubeApiServer) -> tuple[str, ...]:
    """Every CRD of the catalog, installed and established."""
    api = await new_client_from_config(config_file=str(kube_apiserver.kubeconfig))
    async with api:
        return await crd_install.install(api)


@pytest.fixture
def namespace_name() -> str:
    return f"crds-{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture(loop_scope="session")
async def namespace(
    kubectl: Kubectl, metal3_crds: tuple[str, ...], namespace_name: str
) -> AsyncIterator[str]:
    """A fresh namespace; its Metal3 objects are deleted afterwards so other tests never list them."""
    await kubectl.run("create", "namespace", namespace_name)
    yield namespace_name
    await kubectl.run("delete", ALL_KINDS, "--all", "-n", namespace_name, "--wait=false")
    await kubectl.run("delete", "namespace", namespace_name, "--wait=false")
