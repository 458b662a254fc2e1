"""Installing the CRDs into a real kube-apiserver: established, idempotent, and failures that name the CRD."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import new_client_from_config

from adapters.k8s import crd_install
from adapters.k8s.crds import catalog
from adapters.k8s.crds.declaring import CrdDeclaration
from adapters.k8s.crds.schema import Rule, obj, string
from adapters.k8s.resources import Resource
from metalstream.devstack.kube import KubeApiServer
from tests.adapters.k8s.conftest import Kubectl
from tests.adapters.k8s.crds.conftest import get_json

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120, func_only=True)]


@pytest_asyncio.fixture(loop_scope="session")
async def api(kube_apiserver: KubeApiServer) -> AsyncIterator[ApiClient]:
    client = await new_client_from_config(config_file=str(kube_apiserver.kubeconfig))
    async with client:
        yield client


async def test_every_crd_is_established_and_its_names_accepted(
    kubectl: Kubectl, metal3_crds: tuple[str, ...]
) -> None:
    assert metal3_crds == tuple(declaration.name for declaration in catalog.ALL)
    for name in metal3_crds:
        crd = await get_json(kubectl, "crd", name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True", name
        assert conditions["NamesAccepted"] == "True", name
        assert crd["status"]["acceptedNames"]["kind"] == catalog.by_kind(crd["spec"]["names"]["kind"]).kind


async def test_installing_again_changes_nothing(
    api: ApiClient, kubectl: Kubectl, metal3_crds: tuple[str, ...]
) -> None:
    before = {
        name: (await get_json(kubectl, "crd", name))["metadata"]["resourceVersion"] for name in metal3_crds
    }

    again = await crd_install.install(api)

    assert again == metal3_crds
    after = {
        name: (await get_json(kubectl, "crd", name))["metadata"]["resourceVersion"] for name in metal3_crds
    }
    assert after == before


async def test_a_changed_declaration_is_applied_in_place(api: ApiClient, kubectl: Kubectl) -> None:
    widget = _widget("upgrades")
    await crd_install.install(api, [widget])
    described = dataclasses.replace(widget, description="A widget, now described differently.")

    await crd_install.install(api, [described])

    crd = await get_json(kubectl, "crd", widget.name)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["description"] == "A widget, now described differently."


async def test_a_refused_crd_is_named_with_the_api_servers_reason(api: ApiClient, kubectl: Kubectl) -> None:
    broken = dataclasses.replace(
        _widget("broken"),
        spec=obj({"colour": string()}, rules=(Rule("self.colour ==", "not CEL"),)),
    )

    with pytest.raises(crd_install.CrdInstallError) as caught:
        await crd_install.install(api, [broken])

    assert caught.value.crd == broken.name
    assert str(caught.value).startswith(f"CRD {broken.name}: the API server refused it: HTTP 422")
    assert "x-kubernetes-validations[0].rule" in str(caught.value)
    missing = await kubectl.run("get", "crd", broken.name, check=False)
    assert missing.returncode != 0


def _widget(name: str) -> CrdDeclaration:
    """A throwaway kind in its own group, so these tests never touch Metal3's CRDs."""
    template = catalog.by_kind("HostUpdatePolicy")
    return dataclasses.replace(
        template,
        resource=Resource(
            group=f"{name}.crd-install.metalstream.dev", version="v1alpha1", plural="widgets", kind="Widget"
        ),
        singular="widget",
        description="A widget.",
    )
