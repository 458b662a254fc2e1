from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest

from core.events import hosts as ev
from core.events.base import Event, event_type_of
from core.events.codec import encode
from core.events.host_values import (
    BIOS,
    CPU,
    LLDP,
    NIC,
    VLAN,
    BMCDetails,
    ConsumerRef,
    CredentialsRef,
    CustomDeploy,
    ErrorType,
    Firmware,
    FirmwareUpdate,
    HardwareDetails,
    HardwareRAIDVolume,
    HardwareSystemVendor,
    HostSpec,
    Image,
    OperationHistory,
    OperationTimes,
    ProvisioningState,
    RAIDConfig,
    RootDeviceHints,
    SecretRef,
    SoftwareRAIDVolume,
    Storage,
)

AT = datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
CREDS = CredentialsRef(name="bmc-secret", version="1001")
IMAGE = Image(
    url="http://192.0.2.1/images/os.qcow2",
    checksum="0123abcd",
    checksum_type="sha256",
    format="qcow2",
    oci_auth_secret_name="pull-secret",
)
HINTS = RootDeviceHints(
    device_name="/dev/disk/by-path/pci-0000:00:17.0-ata-1",
    hctl="0:0:0:0",
    model="SSD 860",
    vendor="Samsung",
    serial_number="S3Z",
    min_size_gigabytes=100,
    wwn="0x5002538e",
    wwn_with_extension="0x5002538e0",
    wwn_vendor_extension="0x0",
    rotational=False,
)
RAID = RAIDConfig(
    hardware_raid_volumes=(
        HardwareRAIDVolume(
            size_gibibytes=100,
            level="1+0",
            name="root",
            rotational=False,
            number_of_physical_disks=4,
            controller="RAID.Integrated.1-1",
            physical_disks=("Disk.Bay.0", "Disk.Bay.1"),
        ),
    )
)
SOFTWARE_RAID = RAIDConfig(
    software_raid_volumes=(SoftwareRAIDVolume(size_gibibytes=50, level="1", physical_disks=(HINTS, HINTS)),)
)
CUSTOM = CustomDeploy(method="install_coreos")
SPEC = HostSpec(
    bmc=BMCDetails(
        address="idrac-virtualmedia+https://192.0.2.10/redfish/v1/Systems/System.Embedded.1",
        credentials_name="bmc-secret",
        disable_certificate_verification=True,
    ),
    online=True,
    boot_mac_address="52:54:00:12:34:56",
    boot_mode="UEFISecureBoot",
    image=IMAGE,
    custom_deploy=CUSTOM,
    user_data=SecretRef(name="user-data", namespace="metal3"),
    network_data=SecretRef(name="network-data"),
    meta_data=SecretRef(name="meta-data"),
    preprovisioning_network_data_name="ppnd",
    root_device_hints=HINTS,
    raid=RAID,
    externally_provisioned=True,
    automated_cleaning_mode="disabled",
    inspection_mode="fast",
    disable_power_off=True,
    architecture="aarch64",
    hardware_profile="libvirt",
    description="rack 4, unit 12",
)
HARDWARE = HardwareDetails(
    system_vendor=HardwareSystemVendor(
        manufacturer="Dell Inc.", product_name="PowerEdge R650", serial_number="X1"
    ),
    firmware=Firmware(bios=BIOS(date="01/01/2024", vendor="Dell", version="1.2.3")),
    ram_mebibytes=262144,
    nics=(
        NIC(
            name="eno1",
            model="0x8086 0x1572",
            mac="52:54:00:12:34:56",
            ip="192.0.2.50",
            speed_gbps=25,
            vlans=(VLAN(id=100, name="prov"),),
            vlan_id=100,
            pxe=True,
            lldp=LLDP(switch_id="aa:bb:cc:dd:ee:ff", port_id="Ethernet1/1", switch_system_name="leaf-1"),
            pci_address="0000:3b:00.0",
        ),
    ),
    storage=(
        Storage(
            name="/dev/sda",
            alternate_names=("/dev/disk/by-id/wwn-0x5002538e",),
            rotational=False,
            type="SSD",
            size_bytes=480_103_981_056,
            vendor="ATA",
            model="SSD 860",
            serial_number="S3Z",
            wwn="0x5002538e",
            wwn_vendor_extension="0x0",
            wwn_with_extension="0x5002538e0",
            hctl="0:0:0:0",
        ),
    ),
    cpu=CPU(
        arch="x86_64", model="Intel Xeon Gold 6338", clock_megahertz=2000.5, flags=("vmx", "avx2"), count=64
    ),
    hostname="worker-0",
)
MACHINE = ConsumerRef(
    api_version="infrastructure.cluster.x-k8s.io/v1beta1",
    kind="Metal3Machine",
    namespace="metal3",
    name="m-0",
    uid="4f7c",
)

SAMPLES: dict[type[Event], list[Event]] = {
    ev.HostCreated: [
        ev.HostCreated(
            namespace="metal3",
            name="worker-0",
            uid="u-1",
            generation=3,
            spec=SPEC,
            max_provisioning_retries=0,
        ),
        ev.HostCreated(namespace="metal3", name="worker-0", uid="u-1", generation=1, spec=HostSpec()),
    ],
    ev.SpecChanged: [
        ev.SpecChanged(generation=4, spec=SPEC, max_provisioning_retries=2),
        ev.SpecChanged(generation=5, spec=HostSpec(raid=SOFTWARE_RAID)),
    ],
    ev.CredentialsObserved: [ev.CredentialsObserved(credentials=CREDS)],
    ev.Paused: [ev.Paused()],
    ev.Resumed: [ev.Resumed()],
    ev.DetachRequested: [ev.DetachRequested(delete_action="delay", force=True), ev.DetachRequested()],
    ev.AttachRequested: [ev.AttachRequested()],
    ev.RebootRequested: [
        ev.RebootRequested(key="remediation", mode="hard", force=True),
        ev.RebootRequested(key=""),
    ],
    ev.RebootCompleted: [ev.RebootCompleted(key="remediation")],
    ev.InspectionRequested: [ev.InspectionRequested()],
    ev.StatusRestored: [
        ev.StatusRestored(
            provisioning_state=ProvisioningState.PROVISIONED,
            provisioning_id="node-1",
            image=IMAGE,
            custom_deploy=CUSTOM,
            hardware=HARDWARE,
            powered_on=True,
            good_credentials=CREDS,
            operation_history=OperationHistory(
                register=OperationTimes(start="2025-01-01T00:00:00Z", end="2025-01-01T00:01:00Z"),
                provision=OperationTimes(start="2025-01-01T00:05:00Z"),
            ),
        ),
        ev.StatusRestored(provisioning_state=ProvisioningState.NONE),
    ],
    ev.DeletionRequested: [ev.DeletionRequested()],
    ev.ConsumerClaimed: [ev.ConsumerClaimed(consumer=MACHINE)],
    ev.ConsumerReleased: [ev.ConsumerReleased(consumer=ConsumerRef(name="m-0"))],
    ev.ProvisioningStateChanged: [
        ev.ProvisioningStateChanged(
            previous=ProvisioningState.POWERING_OFF_BEFORE_DELETE,
            state=ProvisioningState.DELETING,
            reason="powered off",
            at=AT,
        )
    ],
    ev.ErrorRecorded: [
        ev.ErrorRecorded(
            error_type=ErrorType.PROVISIONED_REGISTRATION,
            message="adopt failed",
            error_count=7,
            retry_not_before=AT,
        )
    ],
    ev.ErrorCleared: [ev.ErrorCleared()],
    ev.ProvisioningAttemptStarted: [
        ev.ProvisioningAttemptStarted(image=IMAGE, custom_deploy=CUSTOM, fail_count=2),
        ev.ProvisioningAttemptStarted(),
    ],
    ev.ProvisioningAttemptFailed: [ev.ProvisioningAttemptFailed(fail_count=3)],
    ev.ProvisioningFailCountReset: [ev.ProvisioningFailCountReset(reason="image changed")],
    ev.RegistrationSucceeded: [
        ev.RegistrationSucceeded(provisioning_id="node-1", credentials=CREDS),
        ev.RegistrationSucceeded(provisioning_id="node-1"),
    ],
    ev.RegistrationLost: [ev.RegistrationLost(reason="ironic database lost")],
    ev.HardwareInspected: [ev.HardwareInspected(hardware=HARDWARE, source="annotation")],
    ev.PreparationCompleted: [
        ev.PreparationCompleted(raid=RAID, root_device_hints=HINTS),
        ev.PreparationCompleted(),
        ev.PreparationCompleted(
            firmware_settings={"ProcTurboMode": "Disabled"},
            firmware_updates=(FirmwareUpdate(component="bmc", url="https://fw.example/bmc.bin"),),
        ),
    ],
    ev.FirmwareConfigChanged: [
        ev.FirmwareConfigChanged(
            settings={"ProcTurboMode": "Disabled", "NumCores": "8"},
            updates=(FirmwareUpdate(component="nic:NIC.1", url="https://fw.example/nic.bin"),),
            settings_generation=3,
            updates_generation=1,
        ),
        ev.FirmwareConfigChanged(),
    ],
    ev.ProvisioningCompleted: [
        ev.ProvisioningCompleted(
            image=IMAGE, custom_deploy=CUSTOM, root_device_hints=HINTS, boot_mode="legacy"
        )
    ],
    ev.DeprovisioningCompleted: [ev.DeprovisioningCompleted()],
    ev.Adopted: [ev.Adopted()],
    ev.PowerObserved: [ev.PowerObserved(powered_on=True), ev.PowerObserved(powered_on=False)],
    ev.Delayed: [ev.Delayed()],
    ev.Undelayed: [ev.Undelayed()],
    ev.DetachCompleted: [ev.DetachCompleted()],
    ev.HostDeleted: [ev.HostDeleted()],
    ev.BmcAccessValidated: [ev.BmcAccessValidated(credentials=CREDS), ev.BmcAccessValidated()],
}


def _all_samples() -> list[object]:
    return [
        pytest.param(sample, id=f"{cls.__name__}-{n}")
        for cls, samples in SAMPLES.items()
        for n, sample in enumerate(samples)
    ]


def test_every_host_event_class_has_a_sample() -> None:
    assert set(SAMPLES) == set(ev.HOST_EVENT_CLASSES)


@pytest.mark.parametrize("event", _all_samples())
def test_host_event_survives_encoding_and_decoding(event: Event) -> None:
    decoded = ev.CODEC.decode(encode(event))

    assert type(decoded) is type(event)
    assert decoded == event


@pytest.mark.parametrize("event", _all_samples())
def test_host_event_is_written_with_its_type_tag_and_camel_case_keys(event: Event) -> None:
    wire = json.loads(encode(event))

    assert wire["type"] == event_type_of(event)
    assert all("_" not in key for key in wire)


def test_every_host_event_tag_is_unique_and_namespaced_by_host() -> None:
    tags = [event_type_of(sample[0]) for sample in SAMPLES.values()]

    assert len(set(tags)) == len(tags)
    assert all(tag.startswith("host.") for tag in tags)
    assert ev.CODEC.event_types == frozenset(tags)


def test_host_codec_knows_every_host_event_at_version_one() -> None:
    for cls, samples in SAMPLES.items():
        assert ev.CODEC.knows(samples[0])
        assert ev.CODEC.version_of(samples[0]) == 1
        assert ev.CODEC.current_version(event_type_of(samples[0])) == cls.schema_version == 1


WIRE_FORMS = [
    pytest.param(
        SAMPLES[ev.ProvisioningStateChanged][0],
        {
            "type": "host.provisioning_state_changed",
            "previous": "powering off before delete",
            "state": "deleting",
            "reason": "powered off",
            "at": "2025-03-01T09:30:15.123456Z",
        },
        id="state change",
    ),
    pytest.param(
        SAMPLES[ev.ErrorRecorded][0],
        {
            "type": "host.error_recorded",
            "errorType": "provisioned registration error",
            "message": "adopt failed",
            "errorCount": 7,
            "retryNotBefore": "2025-03-01T09:30:15.123456Z",
        },
        id="error",
    ),
    pytest.param(
        ev.SpecChanged(generation=2, spec=HostSpec(bmc=BMCDetails(address="ipmi://192.0.2.1"), online=True)),
        {
            "type": "host.spec_changed",
            "generation": 2,
            "spec": {"bmc": {"address": "ipmi://192.0.2.1"}, "online": True},
            "maxProvisioningRetries": 5,
        },
        id="spec, Metal3 field names, defaults left out",
    ),
    pytest.param(
        ev.HardwareInspected(hardware=HardwareDetails(nics=(NIC(lldp=LLDP(switch_id="s", port_id="p")),))),
        {
            "type": "host.hardware_inspected",
            "hardware": {"nics": [{"lldp": {"switchID": "s", "portID": "p"}}]},
            "source": "inspection",
        },
        id="hardware, Metal3 LLDP names",
    ),
]


@pytest.mark.parametrize(("event", "wire"), WIRE_FORMS)
def test_host_event_wire_form_is_stable(event: Event, wire: dict[str, object]) -> None:
    assert json.loads(encode(event)) == wire
    assert ev.CODEC.decode(json.dumps(wire).encode()) == event


def test_value_types_cannot_be_mutated() -> None:
    with pytest.raises(AttributeError):
        SPEC.online = False  # type: ignore[misc]


def test_host_events_reject_unknown_keyword_fields() -> None:
    with pytest.raises(TypeError):
        ev.PowerObserved(powered_on=True, when=AT)  # type: ignore[call-arg]


def test_host_spec_decodes_with_metal3_defaults() -> None:
    assert msgspec.json.decode(b"{}", type=HostSpec) == HostSpec(
        online=False, boot_mode="UEFI", automated_cleaning_mode="metadata"
    )
