from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from msgspec.structs import replace

from core.aggregates import host_commands as cmd
from core.aggregates.hosts import DEFINITION, decide
from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import (
    BMCDetails,
    CustomDeploy,
    ErrorType,
    HostSpec,
    OperationalStatus,
    OperationHistory,
    OperationTimes,
    ProvisioningState,
    RAIDConfig,
    RootDeviceHints,
    SoftwareRAIDVolume,
)
from tests.core.aggregates.gwt import given
from tests.core.aggregates.histories import (
    BMC,
    CREDS_V1,
    HARDWARE,
    IMAGE,
    IMAGE_2,
    MACHINE,
    NAME,
    NAMESPACE,
    NODE,
    NOW,
    OTHER_UID,
    SECRET,
    SPEC,
    T0,
    UID,
    apply,
    available_host,
    create,
    created,
    deleted_host,
    deprovisioning_host,
    detached_host,
    externally_provisioned_host,
    failed,
    inspecting_host,
    moved,
    preparing_host,
    provisioned_host,
    provisioning_host,
    registering_host,
    unmanaged_host,
)

PS = ProvisioningState


def _run(commands: list[cmd.HostCommand]) -> list[Event]:
    state = DEFINITION.initial
    recorded: list[Event] = []
    for command in commands:
        events = decide(state, command)
        state = DEFINITION.fold(events, state)
        recorded.extend(events)
    return recorded


def test_commands_from_creation_to_provisioned_record_exactly_the_canonical_history() -> None:
    recorded = _run(
        [
            create(now=T0),
            cmd.ObserveCredentials(now=T0, secret_name=SECRET, version=CREDS_V1.version),
            cmd.RecordRegistration(now=T0, provisioning_id=NODE, credentials_version=CREDS_V1.version),
            cmd.RecordPower(now=T0, powered_on=True),
            cmd.RecordInspection(now=T0, hardware=HARDWARE),
            cmd.RecordPreparation(now=T0),
            apply(replace(SPEC, image=IMAGE), available_host(), now=T0),
            cmd.RecordProvisioned(now=T0),
        ]
    )

    assert recorded == provisioned_host()


def test_commands_from_creation_to_externally_provisioned_record_exactly_the_canonical_history() -> None:
    spec = replace(SPEC, externally_provisioned=True, image=IMAGE)
    recorded = _run(
        [
            create(spec, now=T0),
            cmd.ObserveCredentials(now=T0, secret_name=SECRET, version=CREDS_V1.version),
            cmd.RecordRegistration(now=T0, provisioning_id=NODE, credentials_version=CREDS_V1.version),
            cmd.RecordPower(now=T0, powered_on=True),
        ]
    )

    assert recorded == externally_provisioned_host()


def test_commands_from_creation_to_deleted_record_exactly_the_canonical_history() -> None:
    recorded = _run(
        [
            create(now=T0),
            cmd.ObserveCredentials(now=T0, secret_name=SECRET, version=CREDS_V1.version),
            cmd.RecordRegistration(now=T0, provisioning_id=NODE, credentials_version=CREDS_V1.version),
            cmd.RecordPower(now=T0, powered_on=True),
            cmd.RecordInspection(now=T0, hardware=HARDWARE),
            cmd.RecordPreparation(now=T0),
            cmd.RequestDeletion(now=T0),
            cmd.RecordPower(now=T0, powered_on=False),
            cmd.RecordNodeDeleted(now=T0),
        ]
    )

    assert recorded == deleted_host()


NO_BMC = HostSpec(online=True)
DESCRIBED_NO_BMC = replace(NO_BMC, description="rack 4")
ADDRESS_ONLY = HostSpec(bmc=BMCDetails(address=BMC.address), online=True)
DISABLED_INSPECTION = replace(SPEC, inspection_mode="disabled")
EXTERNAL = replace(SPEC, externally_provisioned=True)
WITH_IMAGE = replace(SPEC, image=IMAGE)
WITH_IMAGE_2 = replace(SPEC, image=IMAGE_2)
CUSTOM = CustomDeploy(method="install_coreos")
RAID = RAIDConfig(software_raid_volumes=(SoftwareRAIDVolume(level="1"),))
HINTS = RootDeviceHints(device_name="/dev/sdb")
WITH_RAID_AND_HINTS = replace(SPEC, raid=RAID, root_device_hints=HINTS)
WITH_CUSTOM_DEPLOY = replace(SPEC, custom_deploy=CUSTOM)
OFFLINE_WITH_IMAGE = replace(SPEC, online=False, image=IMAGE)


def _spec_changed(spec: HostSpec, generation: int) -> ev.SpecChanged:
    return ev.SpecChanged(generation=generation, spec=spec)


def _registered_now() -> list[Event]:
    return [ev.RegistrationSucceeded(provisioning_id=NODE, credentials=CREDS_V1)]


TRANSITIONS = [
    pytest.param(
        [],
        create(),
        [created(), moved(PS.NONE, PS.REGISTERING, "BMC details present", NOW)],
        id="created with BMC details -> registering",
    ),
    pytest.param(
        [],
        create(ADDRESS_ONLY),
        [created(ADDRESS_ONLY), moved(PS.NONE, PS.REGISTERING, "BMC details present", NOW)],
        id="created with only a BMC address -> registering (credentials are checked there)",
    ),
    pytest.param(
        [],
        create(NO_BMC),
        [created(NO_BMC), moved(PS.NONE, PS.UNMANAGED, "no BMC details", NOW)],
        id="created without BMC details -> unmanaged",
    ),
    pytest.param(
        unmanaged_host(NO_BMC),
        apply(SPEC, unmanaged_host(NO_BMC)),
        [_spec_changed(SPEC, 2), moved(PS.UNMANAGED, PS.REGISTERING, "BMC details added", NOW)],
        id="unmanaged -> registering when BMC details appear",
    ),
    pytest.param(
        unmanaged_host(NO_BMC),
        apply(DESCRIBED_NO_BMC, unmanaged_host(NO_BMC)),
        [_spec_changed(DESCRIBED_NO_BMC, 2)],
        id="unmanaged stays unmanaged while there are no BMC details",
    ),
    pytest.param(
        registering_host(),
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE, credentials_version=CREDS_V1.version),
        [*_registered_now(), moved(PS.REGISTERING, PS.INSPECTING, "registered", NOW)],
        id="registering -> inspecting once registered",
    ),
    pytest.param(
        registering_host(DISABLED_INSPECTION),
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE, credentials_version=CREDS_V1.version),
        [*_registered_now(), moved(PS.REGISTERING, PS.PREPARING, "registered; inspection disabled", NOW)],
        id="registering -> preparing when inspectionMode is disabled",
    ),
    pytest.param(
        registering_host(EXTERNAL),
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE, credentials_version=CREDS_V1.version),
        [
            *_registered_now(),
            moved(PS.REGISTERING, PS.EXTERNALLY_PROVISIONED, "registered; externally provisioned", NOW),
        ],
        id="registering -> externally provisioned when externallyProvisioned is set",
    ),
    pytest.param(
        registering_host(),
        cmd.ObserveCredentials(now=NOW, secret_name=SECRET, version=CREDS_V1.version),
        [ev.CredentialsObserved(credentials=CREDS_V1)],
        id="registering waits for the registration to be observed",
    ),
    pytest.param(
        inspecting_host(),
        cmd.RecordInspection(now=NOW, hardware=HARDWARE),
        [
            ev.HardwareInspected(hardware=HARDWARE),
            moved(PS.INSPECTING, PS.PREPARING, "inspection complete", NOW),
        ],
        id="inspecting -> preparing when inspection completes",
    ),
    pytest.param(
        preparing_host(),
        cmd.RecordPreparation(now=NOW),
        [ev.PreparationCompleted(), moved(PS.PREPARING, PS.AVAILABLE, "preparation complete", NOW)],
        id="preparing -> available when preparation completes",
    ),
    pytest.param(
        preparing_host(WITH_RAID_AND_HINTS),
        cmd.RecordPreparation(now=NOW),
        [
            ev.PreparationCompleted(raid=RAID, root_device_hints=HINTS),
            moved(PS.PREPARING, PS.AVAILABLE, "preparation complete", NOW),
        ],
        id="preparing -> available records the RAID and root device hints applied",
    ),
    pytest.param(
        preparing_host(WITH_IMAGE),
        cmd.RecordPreparation(now=NOW),
        [
            ev.PreparationCompleted(),
            moved(PS.PREPARING, PS.AVAILABLE, "preparation complete", NOW),
            ev.ProvisioningAttemptStarted(image=IMAGE),
            moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", NOW),
        ],
        id="preparing -> available -> provisioning when an image is already requested",
    ),
    pytest.param(
        available_host(),
        apply(WITH_IMAGE, available_host()),
        [
            _spec_changed(WITH_IMAGE, 2),
            ev.ProvisioningAttemptStarted(image=IMAGE),
            moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", NOW),
        ],
        id="available -> provisioning when online with an image",
    ),
    pytest.param(
        available_host(),
        apply(WITH_CUSTOM_DEPLOY, available_host()),
        [
            _spec_changed(WITH_CUSTOM_DEPLOY, 2),
            ev.ProvisioningAttemptStarted(custom_deploy=CUSTOM),
            moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", NOW),
        ],
        id="available -> provisioning for a custom deploy",
    ),
    pytest.param(
        available_host(),
        apply(OFFLINE_WITH_IMAGE, available_host()),
        [_spec_changed(OFFLINE_WITH_IMAGE, 2)],
        id="available stays available while offline even with an image",
    ),
    pytest.param(
        available_host(),
        cmd.RequestInspection(now=NOW),
        [ev.InspectionRequested(), moved(PS.AVAILABLE, PS.INSPECTING, "inspection requested", NOW)],
        id="available -> inspecting on an inspection request",
    ),
    pytest.param(
        available_host(),
        apply(replace(SPEC, raid=RAID), available_host()),
        [
            _spec_changed(replace(SPEC, raid=RAID), 2),
            moved(PS.AVAILABLE, PS.PREPARING, "RAID or root device hints changed", NOW),
        ],
        id="available -> preparing when RAID changes",
    ),
    pytest.param(
        available_host(),
        apply(replace(SPEC, root_device_hints=HINTS), available_host()),
        [
            _spec_changed(replace(SPEC, root_device_hints=HINTS), 2),
            moved(PS.AVAILABLE, PS.PREPARING, "RAID or root device hints changed", NOW),
        ],
        id="available -> preparing when root device hints change",
    ),
    pytest.param(
        available_host(),
        apply(EXTERNAL, available_host()),
        [
            _spec_changed(EXTERNAL, 2),
            moved(PS.AVAILABLE, PS.EXTERNALLY_PROVISIONED, "externallyProvisioned set", NOW),
        ],
        id="available -> externally provisioned when externallyProvisioned is set",
    ),
    pytest.param(
        provisioning_host(),
        cmd.RecordProvisioned(now=NOW),
        [
            ev.ProvisioningCompleted(image=IMAGE),
            moved(PS.PROVISIONING, PS.PROVISIONED, "provisioning complete", NOW),
        ],
        id="provisioning -> provisioned when the image is written",
    ),
    pytest.param(
        provisioning_host(),
        cmd.RecordFailure(now=NOW, error_type=ErrorType.PROVISIONING, message="deploy failed"),
        [
            failed(ErrorType.PROVISIONING, 1, "deploy failed", NOW),
            ev.ProvisioningAttemptFailed(fail_count=1),
            moved(PS.PROVISIONING, PS.DEPROVISIONING, "provisioning failed", NOW),
        ],
        id="provisioning -> deprovisioning on failure, counting the failed attempt",
    ),
    pytest.param(
        provisioning_host(),
        apply(WITH_IMAGE_2, provisioning_host()),
        [
            _spec_changed(WITH_IMAGE_2, 3),
            moved(
                PS.PROVISIONING, PS.DEPROVISIONING, "provisioning cancelled: image changed or removed", NOW
            ),
        ],
        id="provisioning -> deprovisioning when the image changes (cancelled)",
    ),
    pytest.param(
        provisioning_host(),
        apply(SPEC, provisioning_host()),
        [
            _spec_changed(SPEC, 3),
            moved(
                PS.PROVISIONING, PS.DEPROVISIONING, "provisioning cancelled: image changed or removed", NOW
            ),
        ],
        id="provisioning -> deprovisioning when the image is removed (cancelled)",
    ),
    pytest.param(
        provisioning_host(),
        apply(replace(WITH_IMAGE, description="rack 4"), provisioning_host()),
        [_spec_changed(replace(WITH_IMAGE, description="rack 4"), 3)],
        id="provisioning continues through an unrelated spec change",
    ),
    pytest.param(
        provisioned_host(),
        apply(WITH_IMAGE_2, provisioned_host()),
        [
            _spec_changed(WITH_IMAGE_2, 3),
            moved(PS.PROVISIONED, PS.DEPROVISIONING, "image changed or removed", NOW),
        ],
        id="provisioned -> deprovisioning when the image changes",
    ),
    pytest.param(
        provisioned_host(),
        apply(SPEC, provisioned_host()),
        [_spec_changed(SPEC, 3), moved(PS.PROVISIONED, PS.DEPROVISIONING, "image changed or removed", NOW)],
        id="provisioned -> deprovisioning when the image is removed",
    ),
    pytest.param(
        provisioned_host(),
        apply(replace(WITH_IMAGE, online=False), provisioned_host()),
        [_spec_changed(replace(WITH_IMAGE, online=False), 3)],
        id="provisioned stays provisioned when only power is changed",
    ),
    pytest.param(
        deprovisioning_host(None),
        cmd.RecordDeprovisioned(now=NOW),
        [
            ev.DeprovisioningCompleted(),
            moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete", NOW),
        ],
        id="deprovisioning -> available when done and the image was removed",
    ),
    pytest.param(
        deprovisioning_host(IMAGE_2),
        cmd.RecordDeprovisioned(now=NOW),
        [
            ev.DeprovisioningCompleted(),
            moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete", NOW),
            ev.ProvisioningAttemptStarted(image=IMAGE_2),
            moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", NOW),
        ],
        id="deprovisioning -> available -> provisioning the new image (re-provisioning)",
    ),
    pytest.param(
        externally_provisioned_host(),
        apply(WITH_IMAGE, externally_provisioned_host()),
        [
            _spec_changed(WITH_IMAGE, 2),
            moved(PS.EXTERNALLY_PROVISIONED, PS.PROVISIONED, "externallyProvisioned cleared", NOW),
        ],
        id="externally provisioned -> provisioned when externallyProvisioned is cleared",
    ),
    pytest.param(
        externally_provisioned_host(EXTERNAL),
        apply(SPEC, externally_provisioned_host(EXTERNAL)),
        [
            _spec_changed(SPEC, 2),
            moved(PS.EXTERNALLY_PROVISIONED, PS.PROVISIONED, "externallyProvisioned cleared", NOW),
            moved(PS.PROVISIONED, PS.DEPROVISIONING, "nothing is provisioned", NOW),
        ],
        id="externally provisioned -> provisioned -> deprovisioning when no image is set",
    ),
    pytest.param(
        externally_provisioned_host(),
        apply(
            replace(SPEC, externally_provisioned=True, image=IMAGE, online=False),
            externally_provisioned_host(),
        ),
        [_spec_changed(replace(SPEC, externally_provisioned=True, image=IMAGE, online=False), 2)],
        id="externally provisioned stays while externallyProvisioned is set",
    ),
]


@pytest.mark.parametrize(("history", "command", "expected"), TRANSITIONS)
def test_host_moves_through_metal3_provisioning_states(
    history: list[Event], command: cmd.HostCommand, expected: list[Event]
) -> None:
    given(history).when(command).then(*expected)


def test_clearing_externally_provisioned_makes_the_declared_image_the_provisioned_one() -> None:
    state = (
        given(externally_provisioned_host())
        .when(apply(WITH_IMAGE, externally_provisioned_host()))
        .then(
            _spec_changed(WITH_IMAGE, 2),
            moved(PS.EXTERNALLY_PROVISIONED, PS.PROVISIONED, "externallyProvisioned cleared", NOW),
        )
    )

    assert state.provisioned_image == IMAGE
    assert state.provisioning_state is PS.PROVISIONED


def test_provisioned_host_remembers_what_was_written() -> None:
    state = (
        given(provisioning_host(spec=WITH_RAID_AND_HINTS))
        .when(cmd.RecordProvisioned(now=NOW))
        .then(
            ev.ProvisioningCompleted(image=IMAGE, root_device_hints=HINTS),
            moved(PS.PROVISIONING, PS.PROVISIONED, "provisioning complete", NOW),
        )
    )

    assert (state.provisioned_image, state.provisioned_root_device_hints, state.provisioned_boot_mode) == (
        IMAGE,
        HINTS,
        "UEFI",
    )


def test_deprovisioning_forgets_what_was_written() -> None:
    state = (
        given(deprovisioning_host(None))
        .when(cmd.RecordDeprovisioned(now=NOW))
        .then(
            ev.DeprovisioningCompleted(),
            moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete", NOW),
        )
    )

    assert state.provisioned_image is None
    assert state.provisioned_boot_mode is None


def test_inspection_stores_the_hardware_details() -> None:
    state = (
        given(inspecting_host())
        .when(cmd.RecordInspection(now=NOW, hardware=HARDWARE))
        .then(
            ev.HardwareInspected(hardware=HARDWARE),
            moved(PS.INSPECTING, PS.PREPARING, "inspection complete", NOW),
        )
    )

    assert state.hardware == HARDWARE


STALE_OBSERVATIONS = [
    pytest.param(
        available_host(), cmd.RecordInspection(now=NOW, hardware=HARDWARE), id="inspection when available"
    ),
    pytest.param(
        registering_host(), cmd.RecordInspection(now=NOW, hardware=HARDWARE), id="inspection when registering"
    ),
    pytest.param(inspecting_host(), cmd.RecordPreparation(now=NOW), id="preparation when inspecting"),
    pytest.param(available_host(), cmd.RecordPreparation(now=NOW), id="preparation repeated after a crash"),
    pytest.param(available_host(), cmd.RecordProvisioned(now=NOW), id="provisioned when available"),
    pytest.param(provisioned_host(), cmd.RecordProvisioned(now=NOW), id="provisioned repeated after a crash"),
    pytest.param(provisioned_host(), cmd.RecordDeprovisioned(now=NOW), id="deprovisioned when provisioned"),
    pytest.param(
        available_host(), cmd.RecordDeprovisioned(now=NOW), id="deprovisioned repeated after a crash"
    ),
    pytest.param(available_host(), cmd.RecordNodeDeleted(now=NOW), id="node deleted when available"),
    pytest.param(
        unmanaged_host(),
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE),
        id="registration when unmanaged",
    ),
    pytest.param(
        [created()],
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE),
        id="registration before the state machine started",
    ),
    pytest.param(available_host(), cmd.RecordDelayed(now=NOW), id="delayed when available"),
    pytest.param(provisioned_host(), cmd.RecordDetached(now=NOW), id="detached without a detach request"),
]


@pytest.mark.parametrize(("history", "command"), STALE_OBSERVATIONS)
def test_observation_in_the_wrong_state_is_rejected(history: list[Event], command: cmd.HostCommand) -> None:
    given(history).when(command).then_rejected(rule="observation-out-of-state")


def _every_command_but_apply_spec() -> list[cmd.HostCommand]:
    return [
        cmd.ObserveCredentials(now=NOW, secret_name=SECRET, version="1"),
        cmd.Pause(now=NOW),
        cmd.Resume(now=NOW),
        cmd.Detach(now=NOW),
        cmd.Reattach(now=NOW),
        cmd.RequestReboot(now=NOW),
        cmd.CompleteReboot(now=NOW),
        cmd.RequestInspection(now=NOW),
        cmd.ProvideHardwareDetails(now=NOW, hardware=HARDWARE),
        cmd.RequestDeletion(now=NOW),
        cmd.ClaimHost(now=NOW, consumer=MACHINE),
        cmd.ReleaseHost(now=NOW, consumer=MACHINE),
        cmd.ResetProvisioningFailCount(now=NOW),
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE),
        cmd.RecordBmcAccess(now=NOW, credentials_version="1"),
        cmd.RecordRegistrationLost(now=NOW, reason="ironic database lost"),
        cmd.RecordInspection(now=NOW, hardware=HARDWARE),
        cmd.RecordPreparation(now=NOW),
        cmd.RecordProvisioned(now=NOW),
        cmd.RecordDeprovisioned(now=NOW),
        cmd.RecordAdopted(now=NOW),
        cmd.RecordPower(now=NOW, powered_on=False),
        cmd.RecordFailure(now=NOW, error_type=ErrorType.DETACH, message="x"),
        cmd.RecordDelayed(now=NOW),
        cmd.RecordUndelayed(now=NOW),
        cmd.RecordDetached(now=NOW),
        cmd.RecordNodeDeleted(now=NOW),
    ]


def _by_name(commands: list[cmd.HostCommand]) -> list[object]:
    return [pytest.param(c, id=type(c).__name__) for c in commands]


@pytest.mark.parametrize("command", _by_name(_every_command_but_apply_spec()))
def test_command_on_a_host_that_does_not_exist_is_not_found(command: cmd.HostCommand) -> None:
    given().when(command).then_not_found()


@pytest.mark.parametrize("command", _by_name([*_every_command_but_apply_spec(), create()]))
def test_command_on_a_deleted_host_is_rejected_because_deleted_is_final(command: cmd.HostCommand) -> None:
    given(deleted_host()).when(command).then_rejected(rule="deleted-is-final")


def test_spec_with_another_uid_for_a_living_host_is_rejected() -> None:
    given(available_host()).when(apply(SPEC, available_host(), uid=OTHER_UID)).then_rejected(
        rule="one-object-per-host"
    )


def test_re_creating_a_deleted_host_with_a_new_uid_starts_a_new_life() -> None:
    fresh = create(NO_BMC, uid=OTHER_UID)

    state = (
        given(deleted_host())
        .when(fresh)
        .then(created(NO_BMC, uid=OTHER_UID), moved(PS.NONE, PS.UNMANAGED, "no BMC details", NOW))
    )

    assert state.uid == OTHER_UID
    assert not state.deleted
    assert state.provisioning_id is None
    assert state.hardware is None
    assert state.operation_history == OperationHistory()


IDEMPOTENT = [
    pytest.param(available_host(), cmd.RecordPower(now=NOW, powered_on=True), id="power observed unchanged"),
    pytest.param(
        available_host(),
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE, credentials_version=CREDS_V1.version),
        id="registration with the same node and credentials",
    ),
    pytest.param(
        available_host(),
        cmd.ApplySpec(now=NOW, namespace=NAMESPACE, name=NAME, uid=UID, generation=1, spec=WITH_IMAGE),
        id="spec with an equal generation",
    ),
    pytest.param(
        provisioning_host(),
        cmd.ApplySpec(now=NOW, namespace=NAMESPACE, name=NAME, uid=UID, generation=1, spec=SPEC),
        id="spec with an older generation",
    ),
    pytest.param(
        available_host(),
        cmd.ObserveCredentials(now=NOW, secret_name=SECRET, version=CREDS_V1.version),
        id="credentials Secret with the same version",
    ),
    pytest.param(
        [*registering_host(), *_registered_now(), moved(PS.REGISTERING, PS.INSPECTING, "registered")],
        cmd.RecordRegistration(now=NOW, provisioning_id=NODE),
        id="registration without a credentials version, Secret never observed",
    ),
    pytest.param(
        registering_host(), cmd.RecordRegistrationLost(now=NOW, reason="x"), id="lost before registered"
    ),
    pytest.param(provisioned_host(), cmd.RecordAdopted(now=NOW), id="adopted when no adoption is needed"),
    pytest.param(provisioned_host(), cmd.ResetProvisioningFailCount(now=NOW), id="fail count reset at zero"),
    pytest.param(
        inspecting_host(), cmd.RequestInspection(now=NOW), id="inspection requested while inspecting"
    ),
    pytest.param(available_host(), cmd.RecordUndelayed(now=NOW), id="undelayed when not delayed"),
]


@pytest.mark.parametrize(("history", "command"), IDEMPOTENT)
def test_repeated_or_outdated_command_records_nothing(history: list[Event], command: cmd.HostCommand) -> None:
    given(history).when(command).then_nothing()


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _stamp(minutes: int) -> str:
    return _at(minutes).isoformat().replace("+00:00", "Z")


def test_operation_history_records_start_and_end_of_each_operation() -> None:
    commands: list[cmd.HostCommand] = [
        create(now=_at(1)),
        cmd.RecordRegistration(now=_at(2), provisioning_id=NODE, credentials_version="1"),
        cmd.RecordInspection(now=_at(3), hardware=HARDWARE),
        cmd.RecordPreparation(now=_at(4)),
        cmd.ApplySpec(now=_at(5), namespace=NAMESPACE, name=NAME, uid=UID, generation=2, spec=WITH_IMAGE),
        cmd.RecordProvisioned(now=_at(6)),
        cmd.ApplySpec(now=_at(7), namespace=NAMESPACE, name=NAME, uid=UID, generation=3, spec=SPEC),
        cmd.RecordDeprovisioned(now=_at(8)),
    ]
    state = DEFINITION.fold(_run(commands))

    assert state.operation_history == OperationHistory(
        register=OperationTimes(start=_stamp(1), end=_stamp(2)),
        inspect=OperationTimes(start=_stamp(2), end=_stamp(3)),
        provision=OperationTimes(start=_stamp(5), end=_stamp(6)),
        deprovision=OperationTimes(start=_stamp(7), end=_stamp(8)),
    )


def test_operation_history_restarts_an_operation_entered_again() -> None:
    history = deprovisioning_host(IMAGE_2)

    state = (
        given(history)
        .when(cmd.RecordDeprovisioned(now=_at(90)))
        .then(
            ev.DeprovisioningCompleted(),
            moved(PS.DEPROVISIONING, PS.AVAILABLE, "deprovisioning complete", _at(90)),
            ev.ProvisioningAttemptStarted(image=IMAGE_2),
            moved(PS.AVAILABLE, PS.PROVISIONING, "image requested", _at(90)),
        )
    )

    assert state.operation_history.provision == OperationTimes(start=_stamp(90))
    assert state.operation_history.deprovision == OperationTimes(start=_stamp(0), end=_stamp(90))


OPERATIONAL_STATUS = [
    pytest.param([], OperationalStatus.NONE, id="no host -> empty"),
    pytest.param(unmanaged_host(), OperationalStatus.DISCOVERED, id="unmanaged -> discovered"),
    pytest.param(available_host(), OperationalStatus.OK, id="available -> OK"),
    pytest.param(provisioned_host(), OperationalStatus.OK, id="provisioned -> OK"),
    pytest.param(
        [*inspecting_host(), failed(ErrorType.INSPECTION, 1)],
        OperationalStatus.ERROR,
        id="error recorded -> error",
    ),
    pytest.param(
        [*inspecting_host(), failed(ErrorType.INSPECTION, 1), ev.ErrorCleared()],
        OperationalStatus.OK,
        id="error cleared -> OK",
    ),
    pytest.param(detached_host(), OperationalStatus.DETACHED, id="detached -> detached"),
    pytest.param(
        [*provisioned_host(), ev.DetachRequested()],
        OperationalStatus.OK,
        id="detach requested, not done -> OK",
    ),
    pytest.param(
        [*detached_host(), failed(ErrorType.DETACH, 1)],
        OperationalStatus.ERROR,
        id="error wins over detached",
    ),
    pytest.param([*provisioning_host(), ev.Delayed()], OperationalStatus.DELAYED, id="delayed -> delayed"),
    pytest.param(
        [*provisioning_host(), ev.Delayed(), ev.Undelayed()], OperationalStatus.OK, id="undelayed -> OK"
    ),
    pytest.param(
        [*unmanaged_host(), failed(ErrorType.DETACH, 1)],
        OperationalStatus.ERROR,
        id="error wins over discovered",
    ),
]


@pytest.mark.parametrize(("history", "expected"), OPERATIONAL_STATUS)
def test_operational_status_is_derived_like_metal3(history: list[Event], expected: OperationalStatus) -> None:
    assert given(history).state.operational_status is expected
