"""Canonical host histories and the values they use, written event by event.

Each builder returns the events a host has when it rests in one provisioning state, exactly as
``decide`` records them (``test_host_lifecycle`` replays the commands and checks that it does).
All of them are recorded at ``T0``; tests issue their commands at ``NOW`` or later.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from msgspec.structs import replace

from core.aggregates import host_commands as cmd
from core.aggregates.hosts import DEFINITION
from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import (
    CPU,
    NIC,
    BMCDetails,
    ConsumerRef,
    CredentialsRef,
    DeleteAction,
    ErrorType,
    HardwareDetails,
    HostSpec,
    Image,
    ProvisioningState,
    Storage,
)

PS = ProvisioningState

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)

NAMESPACE = "metal3"
NAME = "worker-0"
UID = "6f1c2a3e-0000-4000-8000-000000000001"
OTHER_UID = "6f1c2a3e-0000-4000-8000-000000000002"
NODE = "a4b7e2f0-1111-4111-8111-000000000001"
SECRET = "worker-0-bmc-secret"
CREDS_V1 = CredentialsRef(name=SECRET, version="1001")
CREDS_V2 = CredentialsRef(name=SECRET, version="1002")

BMC = BMCDetails(address="redfish+https://192.0.2.10/redfish/v1/Systems/1", credentials_name=SECRET)
IMAGE = Image(
    url="http://192.0.2.1/images/ubuntu-24.04.qcow2",
    checksum="http://192.0.2.1/images/ubuntu-24.04.qcow2.sha256sum",
    checksum_type="sha256",
    format="qcow2",
)
IMAGE_2 = Image(
    url="http://192.0.2.1/images/ubuntu-24.10.qcow2",
    checksum="http://192.0.2.1/images/ubuntu-24.10.qcow2.sha256sum",
    checksum_type="sha256",
    format="qcow2",
)
HARDWARE = HardwareDetails(
    ram_mebibytes=32768,
    cpu=CPU(arch="x86_64", model="Intel Xeon", count=16),
    nics=(NIC(name="eno1", mac="52:54:00:12:34:56", pxe=True),),
    storage=(Storage(name="/dev/sda", size_bytes=480_103_981_056, type="SSD"),),
)

SPEC = HostSpec(bmc=BMC, online=True, boot_mac_address="52:54:00:12:34:56")
"""Managed, powered on, no image: settles in ``available`` once prepared."""

MACHINE = ConsumerRef(
    api_version="infrastructure.cluster.x-k8s.io/v1beta1",
    kind="Metal3Machine",
    namespace=NAMESPACE,
    name="m-0",
)
OTHER_MACHINE = replace(MACHINE, name="m-1")


def created(spec: HostSpec = SPEC, *, uid: str = UID, generation: int = 1) -> ev.HostCreated:
    return ev.HostCreated(namespace=NAMESPACE, name=NAME, uid=uid, generation=generation, spec=spec)


def moved(previous: PS, state: PS, reason: str, at: datetime = T0) -> ev.ProvisioningStateChanged:
    return ev.ProvisioningStateChanged(previous=previous, state=state, reason=reason, at=at)


def unmanaged_host(spec: HostSpec | None = None) -> list[Event]:
    return [created(spec or HostSpec()), moved(PS.NONE, PS.UNMANAGED, "no BMC details")]


def registering_host(spec: HostSpec = SPEC) -> list[Event]:
    return [created(spec), moved(PS.NONE, PS.REGISTERING, "BMC details present")]


def registered() -> list[Event]:
    return [
        ev.CredentialsObserved(credentials=CREDS_V1),
        ev.RegistrationSucceeded(provisioning_id=NODE, credentials=CREDS_V1),
    ]


def inspecting_host(spec: HostSpec = SPEC) -> list[Event]:
    return [
        *registering_host(spec),
        *registered(),
        moved(PS.REGISTERING, PS.INSPECTING, "registered"),
        ev.PowerObserved(powered_on=True),
    ]


def preparing_host(spec: HostSpec = SPEC) -> list[Event]:
    return [
        *inspecting_host(spec),
        ev.HardwareInspected(hardware=HARDWARE),
        moved(PS.INSPECTING, PS.PREPARING, "inspection complete"),
    ]


def available_host(spec: HostSpec = SPEC) -> list[Event]:
    return [
        *preparing_host(spec),
        ev.PreparationCompleted(raid=spec.raid, root_device_hints=spec.root_device_hints),
        moved(PS.PREPARING, PS.AVAILABLE, "preparation complete"),
    ]


def provisioning_host(image: Image = IMAGE, spec: HostSpec = SPEC) -> list[Event]:
    return [
        *available_host(spec),
        ev.SpecChanged(generation=2, spec=replace(spec, image=image)),
        ev.ProvisioningAttemptStarted(image=image),
        moved(PS.AVAILABLE, PS.PROVISIONING, "image requested"),
    ]


def provisioned_host(image: Image = IMAGE, spec: HostSpec = SPEC) -> list[Event]:
    return [
        *provisioning_host(image, spec),
        ev.ProvisioningCompleted(image=image, boot_mode=spec.boot_mode),
        moved(PS.PROVISIONING, PS.PROVISIONED, "provisioning complete"),
    ]


def deprovisioning_host(new_image: Image | None = None) -> list[Event]:
    """Provisioned with ``IMAGE``, then the spec asked for ``new_image`` (None: image removed)."""
    return [
        *provisioned_host(),
        ev.SpecChanged(generation=3, spec=replace(SPEC, image=new_image)),
        moved(PS.PROVISIONED, PS.DEPROVISIONING, "image changed or removed"),
    ]


def externally_provisioned_host(spec: HostSpec | None = None) -> list[Event]:
    spec = spec or replace(SPEC, externally_provisioned=True, image=IMAGE)
    return [
        *registering_host(spec),
        *registered(),
        moved(PS.REGISTERING, PS.EXTERNALLY_PROVISIONED, "registered; externally provisioned"),
        ev.PowerObserved(powered_on=True),
    ]


def powering_off_host() -> list[Event]:
    """Deleted while available and powered on: waiting for the power-off."""
    return [
        *available_host(),
        ev.DeletionRequested(),
        moved(PS.AVAILABLE, PS.POWERING_OFF_BEFORE_DELETE, "deleted"),
    ]


def deleting_host() -> list[Event]:
    return [
        *powering_off_host(),
        ev.PowerObserved(powered_on=False),
        moved(PS.POWERING_OFF_BEFORE_DELETE, PS.DELETING, "powered off"),
    ]


def deleted_host() -> list[Event]:
    return [*deleting_host(), ev.HostDeleted()]


def detached_host(base: list[Event] | None = None, *, delete_action: DeleteAction = "delete") -> list[Event]:
    """Detached (Ironic let go of the node) from ``base``, provisioned by default."""
    return [
        *(provisioned_host() if base is None else base),
        ev.DetachRequested(delete_action=delete_action),
        ev.DetachCompleted(),
    ]


def failed(
    error_type: ErrorType, count: int, message: str = "it failed", at: datetime = T0
) -> ev.ErrorRecorded:
    """The ``count``-th consecutive failure, recorded at ``at`` with no jitter."""
    return ev.ErrorRecorded(
        error_type=error_type,
        message=message,
        error_count=count,
        retry_not_before=at + timedelta(minutes=2 ** min(count, 9)),
    )


def apply(spec: HostSpec, history: list[Event], *, now: datetime = NOW, uid: str = UID) -> cmd.ApplySpec:
    """The next spec generation for a host with ``history``."""
    generation = DEFINITION.fold(history).generation + 1
    return cmd.ApplySpec(now=now, namespace=NAMESPACE, name=NAME, uid=uid, generation=generation, spec=spec)


def create(spec: HostSpec = SPEC, *, now: datetime = NOW, uid: str = UID) -> cmd.ApplySpec:
    return cmd.ApplySpec(now=now, namespace=NAMESPACE, name=NAME, uid=uid, generation=1, spec=spec)
