from __future__ import annotations

from typing import Any

import pytest

from adapters.k8s.baremetalhost.manifest import ManifestProblem, read_host
from core.events.host_values import HostSpec
from tests.adapters.k8s.baremetalhost.objects import host_object


def test_a_metal3_host_reads_into_the_aggregates_spec() -> None:
    obj = host_object(
        image={
            "url": "http://images/os.qcow2",
            "checksum": "abc",
            "checksumType": "sha256",
            "format": "qcow2",
        },
        rootDeviceHints={"deviceName": "/dev/sda", "minSizeGigabytes": 20},
        raid={"hardwareRAIDVolumes": [{"level": "1", "sizeGibibytes": 100}]},
        userData={"name": "ud"},
        consumerRef={"apiVersion": "v1", "kind": "ConfigMap", "name": "me", "namespace": "metal"},
        taints=[],  # fields metalstream does not use are ignored, as Metal3 ignores unknown ones
    )
    host = read_host(obj)
    assert host.id == "metal/worker-0"
    assert host.generation == 1
    assert isinstance(host.spec, HostSpec)
    assert host.spec.boot_mac_address == "52:54:00:aa:bb:01"
    assert host.spec.image is not None
    assert host.spec.image.checksum_type == "sha256"
    assert host.spec.root_device_hints is not None
    assert host.spec.root_device_hints.min_size_gigabytes == 20
    assert host.spec.raid is not None
    assert host.spec.raid.hardware_raid_volumes is not None
    assert host.consumer is not None
    assert host.consumer.kind == "ConfigMap"
    assert host.finalizers == ("baremetalhost.metal3.io",)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"bootMACAddress": "not-a-mac"}, "spec.bootMACAddress"),
        ({"rootDeviceHints": {"deviceName": "sda"}}, "spec.rootDeviceHints.deviceName"),
        ({"userData": {"name": "ud", "namespace": "elsewhere"}}, "spec.userData.namespace"),
        ({"image": {"url": "oci://registry/os", "checksum": "abc"}}, "spec.image.checksum"),
        ({"bootMode": "BIOS"}, "spec.bootMode"),
        ({"online": "perhaps"}, "spec.online"),
    ],
)
def test_what_the_schema_cannot_say_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ManifestProblem) as caught:
        read_host(host_object(**change))
    assert caught.value.field == field


def test_a_uuid_cannot_name_a_host() -> None:
    with pytest.raises(ManifestProblem, match=r"metadata\.name"):
        read_host(host_object("8a4e6c7e-0c0b-4cf4-9a07-8ee0b7d77e12"))


def test_the_legacy_inspect_disabled_annotation_disables_inspection() -> None:
    host = read_host(host_object(annotations={"inspect.metal3.io": "disabled"}))
    assert host.spec.inspection_mode == "disabled"
    with pytest.raises(ManifestProblem, match="contradicts"):
        read_host(host_object(annotations={"inspect.metal3.io": "disabled"}, inspectionMode="agent"))
