from __future__ import annotations

from typing import Any

from adapters.k8s.capm3 import hostspec
from adapters.k8s.capm3.manifests import read_machine
from core.aggregates.host_state import HostState
from core.aggregates.machine_state import MachineState
from core.events.host_values import ConsumerRef, CustomDeploy, ProvisioningState, SecretRef
from core.events.machine_values import HostRef, MachineImage, MachineSpec, ObjectRef

PS = ProvisioningState
MACHINE = read_machine(
    {
        "metadata": {
            "name": "m-0",
            "namespace": "ns",
            "uid": "u-1",
            "labels": {"cluster.x-k8s.io/cluster-name": "c1"},
        },
        "spec": {},
    }
)
SPEC = MachineSpec(
    image=MachineImage(url="http://x/os.qcow2", checksum="c", checksum_type="sha256", disk_format="qcow2"),
    user_data=SecretRef(name="ud"),
    automated_cleaning_mode="disabled",
)
STATE = MachineState(
    exists=True,
    namespace="ns",
    name="m-0",
    spec=SPEC,
    host=HostRef(namespace="ns", name="h-0"),
    user_data=SecretRef(name="ud", namespace="ns"),
)


def _host(spec: dict[str, Any] | None = None, **metadata: Any) -> dict[str, Any]:
    return {"metadata": {"name": "h-0", "namespace": "ns", **metadata}, "spec": spec or {}}


def test_association_without_data_writes_only_the_consumer_and_cluster_label() -> None:
    patch = hostspec.association_patch(_host(), MACHINE, STATE, with_data=False)
    assert patch == {
        "spec": {
            "consumerRef": {
                "apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2",
                "kind": "Metal3Machine",
                "namespace": "ns",
                "name": "m-0",
                "uid": "u-1",
            }
        },
        "metadata": {"labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
    }


def test_association_with_data_sets_everything_once() -> None:
    patch = hostspec.association_patch(_host(), MACHINE, STATE, with_data=True)
    assert patch is not None
    spec = patch["spec"]
    assert spec["image"] == {
        "url": "http://x/os.qcow2",
        "checksum": "c",
        "checksumType": "sha256",
        "format": "qcow2",
    }
    assert spec["userData"] == {"name": "ud"}
    assert "metaData" not in spec
    assert spec["online"] is True
    assert spec["automatedCleaningMode"] == "disabled"
    applied = _host(
        {**spec},
        labels={"cluster.x-k8s.io/cluster-name": "c1"},
    )
    assert hostspec.association_patch(applied, MACHINE, STATE, with_data=True) is None


def test_a_host_with_an_image_or_custom_deploy_keeps_it() -> None:
    consumer = {"kind": "Metal3Machine", "namespace": "ns", "name": "m-0"}
    labels = {"cluster.x-k8s.io/cluster-name": "c1"}
    for existing in ({"image": {"url": "http://x/old.qcow2"}}, {"customDeploy": {"method": "m"}}):
        host = _host(
            {"consumerRef": consumer, "userData": {"name": "ud"}, "online": True, **existing}, labels=labels
        )
        patch = hostspec.association_patch(host, MACHINE, STATE, with_data=True)
        assert patch == {"spec": {"automatedCleaningMode": "disabled"}}


def test_a_custom_deploy_machine_sets_custom_deploy_not_image() -> None:
    state = MachineState(
        exists=True, spec=MachineSpec(custom_deploy=CustomDeploy(method="install")), host=STATE.host
    )
    patch = hostspec.association_patch(_host(), MACHINE, state, with_data=True)
    assert patch is not None
    assert patch["spec"]["customDeploy"] == {"method": "install"}
    assert "image" not in patch["spec"]


def test_rendered_data_secrets_are_referenced_once_recorded() -> None:
    state = MachineState(
        exists=True,
        spec=MachineSpec(data_template=ObjectRef(name="tpl")),
        host=STATE.host,
        data_name="tpl-0",
        meta_data=SecretRef(name="m-0-metadata", namespace="ns"),
        network_data=SecretRef(name="m-0-networkdata", namespace="ns"),
    )
    patch = hostspec.association_patch(_host(), MACHINE, state, with_data=True)
    assert patch is not None
    assert patch["spec"]["metaData"] == {"name": "m-0-metadata"}
    assert patch["spec"]["networkData"] == {"name": "m-0-networkdata"}


def test_deprovisioning_clears_the_machine_data_and_powers_off() -> None:
    host = _host(
        {"image": {"url": "u"}, "userData": {"name": "ud"}, "metaData": {"name": "m"}, "online": True}
    )
    assert hostspec.deprovision_patch(host) == {
        "spec": {"image": None, "userData": None, "metaData": None, "online": False}
    }
    assert hostspec.deprovision_patch(_host({"online": True, "disablePowerOff": True})) is None
    assert hostspec.deprovision_patch(_host({"online": False})) is None


def test_release_removes_only_this_machines_consumer() -> None:
    mine = _host({"consumerRef": {"kind": "Metal3Machine", "namespace": "ns", "name": "m-0"}})
    assert hostspec.release_patch(mine, MACHINE) == {"spec": {"consumerRef": None}}
    theirs = _host({"consumerRef": {"kind": "Metal3Machine", "namespace": "ns", "name": "m-1"}})
    assert hostspec.release_patch(theirs, MACHINE) is None


def test_candidates_need_a_recorded_host_and_see_deleting_objects() -> None:
    recorded = HostState(exists=True, namespace="ns", name="h-0", provisioning_state=PS.AVAILABLE)
    consumed = HostState(
        exists=True,
        namespace="ns",
        name="h-2",
        provisioning_state=PS.PROVISIONED,
        consumer=ConsumerRef(kind="Metal3Machine", name="m-9"),
    )
    objects = [
        _host(labels={"role": "w"}, deletionTimestamp="2026-11-24T00:00:00Z"),
        {"metadata": {"name": "h-1", "namespace": "ns"}},
        {"metadata": {"name": "h-2", "namespace": "ns"}},
    ]
    found = hostspec.candidates(objects, {"ns/h-0": recorded, "ns/h-2": consumed})
    assert [(c.name, c.deleting, c.labels) for c in found] == [
        ("h-0", True, {"role": "w"}),
        ("h-2", False, {}),
    ]
    assert found[1].consumer is not None
