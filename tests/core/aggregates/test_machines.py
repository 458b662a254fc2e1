from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from msgspec.structs import replace

from core.aggregates import machine_commands as cmd
from core.aggregates.base import Stored
from core.aggregates.machine_state import MachineState
from core.aggregates.machines import DEFINITION, machine_addresses, provider_id
from core.events import machines as ev
from core.events.base import Event
from core.events.codec import encode
from core.events.host_values import NIC, CustomDeploy, HardwareDetails, SecretRef
from core.events.machine_values import (
    HostRef,
    HostSelector,
    MachineAddress,
    MachineImage,
    MachineSpec,
    ObjectRef,
    SelectorRequirement,
)
from tests.core.aggregates.gwt import Given

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
NS = "metal3"
IMAGE = MachineImage(
    url="http://192.0.2.1/ubuntu.qcow2",
    checksum="http://192.0.2.1/ubuntu.qcow2.sha256sum",
    checksum_type="sha256",
    disk_format="qcow2",
)
SPEC = MachineSpec(image=IMAGE, data_template=ObjectRef(name="workers"))
PLAIN_SPEC = MachineSpec(image=IMAGE)
HOST = HostRef(namespace=NS, name="node-1")
BOOTSTRAP = "m-0-bootstrap"
CREATED = ev.MachineCreated(namespace=NS, name="m3m-0", uid="u-1", generation=1, spec=SPEC)
ASSOCIATED = ev.HostAssociated(host=HOST, user_data=SecretRef(name=BOOTSTRAP, namespace=NS))
RENDERED = ev.RenderedDataRecorded(
    data_name="workers-0",
    meta_data=SecretRef(name="m3m-0-metadata", namespace=NS),
    network_data=SecretRef(name="m3m-0-networkdata", namespace=NS),
)
PROVIDER_ID = "metal3://metal3/node-1/m3m-0"
PROVISIONED: list[Event] = [
    CREATED,
    ASSOCIATED,
    RENDERED,
    ev.ProviderIDSet(provider_id=PROVIDER_ID),
    ev.MachineProvisioned(),
]
DELETING: list[Event] = [*PROVISIONED, ev.MachineDeletionRequested()]


def given(*history: Stored | Sequence[Stored]) -> Given[MachineState, cmd.MachineCommand]:
    flat: list[Stored] = []
    for item in history:
        flat.extend(item if isinstance(item, Sequence) else [item])
    return Given(DEFINITION, tuple(flat))


def apply(spec: MachineSpec = SPEC, *, generation: int = 1, uid: str = "u-1") -> cmd.ApplyMachineSpec:
    return cmd.ApplyMachineSpec(
        now=NOW, namespace=NS, name="m3m-0", uid=uid, generation=generation, spec=spec
    )


def associate(host: HostRef = HOST, bootstrap: str | None = BOOTSTRAP) -> cmd.AssociateHost:
    return cmd.AssociateHost(now=NOW, host=host, bootstrap_data_secret=bootstrap)


# --- spec -------------------------------------------------------------------------------------------------


def test_first_spec_creates_a_pending_machine() -> None:
    state = given().when(apply()).then(CREATED)
    assert state.phase == "pending"


def test_newer_generation_records_the_new_spec() -> None:
    changed = replace(SPEC, failure_domain="rack-2")
    given(CREATED).when(apply(changed, generation=2)).then(ev.MachineSpecChanged(generation=2, spec=changed))


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        pytest.param(MachineSpec(), "either image or customDeploy is required", id="nothing-to-deploy"),
        pytest.param(
            MachineSpec(image=MachineImage(url="http://x/i.qcow2")), "spec.image.checksum", id="no-checksum"
        ),
        pytest.param(
            MachineSpec(image=MachineImage(url="not a url", checksum="abc")), "spec.image.url", id="bad-url"
        ),
        pytest.param(
            MachineSpec(image=MachineImage(url="oci://registry/os:1", checksum="abc")),
            "must be empty for OCI",
            id="oci-checksum",
        ),
        pytest.param(
            replace(PLAIN_SPEC, user_data=SecretRef(name="s", namespace="other")),
            "spec.userData.namespace",
            id="cross-namespace-secret",
        ),
        pytest.param(
            replace(
                PLAIN_SPEC,
                host_selector=HostSelector(
                    match_expressions=(SelectorRequirement(key="k", operator="Near"),)
                ),
            ),
            "spec.hostSelector.matchExpressions[0].operator",
            id="bad-selector",
        ),
    ],
)
def test_invalid_spec_is_rejected_naming_the_field(spec: MachineSpec, fragment: str) -> None:
    rejection = given().when(apply(spec)).then_rejected(rule="machine-spec-invalid")
    assert fragment in rejection.detail


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(MachineSpec(custom_deploy=CustomDeploy(method="install_coreos")), id="custom-deploy"),
        pytest.param(
            MachineSpec(image=MachineImage(url="http://x/boot.iso", disk_format="live-iso")), id="live-iso"
        ),
        pytest.param(MachineSpec(image=MachineImage(url="oci://quay.io/os:1")), id="oci"),
    ],
)
def test_images_that_need_no_checksum_are_accepted(spec: MachineSpec) -> None:
    given().when(apply(spec)).then(replace(CREATED, spec=spec))


# --- association ------------------------------------------------------------------------------------------


def test_association_records_the_host_and_the_bootstrap_user_data() -> None:
    state = given(CREATED).when(associate()).then(ASSOCIATED)
    assert (state.phase, state.host, state.user_data) == (
        "associated",
        HOST,
        SecretRef(name=BOOTSTRAP, namespace=NS),
    )


def test_the_machines_own_user_data_wins_over_bootstrap_data() -> None:
    own = replace(CREATED, spec=replace(SPEC, user_data=SecretRef(name="custom-cloud-init")))
    given(own).when(associate()).then(
        ev.HostAssociated(host=HOST, user_data=SecretRef(name="custom-cloud-init", namespace=NS))
    )


def test_association_waits_for_bootstrap_data() -> None:
    given(CREATED).when(associate(bootstrap=None)).then_rejected(rule="waiting-for-bootstrap-data")


def test_associating_the_same_host_again_records_nothing() -> None:
    given(CREATED, ASSOCIATED).when(associate()).then_nothing()


def test_machine_cannot_move_to_another_host() -> None:
    given(CREATED, ASSOCIATED).when(associate(HostRef(namespace=NS, name="node-2"))).then_rejected(
        rule="one-host-per-machine"
    )


def test_host_must_live_in_the_machines_namespace() -> None:
    given(CREATED).when(associate(HostRef(namespace="other", name="node-1"))).then_rejected(
        rule="host-in-machine-namespace"
    )


def test_node_reuse_is_recorded() -> None:
    command = replace(associate(), via_node_reuse=True)
    state = given(CREATED).when(command).then(replace(ASSOCIATED, via_node_reuse=True))
    assert state.via_node_reuse


# --- rendered data, addresses, provisioning ---------------------------------------------------------------


def test_rendered_data_sets_the_status_secrets() -> None:
    command = cmd.RecordRenderedData(
        now=NOW,
        data_name="workers-0",
        meta_data_secret="m3m-0-metadata",
        network_data_secret="m3m-0-networkdata",
    )
    state = given(CREATED, ASSOCIATED).when(command).then(RENDERED)
    assert state.effective_meta_data == SecretRef(name="m3m-0-metadata", namespace=NS)
    assert given(CREATED, ASSOCIATED, RENDERED).when(command).then_nothing().data_name == "workers-0"


def test_rendered_data_is_never_replaced() -> None:
    command = cmd.RecordRenderedData(now=NOW, data_name="workers-3")
    given(CREATED, ASSOCIATED, RENDERED).when(command).then_rejected(rule="rendered-data-fixed")


def test_machine_without_template_uses_the_secrets_its_spec_names() -> None:
    spec = replace(PLAIN_SPEC, meta_data=SecretRef(name="my-meta"))
    state = given(replace(CREATED, spec=spec)).when(associate()).then(ASSOCIATED)
    assert state.effective_meta_data == SecretRef(name="my-meta")
    given(replace(CREATED, spec=spec)).when(cmd.RecordRenderedData(now=NOW, data_name="x")).then_rejected(
        rule="no-data-template"
    )


def test_addresses_come_from_nic_ips_then_the_hostname() -> None:
    hardware = HardwareDetails(
        hostname="node-1.example.com",
        nics=(NIC(name="eno1", ip="192.0.2.5"), NIC(name="eno2"), NIC(name="eno3", ip="fd00::5")),
    )
    assert machine_addresses(hardware) == (
        MachineAddress(type="InternalIP", address="192.0.2.5"),
        MachineAddress(type="InternalIP", address="fd00::5"),
        MachineAddress(type="Hostname", address="node-1.example.com"),
        MachineAddress(type="InternalDNS", address="node-1.example.com"),
    )
    assert machine_addresses(None) == ()


def test_address_changes_are_recorded_once() -> None:
    hardware = HardwareDetails(nics=(NIC(name="eno1", ip="192.0.2.5"),))
    changed = ev.AddressesChanged(addresses=(MachineAddress(type="InternalIP", address="192.0.2.5"),))
    given(CREATED, ASSOCIATED).when(cmd.ObserveHostHardware(now=NOW, hardware=hardware)).then(changed)
    given(CREATED, ASSOCIATED, changed).when(
        cmd.ObserveHostHardware(now=NOW, hardware=hardware)
    ).then_nothing()
    given(CREATED).when(cmd.ObserveHostHardware(now=NOW, hardware=hardware)).then_rejected(rule="no-host")


def test_provisioned_host_sets_the_default_provider_id() -> None:
    assert provider_id(NS, "node-1", "m3m-0") == PROVIDER_ID
    state = (
        given(CREATED, ASSOCIATED, RENDERED)
        .when(cmd.RecordHostProvisioned(now=NOW))
        .then(ev.ProviderIDSet(provider_id=PROVIDER_ID), ev.MachineProvisioned())
    )
    assert (state.phase, state.provider_id) == ("provisioned", PROVIDER_ID)


def test_provider_id_from_the_node_is_taken_as_is() -> None:
    node_id = "metal3://metal3/node-1/m3m-0"
    given(CREATED, ASSOCIATED).when(cmd.RecordHostProvisioned(now=NOW, provider_id=node_id)).then(
        ev.ProviderIDSet(provider_id=node_id), ev.MachineProvisioned()
    )


def test_provider_id_never_changes() -> None:
    given(PROVISIONED).when(cmd.RecordHostProvisioned(now=NOW)).then_nothing()
    given(PROVISIONED).when(cmd.RecordHostProvisioned(now=NOW, provider_id="metal3://other")).then_rejected(
        rule="provider-id-immutable"
    )


def test_provisioning_needs_a_host() -> None:
    given(CREATED).when(cmd.RecordHostProvisioned(now=NOW)).then_rejected(rule="no-host")


# --- deletion ---------------------------------------------------------------------------------------------


def test_deleting_a_machine_that_never_got_a_host_or_data_completes_at_once() -> None:
    plain = replace(CREATED, spec=PLAIN_SPEC)
    state = (
        given(plain)
        .when(cmd.RequestMachineDeletion(now=NOW))
        .then(ev.MachineDeletionRequested(), ev.MachineDeleted())
    )
    assert state.phase == "deleted"


def test_full_deletion_deprovisions_releases_the_host_then_the_data() -> None:
    given(PROVISIONED).when(cmd.RequestMachineDeletion(now=NOW)).then(ev.MachineDeletionRequested())
    given(DELETING).when(cmd.StartDeprovisioning(now=NOW)).then(ev.DeprovisioningStarted())
    deprovisioning = [*DELETING, ev.DeprovisioningStarted()]
    released = ev.HostReleased(host=HOST, node_reuse_label="md-0")
    state = (
        given(deprovisioning).when(cmd.RecordHostReleased(now=NOW, node_reuse_label="md-0")).then(released)
    )
    assert (state.phase, state.host, state.released_host, state.provisioned) == (
        "deleting",
        None,
        HOST,
        False,
    )
    state = (
        given(deprovisioning, released)
        .when(cmd.ReleaseRenderedData(now=NOW))
        .then(ev.RenderedDataReleased(), ev.MachineDeleted())
    )
    assert state.deleted


def test_data_released_before_the_host_waits_for_the_host() -> None:
    deprovisioning = [*DELETING, ev.DeprovisioningStarted()]
    given(deprovisioning).when(cmd.ReleaseRenderedData(now=NOW)).then(ev.RenderedDataReleased())
    given(deprovisioning, ev.RenderedDataReleased()).when(cmd.RecordHostReleased(now=NOW)).then(
        ev.HostReleased(host=HOST), ev.MachineDeleted()
    )


def test_host_is_released_only_after_deprovisioning_started() -> None:
    given(DELETING).when(cmd.RecordHostReleased(now=NOW)).then_rejected(rule="release-after-deprovisioning")


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(cmd.StartDeprovisioning(now=NOW), id="deprovision"),
        pytest.param(cmd.RecordHostReleased(now=NOW), id="release-host"),
        pytest.param(cmd.ReleaseRenderedData(now=NOW), id="release-data"),
    ],
)
def test_deletion_steps_need_a_deletion_request(command: cmd.MachineCommand) -> None:
    given(PROVISIONED).when(command).then_rejected(rule="delete-first")


def test_no_association_or_provisioning_while_deleting() -> None:
    deleting = [CREATED, ev.MachineDeletionRequested()]
    given(deleting).when(associate()).then_rejected(rule="no-association-while-deleting")
    given(CREATED, ASSOCIATED, ev.MachineDeletionRequested()).when(
        cmd.RecordHostProvisioned(now=NOW)
    ).then_rejected(rule="no-provisioning-while-deleting")


def test_deleted_machine_is_final_until_a_new_object_appears() -> None:
    deleted = [replace(CREATED, spec=PLAIN_SPEC), ev.MachineDeletionRequested(), ev.MachineDeleted()]
    given(deleted).when(associate()).then_rejected(rule="deleted-is-final")
    given(deleted).when(apply(generation=3)).then_rejected(rule="deleted-is-final")
    given(deleted).when(apply(uid="u-2")).then(replace(CREATED, uid="u-2"))


def test_commands_before_creation_are_not_found() -> None:
    given().when(associate()).then_not_found()


def test_events_round_trip_through_the_codec() -> None:
    for event in [*PROVISIONED, ev.HostReleased(host=HOST, node_reuse_label="kcp"), ev.AddressesChanged()]:
        assert ev.CODEC.decode(encode(event)) == event
