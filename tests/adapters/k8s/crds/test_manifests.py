"""Metal3 manifests apply to metalstream's CRDs unchanged and read back with every field kept."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.adapters.k8s.conftest import Kubectl
from tests.adapters.k8s.crds.conftest import MANIFESTS, get_json, load_manifests, missing_fields, resource_of

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120, func_only=True)]


def _as_list(documents: list[dict[str, Any]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": documents})


@pytest.mark.parametrize("name", sorted(path.name for path in MANIFESTS.glob("*.yaml")))
async def test_a_metal3_manifest_applies_and_reads_back_whole(
    kubectl: Kubectl, namespace: str, name: str
) -> None:
    documents = load_manifests(name)

    await kubectl.run("apply", "-n", namespace, "-f", "-", stdin=_as_list(documents))

    for document in documents:
        if document["kind"] == "Secret":
            continue
        stored = await get_json(kubectl, resource_of(document), document["metadata"]["name"], "-n", namespace)
        expected = {key: document[key] for key in ("apiVersion", "kind", "spec") if key in document}
        assert missing_fields(expected, stored) == [], f"{document['kind']} {document['metadata']['name']}"
        assert (
            missing_fields(document["metadata"].get("labels", {}), stored["metadata"].get("labels", {})) == []
        )


async def test_applying_the_same_manifests_again_is_accepted(kubectl: Kubectl, namespace: str) -> None:
    documents = [
        d for name in ("baremetalhosts.yaml", "capm3_v1beta2.yaml", "ipam.yaml") for d in load_manifests(name)
    ]
    await kubectl.run("apply", "-n", namespace, "-f", "-", stdin=_as_list(documents))

    again = await kubectl.run("apply", "-n", namespace, "-f", "-", stdin=_as_list(documents))

    assert "metal3datatemplate.infrastructure.cluster.x-k8s.io/test1-controlplane-template" in again.stdout


async def test_a_v1beta1_object_reads_the_same_at_both_versions(kubectl: Kubectl, namespace: str) -> None:
    documents = load_manifests("capm3_v1beta1.yaml")
    await kubectl.run("apply", "-n", namespace, "-f", "-", stdin=_as_list(documents))

    for document in documents:
        name = document["metadata"]["name"]
        as_v1beta1 = await get_json(kubectl, resource_of(document), name, "-n", namespace)
        plural_group = resource_of(document).replace(".v1beta1.", ".v1beta2.")
        as_v1beta2 = await get_json(kubectl, plural_group, name, "-n", namespace)
        assert as_v1beta2["apiVersion"] == "infrastructure.cluster.x-k8s.io/v1beta2"
        assert as_v1beta2["spec"] == as_v1beta1["spec"]
        assert missing_fields(document["spec"], as_v1beta2["spec"]) == []


async def test_capm3_statuses_of_either_version_are_kept(kubectl: Kubectl, namespace: str) -> None:
    documents = [d for d in load_manifests("capm3_v1beta2.yaml") if d["kind"] == "Metal3Machine"]
    await kubectl.run("apply", "-n", namespace, "-f", "-", stdin=_as_list(documents))
    status = {
        "ready": True,
        "phase": "Provisioned",
        "initialization": {"provisioned": True},
        "addresses": [
            {"type": "InternalIP", "address": "192.168.111.20"},
            {"type": "Hostname", "address": "node-0"},
        ],
        "renderedData": {"name": "test1-controlplane-template-0", "namespace": namespace},
        "metaData": {"name": "test1-controlplane-x7k2p-metadata"},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Ready",
                "message": "",
                "lastTransitionTime": "2026-08-20T09:20:00Z",
            },
            {
                "type": "AssociateBareMetalHost",
                "status": "True",
                "severity": "",
                "lastTransitionTime": "2026-08-20T09:00:00Z",
            },
        ],
        "deprecated": {
            "v1beta1": {
                "failureReason": "",
                "conditions": [
                    {"type": "Ready", "status": "True", "lastTransitionTime": "2026-08-20T09:20:00Z"}
                ],
            }
        },
    }
    await kubectl.run(
        "patch",
        "m3m",
        "test1-controlplane-x7k2p",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )

    stored = await get_json(kubectl, "m3m", "test1-controlplane-x7k2p", "-n", namespace)
    wide = await kubectl.run("get", "m3m", "-n", namespace)

    assert missing_fields(status, stored["status"]) == []
    assert wide.stdout.split("\n")[1].split()[3] == "true"
