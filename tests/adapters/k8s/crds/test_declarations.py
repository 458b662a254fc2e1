"""The declarations without a server: Metal3's names and columns, coherent schemas, deploy/crds in sync."""

from __future__ import annotations

import re
from typing import Final

import pytest

from adapters.k8s.crds import capm3, catalog, generating, ipam, metal3io
from adapters.k8s.crds.declaring import CrdDeclaration
from adapters.k8s.crds.schema import Schema, SchemaError, array, obj, string
from tests.adapters.k8s.crds.conftest import MANIFESTS, load_manifests

EXPECTED_KINDS: Final = {
    "metal3.io": {
        "BareMetalHost",
        "HardwareData",
        "HostFirmwareSettings",
        "FirmwareSchema",
        "HostFirmwareComponents",
        "HostUpdatePolicy",
        "PreprovisioningImage",
        "DataImage",
        "BMCEventSubscription",
    },
    "ipam.metal3.io": {"IPPool", "IPClaim", "IPAddress"},
    "infrastructure.cluster.x-k8s.io": {
        "Metal3Cluster",
        "Metal3ClusterTemplate",
        "Metal3Machine",
        "Metal3MachineTemplate",
        "Metal3DataTemplate",
        "Metal3DataClaim",
        "Metal3Data",
        "Metal3Remediation",
        "Metal3RemediationTemplate",
    },
}

# kind: (plural, short names, categories, status subresource), as Metal3's CRDs have them.
NAMES: Final = {
    "BareMetalHost": ("baremetalhosts", ("bmh", "bmhost"), (), True),
    "HardwareData": ("hardwaredata", ("hd",), (), False),
    "HostFirmwareSettings": ("hostfirmwaresettings", ("hfs",), (), True),
    "FirmwareSchema": ("firmwareschemas", (), (), False),
    "HostFirmwareComponents": ("hostfirmwarecomponents", (), (), True),
    "HostUpdatePolicy": ("hostupdatepolicies", (), (), False),
    "PreprovisioningImage": ("preprovisioningimages", ("ppimg",), (), True),
    "DataImage": ("dataimages", (), (), True),
    "BMCEventSubscription": ("bmceventsubscriptions", ("bes", "bmcevent"), (), True),
    "IPPool": (
        "ippools",
        ("ipp", "ippool", "m3ipp", "m3ippool", "m3ippools", "metal3ipp", "metal3ippool", "metal3ippools"),
        ("cluster-api",),
        True,
    ),
    "IPClaim": (
        "ipclaims",
        (
            "ipc",
            "ipclaim",
            "m3ipc",
            "m3ipclaim",
            "m3ipclaims",
            "metal3ipc",
            "metal3ipclaim",
            "metal3ipclaims",
        ),
        ("cluster-api",),
        True,
    ),
    "IPAddress": (
        "ipaddresses",
        (
            "ipa",
            "ipaddress",
            "m3ipa",
            "m3ipaddress",
            "m3ipaddresses",
            "metal3ipa",
            "metal3ipaddress",
            "metal3ipaddresses",
        ),
        ("metal3",),
        False,
    ),
    "Metal3Cluster": (
        "metal3clusters",
        ("m3c", "m3cluster", "m3clusters", "metal3c", "metal3cluster"),
        ("cluster-api",),
        True,
    ),
    "Metal3ClusterTemplate": ("metal3clustertemplates", ("m3ct",), ("cluster-api",), False),
    "Metal3Machine": (
        "metal3machines",
        ("m3m", "m3machine", "m3machines", "metal3m", "metal3machine"),
        ("cluster-api",),
        True,
    ),
    "Metal3MachineTemplate": (
        "metal3machinetemplates",
        ("m3mt", "m3machinetemplate", "m3machinetemplates", "metal3mt", "metal3machinetemplate"),
        ("cluster-api",),
        False,
    ),
    "Metal3DataTemplate": (
        "metal3datatemplates",
        ("m3dt", "m3datatemplate", "m3datatemplates", "metal3dt", "metal3datatemplate"),
        ("cluster-api",),
        True,
    ),
    "Metal3DataClaim": (
        "metal3dataclaims",
        ("m3dc", "m3dataclaim", "m3dataclaims", "metal3dc", "metal3dataclaim"),
        ("cluster-api",),
        True,
    ),
    "Metal3Data": (
        "metal3datas",
        ("m3d", "m3data", "m3datas", "metal3d", "metal3data"),
        ("cluster-api",),
        True,
    ),
    "Metal3Remediation": ("metal3remediations", ("m3r", "m3remediation"), ("cluster-api",), True),
    "Metal3RemediationTemplate": (
        "metal3remediationtemplates",
        ("m3rt", "m3remediationtemplate", "m3remediationtemplates", "metal3rt", "metal3remediationtemplate"),
        ("cluster-api",),
        True,
    ),
}

# CRD name -> version -> [(column, jsonPath, priority)], for the kinds whose columns Metal3 users read.
COLUMNS: Final = {
    "baremetalhosts.metal3.io": {
        "v1alpha1": [
            ("Status", ".status.operationalStatus", 1),
            ("State", ".status.provisioning.state", 0),
            ("Consumer", ".spec.consumerRef.name", 0),
            ("BMC", ".spec.bmc.address", 1),
            ("Online", ".spec.online", 0),
            ("Error", ".status.errorType", 0),
            ("Age", ".metadata.creationTimestamp", 0),
        ]
    },
    "preprovisioningimages.metal3.io": {
        "v1alpha1": [
            ("Ready", ".status.conditions[?(@.type=='Ready')].status", 0),
            ("Reason", ".status.conditions[?(@.type=='Ready')].reason", 0),
        ]
    },
    "metal3machines.infrastructure.cluster.x-k8s.io": {
        "v1beta1": [
            ("Age", ".metadata.creationTimestamp", 0),
            ("ProviderID", ".spec.providerID", 0),
            ("Ready", ".status.ready", 0),
            ("Cluster", r".metadata.labels.cluster\.x-k8s\.io/cluster-name", 0),
            ("Phase", ".status.phase", 0),
        ],
        "v1beta2": [
            ("Age", ".metadata.creationTimestamp", 0),
            ("ProviderID", ".spec.providerID", 0),
            ("Provisioned", ".status.initialization.provisioned", 0),
            ("Cluster", r".metadata.labels.cluster\.x-k8s\.io/cluster-name", 0),
        ],
    },
    "metal3remediations.infrastructure.cluster.x-k8s.io": {
        version: [
            ("Retry limit", ".spec.strategy.retryLimit", 0),
            ("Retry count", ".status.retryCount", 0),
            ("Last Remediated", ".status.lastRemediated", 0),
            ("Strategy", ".spec.strategy.type", 0),
            ("Phase", ".status.phase", 0),
        ]
        for version in ("v1beta1", "v1beta2")
    },
}


def _versions(manifest: Schema) -> list[Schema]:
    spec = manifest["spec"]
    assert isinstance(spec, dict)
    versions = spec["versions"]
    assert isinstance(versions, list)
    return versions


def test_deploy_crds_match_the_declarations() -> None:
    assert generating.out_of_date() == [], "run: python -m adapters.k8s.crds"


def test_every_metal3_kind_is_declared_once_per_group() -> None:
    declared = {group: {d.kind for d in catalog.in_group(group)} for group in catalog.GROUPS}
    assert declared == EXPECTED_KINDS
    assert len(catalog.ALL) == sum(len(kinds) for kinds in EXPECTED_KINDS.values())
    assert {d.group for d in metal3io.DECLARATIONS} == {metal3io.GROUP}
    assert {d.group for d in ipam.DECLARATIONS} == {ipam.GROUP}
    assert {d.group for d in capm3.DECLARATIONS} == {capm3.GROUP}


@pytest.mark.parametrize("kind", sorted(NAMES))
def test_names_and_subresources_follow_metal3(kind: str) -> None:
    plural, short_names, categories, has_status = NAMES[kind]
    declaration = catalog.by_kind(kind)
    names = declaration.manifest()["spec"]
    assert isinstance(names, dict)
    assert names["names"] == {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": declaration.singular,
        **({"shortNames": list(short_names)} if short_names else {}),
        **({"categories": list(categories)} if categories else {}),
    }
    assert names["scope"] == "Namespaced"
    assert declaration.resource.plural == plural
    assert all(("subresources" in version) == has_status for version in _versions(declaration.manifest()))


@pytest.mark.parametrize("crd", sorted(COLUMNS))
def test_printer_columns_are_metal3s(crd: str) -> None:
    (declaration,) = [d for d in catalog.ALL if d.name == crd]
    shown = {
        str(version["name"]): [
            (column["name"], column["jsonPath"], column.get("priority", 0))
            for column in version.get("additionalPrinterColumns", [])  # type: ignore[attr-defined]
        ]
        for version in _versions(declaration.manifest())
    }
    assert shown == COLUMNS[crd]


def test_a_lookup_of_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="BareMetalHost"):
        catalog.by_kind("BareMetalHosts")


@pytest.mark.parametrize("declaration", catalog.ALL, ids=lambda d: d.kind)
def test_versions_serve_one_schema_and_store_one_version(declaration: CrdDeclaration) -> None:
    versions = _versions(declaration.manifest())
    stored = [v["name"] for v in versions if v["storage"]]
    assert stored == [declaration.resource.version]
    assert all(v["served"] for v in versions)
    assert all(v["schema"] == versions[0]["schema"] for v in versions)
    if declaration.group == capm3.GROUP:
        assert [v["name"] for v in versions] == ["v1beta1", "v1beta2"]
        assert declaration.resource.version == "v1beta2"
        assert [v.get("deprecated", False) for v in versions] == [True, False]
        spec = declaration.manifest()["spec"]
        assert isinstance(spec, dict)
        assert spec["conversion"] == {"strategy": "None"}
    else:
        assert [v["name"] for v in versions] == ["v1alpha1"]


_TOKEN: Final = re.compile(r"\.((?:\\\.|[^.\[])+)(\[[^\]]*\])?")
_OBJECT_META: Final = {"name", "namespace", "creationTimestamp", "labels", "annotations", "generation", "uid"}


def _resolve(schema: Schema, json_path: str) -> Schema:
    """The schema node ``json_path`` (a printer column's simple JSONPath) selects; KeyError if none."""
    tokens = _TOKEN.findall(json_path)
    assert "".join(f".{name}{index}" for name, index in tokens) == json_path, json_path
    if tokens[0][0] == "metadata":
        if tokens[1][0] not in _OBJECT_META or len(tokens) > (
            3 if tokens[1][0] in ("labels", "annotations") else 2
        ):
            raise KeyError(json_path)
        return {"type": "string"}
    node = schema
    for name, index in tokens:
        properties = node["properties"]
        assert isinstance(properties, dict)
        node = properties[name]
        if index:
            items = node["items"]
            assert isinstance(items, dict)
            node = items
    return node


@pytest.mark.parametrize("declaration", catalog.ALL, ids=lambda d: d.kind)
def test_printer_columns_point_into_the_schema(declaration: CrdDeclaration) -> None:
    for version in _versions(declaration.manifest()):
        schema = version["schema"]["openAPIV3Schema"]  # type: ignore[index]
        for column in version.get("additionalPrinterColumns", []):  # type: ignore[attr-defined]
            node = _resolve(schema, column["jsonPath"])
            assert node.get("type") in ("string", "integer", "boolean", "object", "number"), column


def _undeclared(value: object, schema: Schema, path: str) -> list[str]:
    """Fields of ``value`` that ``schema`` does not declare (the ones an API server would prune)."""
    if schema.get("x-kubernetes-preserve-unknown-fields") or not isinstance(value, (dict, list)):
        return []
    if isinstance(value, list):
        items = schema["items"]
        assert isinstance(items, dict)
        return [
            problem for i, item in enumerate(value) for problem in _undeclared(item, items, f"{path}[{i}]")
        ]
    properties = schema.get("properties")
    extra = schema.get("additionalProperties")
    problems = []
    for key, item in value.items():
        if isinstance(properties, dict) and key in properties:
            problems += _undeclared(item, properties[key], f"{path}.{key}")
        elif isinstance(extra, dict):
            problems += _undeclared(item, extra, f"{path}.{key}")
        else:
            problems.append(f"{path}.{key}")
    return problems


@pytest.mark.parametrize("name", sorted(path.name for path in MANIFESTS.glob("*.yaml")))
def test_every_field_of_the_metal3_fixtures_is_declared(name: str) -> None:
    for document in load_manifests(name):
        if document["kind"] == "Secret":
            continue
        schema = catalog.by_kind(document["kind"]).schema()
        body = {key: value for key, value in document.items() if key != "metadata"}
        assert _undeclared(body, schema, document["kind"]) == []


def test_schema_builders_refuse_what_the_api_server_would() -> None:
    with pytest.raises(SchemaError, match="required"):
        obj({"a": string()}, required=("b",))
    with pytest.raises(SchemaError, match="must be required or defaulted"):
        array(obj({"key": string()}), list_type="map", map_keys=("key",))
    with pytest.raises(SchemaError, match="map_keys"):
        array(string(), list_type="map")
