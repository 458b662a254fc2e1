from __future__ import annotations

from typing import Any

import pytest

from adapters.k8s.capm3.manifests import ManifestProblem, read_machine, read_template_spec
from core.events.data_template_values import BondParameter, FromPool
from core.events.machine_values import HostRef


def _machine(spec: dict[str, Any], **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "m-0", "namespace": "ns", "uid": "u-1", "generation": 3, **metadata},
        "spec": spec,
    }


def test_a_v1beta1_machine_reads_as_the_v1beta2_spec() -> None:
    machine = read_machine(
        _machine(
            {
                "image": {
                    "url": "http://x/os.img",
                    "checksum": "abc",
                    "checksumType": "md5",
                    "format": "raw",
                },
                "userData": {"name": "ud", "namespace": "ns"},
                "hostSelector": {
                    "matchLabels": {"a": "b"},
                    "matchExpressions": [{"key": "k", "operator": "In"}],
                },
                "dataTemplate": {"name": "tpl", "kind": "Metal3DataTemplate"},
                "automatedCleaningMode": "disabled",
                "providerID": "metal3://ns/h/m-0",
            },
            annotations={"metal3.io/BareMetalHost": "ns/host-1"},
            ownerReferences=[{"kind": "Machine", "name": "capi-m-0"}],
        )
    )
    assert machine.spec.image is not None
    assert machine.spec.image.disk_format == "raw"
    assert machine.spec.user_data is not None
    assert machine.spec.user_data.name == "ud"
    assert machine.spec.data_template is not None
    assert machine.spec.data_template.name == "tpl"
    assert machine.spec.host_selector is not None
    assert machine.spec.host_selector.match_expressions[0].values == ()
    assert machine.spec.automated_cleaning_mode == "disabled"
    assert machine.host == HostRef(namespace="ns", name="host-1")
    assert machine.owner_machine == "capi-m-0"
    assert machine.provider_id == "metal3://ns/h/m-0"
    assert machine.meta.generation == 3


def test_a_machine_without_owner_names_itself_and_has_no_host() -> None:
    machine = read_machine(_machine({"customDeploy": {"method": "install_coreos"}}))
    assert machine.owner_machine == "m-0"
    assert machine.host is None
    assert machine.spec.custom_deploy is not None
    assert machine.spec.image is None


def test_a_bad_cleaning_mode_names_the_spec() -> None:
    with pytest.raises(ManifestProblem, match="automatedCleaningMode") as problem:
        read_machine(_machine({"automatedCleaningMode": "always"}))
    assert problem.value.field == "spec"


def test_v1beta1_pool_sources_and_bond_maps_join_the_v1beta2_shape() -> None:
    spec = read_template_spec(
        {
            "spec": {
                "templateReference": "old",
                "metaData": {
                    "ipAddressesFromIPPool": [
                        {"key": "ip", "name": "p1", "apiGroup": "ipam.metal3.io", "kind": "IPPool"}
                    ],
                    "ipAddressesFromPool": [{"key": "ip2", "name": "p2"}],
                    "gatewaysFromIPPool": [
                        {"key": "gw", "name": "p1", "apiGroup": "ipam.metal3.io", "kind": "IPPool"}
                    ],
                },
                "networkData": {
                    "links": {
                        "bonds": [
                            {
                                "bondMode": "802.3ad",
                                "id": "bond0",
                                "macAddress": {"string": "52:54:00:00:00:01"},
                                "parameters": {"miimon": 100, "lacp_rate": "fast"},
                            }
                        ]
                    }
                },
            }
        }
    )
    assert spec.meta_data is not None
    assert [p.name for p in spec.meta_data.ip_addresses_from_pool] == ["p2", "p1"]
    assert spec.meta_data.gateways_from_pool == (FromPool(key="gw", name="p1"),)
    assert spec.network_data is not None
    assert spec.network_data.links is not None
    assert spec.network_data.links.bonds[0].parameters == (
        BondParameter(name="lacp_rate", value="fast"),
        BondParameter(name="miimon", value=100),
    )


def test_bond_parameters_of_another_shape_are_refused_naming_the_bond() -> None:
    bad = {"bondMode": "active-backup", "id": "b", "parameters": "miimon=100"}
    with pytest.raises(ManifestProblem, match=r"bonds\[0\]\.parameters"):
        read_template_spec({"spec": {"networkData": {"links": {"bonds": [bad]}}}})
