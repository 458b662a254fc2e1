"""Host (BareMetalHost) event payloads: every fact recorded in a host's life.

Tags are ``host.<fact>`` and never change once released; renaming a class is safe, renaming a tag
is not. Facts are small and specific (one per observation or decision) so that
``metalstream history`` reads like the host's logbook and subscribers can react to just what
they care about.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import msgspec

from core.events.base import Event
from core.events.codec import EventCodec
from core.events.host_values import (
    ConsumerRef,
    CredentialsRef,
    CustomDeploy,
    DeleteAction,
    ErrorType,
    FirmwareUpdate,
    HardwareDetails,
    HostSpec,
    Image,
    OperationHistory,
    ProvisioningState,
    RAIDConfig,
    RebootMode,
    RootDeviceHints,
)

AGGREGATE_TYPE = "host"


# --- declared by the user (Kubernetes spec, annotations, deletion) --------------------------------


class HostCreated(Event, tag="host.created", frozen=True, kw_only=True):
    """A BareMetalHost object was seen for the first time (or re-created after deletion)."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: HostSpec
    max_provisioning_retries: int = 5


class SpecChanged(Event, tag="host.spec_changed", frozen=True, kw_only=True):
    """The user changed the host's spec; ``spec`` is the whole new desired state."""

    generation: int
    spec: HostSpec
    max_provisioning_retries: int = 5


class CredentialsObserved(Event, tag="host.credentials_observed", frozen=True, kw_only=True):
    """A new version of the BMC credentials Secret was seen (its content is never recorded)."""

    credentials: CredentialsRef


class Paused(Event, tag="host.paused", frozen=True, kw_only=True):
    """``baremetalhost.metal3.io/paused`` was added: nothing acts on the host until it is removed."""


class Resumed(Event, tag="host.resumed", frozen=True, kw_only=True):
    """The paused annotation was removed."""


class DetachRequested(Event, tag="host.detach_requested", frozen=True, kw_only=True):
    """``baremetalhost.metal3.io/detached`` was added: remove the node from Ironic, keep the host."""

    delete_action: DeleteAction = "delete"
    force: bool = False


class AttachRequested(Event, tag="host.attach_requested", frozen=True, kw_only=True):
    """The detached annotation was removed: register (and adopt) the host again."""


class RebootRequested(Event, tag="host.reboot_requested", frozen=True, kw_only=True):
    """A ``reboot.metal3.io[/<key>]`` annotation asks for the host to be power-cycled."""

    key: str
    mode: RebootMode = "soft"
    force: bool = False


class RebootCompleted(Event, tag="host.reboot_completed", frozen=True, kw_only=True):
    """The reboot asked for under ``key`` is done (or the user withdrew it)."""

    key: str


class InspectionRequested(Event, tag="host.inspection_requested", frozen=True, kw_only=True):
    """``inspect.metal3.io`` asks for the hardware to be inspected again."""


class StatusRestored(Event, tag="host.status_restored", frozen=True, kw_only=True):
    """Status was restored from the ``baremetalhost.metal3.io/status`` annotation (after a move)."""

    provisioning_state: ProvisioningState
    provisioning_id: str | None = None
    image: Image | None = None
    custom_deploy: CustomDeploy | None = None
    hardware: HardwareDetails | None = None
    powered_on: bool = False
    good_credentials: CredentialsRef | None = None
    operation_history: OperationHistory = OperationHistory()


class DeletionRequested(Event, tag="host.deletion_requested", frozen=True, kw_only=True):
    """The BareMetalHost got a deletionTimestamp."""


class ConsumerClaimed(Event, tag="host.consumer_claimed", frozen=True, kw_only=True):
    """The host now belongs to ``consumer``; no one else may claim it until released."""

    consumer: ConsumerRef


class ConsumerReleased(Event, tag="host.consumer_released", frozen=True, kw_only=True):
    """``consumer`` gave the host back."""

    consumer: ConsumerRef


class FirmwareConfigChanged(Event, tag="host.firmware_config_changed", frozen=True, kw_only=True):
    """The HostFirmwareSettings / HostFirmwareComponents named like the host declare new firmware.

    ``settings`` are the BIOS settings wanted and ``updates`` the firmware images to flash; both
    are applied by the next preparation (manual cleaning). The generations are those of the two
    objects, so that an older read of either is never recorded after a newer one.
    """

    settings: dict[str, str] = msgspec.field(default_factory=dict)
    updates: tuple[FirmwareUpdate, ...] = ()
    settings_generation: int = 0
    updates_generation: int = 0


# --- decided by the state machine -----------------------------------------------------------------


class ProvisioningStateChanged(Event, tag="host.provisioning_state_changed", frozen=True, kw_only=True):
    """The host moved from one provisioning state to another, and why."""

    previous: ProvisioningState
    state: ProvisioningState
    reason: str
    at: datetime


class ErrorRecorded(Event, tag="host.error_recorded", frozen=True, kw_only=True):
    """A failure was recorded: status shows it and retries wait until ``retry_not_before``."""

    error_type: ErrorType
    message: str
    error_count: int
    retry_not_before: datetime


class ErrorCleared(Event, tag="host.error_cleared", frozen=True, kw_only=True):
    """The recorded failure no longer applies."""


class ProvisioningAttemptStarted(Event, tag="host.provisioning_attempt_started", frozen=True, kw_only=True):
    """Provisioning of ``image`` (or ``custom_deploy``) started; ``fail_count`` failures before it."""

    image: Image | None = None
    custom_deploy: CustomDeploy | None = None
    fail_count: int = 0


class ProvisioningAttemptFailed(Event, tag="host.provisioning_attempt_failed", frozen=True, kw_only=True):
    """Provisioning the last attempted image failed; ``fail_count`` counts consecutive failures."""

    fail_count: int


class ProvisioningFailCountReset(Event, tag="host.provisioning_fail_count_reset", frozen=True, kw_only=True):
    """The consecutive-failure count went back to 0 (new image, success, or image removed)."""

    reason: str


# --- observed by the provisioner (Ironic) or the BMC adapter --------------------------------------


class RegistrationSucceeded(Event, tag="host.registration_succeeded", frozen=True, kw_only=True):
    """The BMC credentials worked and the host is known to Ironic as ``provisioning_id``."""

    provisioning_id: str
    credentials: CredentialsRef | None = None


class BmcAccessValidated(Event, tag="host.bmc_access_validated", frozen=True, kw_only=True):
    """metalstream's own BMC client logged in with ``credentials`` and found the system."""

    credentials: CredentialsRef | None = None


class RegistrationLost(Event, tag="host.registration_lost", frozen=True, kw_only=True):
    """Ironic no longer knows the node (e.g. its database was lost): register again."""

    reason: str


class HardwareInspected(Event, tag="host.hardware_inspected", frozen=True, kw_only=True):
    """Inspection (or an ``inspect.metal3.io/hardwaredetails`` annotation) produced hardware details."""

    hardware: HardwareDetails
    source: str = "inspection"


class PreparationCompleted(Event, tag="host.preparation_completed", frozen=True, kw_only=True):
    """Manual cleaning (RAID, firmware settings) is done; these are the settings now applied."""

    raid: RAIDConfig | None = None
    root_device_hints: RootDeviceHints | None = None
    firmware_settings: dict[str, str] = msgspec.field(default_factory=dict)
    """BIOS settings now applied (events recorded before firmware support decode as none)."""
    firmware_updates: tuple[FirmwareUpdate, ...] = ()


class ProvisioningCompleted(Event, tag="host.provisioning_completed", frozen=True, kw_only=True):
    """The image (or custom deploy) is on the host."""

    image: Image | None = None
    custom_deploy: CustomDeploy | None = None
    root_device_hints: RootDeviceHints | None = None
    boot_mode: str = "UEFI"


class DeprovisioningCompleted(Event, tag="host.deprovisioning_completed", frozen=True, kw_only=True):
    """The host was cleaned and is no longer provisioned."""


class Adopted(Event, tag="host.adopted", frozen=True, kw_only=True):
    """A provisioned host was adopted by Ironic again without being re-deployed."""


class PowerObserved(Event, tag="host.power_observed", frozen=True, kw_only=True):
    """The host's observed power state changed."""

    powered_on: bool


class Delayed(Event, tag="host.delayed", frozen=True, kw_only=True):
    """Too many hosts are busy in Ironic; this one waits for capacity."""


class Undelayed(Event, tag="host.undelayed", frozen=True, kw_only=True):
    """Capacity became available for the delayed host."""


class DetachCompleted(Event, tag="host.detach_completed", frozen=True, kw_only=True):
    """The node was removed from Ironic; the host is detached."""


class HostDeleted(Event, tag="host.deleted", frozen=True, kw_only=True):
    """Everything outside Kubernetes is cleaned up; the object's finalizer may be removed."""


HostEvent: TypeAlias = (
    HostCreated
    | SpecChanged
    | CredentialsObserved
    | Paused
    | Resumed
    | DetachRequested
    | AttachRequested
    | RebootRequested
    | RebootCompleted
    | InspectionRequested
    | StatusRestored
    | DeletionRequested
    | ConsumerClaimed
    | ConsumerReleased
    | FirmwareConfigChanged
    | ProvisioningStateChanged
    | ErrorRecorded
    | ErrorCleared
    | ProvisioningAttemptStarted
    | ProvisioningAttemptFailed
    | ProvisioningFailCountReset
    | RegistrationSucceeded
    | BmcAccessValidated
    | RegistrationLost
    | HardwareInspected
    | PreparationCompleted
    | ProvisioningCompleted
    | DeprovisioningCompleted
    | Adopted
    | PowerObserved
    | Delayed
    | Undelayed
    | DetachCompleted
    | HostDeleted
)

HOST_EVENT_CLASSES: tuple[type[Event], ...] = HostEvent.__args__

CODEC = EventCodec(AGGREGATE_TYPE, HOST_EVENT_CLASSES)
"""The one decoder for host events."""
