"""Commands a host accepts: what users declare and what adapters observe.

Two families. Declarations come from the Kubernetes adapter (spec, annotations, deletion, the
credentials Secret) and from machines claiming the host. Observations come from whatever talks to
the hardware (the Ironic provisioner, the BMC adapter) and report what happened. Every command
carries ``now``; failures also carry ``jitter`` for the retry backoff, so ``decide`` stays pure.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import msgspec

from core.events.host_values import (
    ConsumerRef,
    DeleteAction,
    ErrorType,
    FirmwareUpdate,
    HardwareDetails,
    HostSpec,
    RebootMode,
)
from core.events.hosts import StatusRestored


class _Command(msgspec.Struct, frozen=True, kw_only=True):
    now: datetime


# --- declarations -----------------------------------------------------------------------------------


class ApplySpec(_Command, frozen=True, kw_only=True):
    """Create the host or record a new spec generation; older or equal generations are ignored."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: HostSpec
    max_provisioning_retries: int = 5
    restored_status: StatusRestored | None = None
    """Status from the ``baremetalhost.metal3.io/status`` annotation, used only when creating."""


class ObserveCredentials(_Command, frozen=True, kw_only=True):
    """The credentials Secret was read: its name and resourceVersion, or why it is unusable."""

    secret_name: str
    version: str | None
    """The Secret's resourceVersion, or None when the Secret does not exist."""
    problem: str | None = None
    """Why the Secret cannot be used (e.g. a missing ``password`` key); never its content."""
    jitter: float = 0.0


class Pause(_Command, frozen=True, kw_only=True):
    pass


class Resume(_Command, frozen=True, kw_only=True):
    pass


class Detach(_Command, frozen=True, kw_only=True):
    delete_action: DeleteAction = "delete"
    force: bool = False


class Reattach(_Command, frozen=True, kw_only=True):
    pass


class RequestReboot(_Command, frozen=True, kw_only=True):
    key: str = ""
    mode: RebootMode = "soft"
    force: bool = False


class CompleteReboot(_Command, frozen=True, kw_only=True):
    """A reboot is done (keyless request) or the user removed ``reboot.metal3.io/<key>``."""

    key: str = ""


class RequestInspection(_Command, frozen=True, kw_only=True):
    pass


class ProvideHardwareDetails(_Command, frozen=True, kw_only=True):
    """The ``inspect.metal3.io/hardwaredetails`` annotation supplied details."""

    hardware: HardwareDetails


class RequestDeletion(_Command, frozen=True, kw_only=True):
    pass


class ClaimHost(_Command, frozen=True, kw_only=True):
    consumer: ConsumerRef


class ReleaseHost(_Command, frozen=True, kw_only=True):
    consumer: ConsumerRef


class ApplyFirmwareConfig(_Command, frozen=True, kw_only=True):
    """The HostFirmwareSettings and HostFirmwareComponents named like the host, as last read.

    Each generation is the object's ``metadata.generation`` (0 when it does not exist); a read
    older than the one recorded is ignored, like an old spec generation.
    """

    settings: dict[str, str] = msgspec.field(default_factory=dict)
    updates: tuple[FirmwareUpdate, ...] = ()
    settings_generation: int = 0
    updates_generation: int = 0


class ResetProvisioningFailCount(_Command, frozen=True, kw_only=True):
    """An operator allows more provisioning attempts of the same image."""


# --- observations -----------------------------------------------------------------------------------


class RecordRegistration(_Command, frozen=True, kw_only=True):
    """Ironic accepted the node and verified the credentials (version ``credentials_version``)."""

    provisioning_id: str
    credentials_version: str | None = None


class RecordBmcAccess(_Command, frozen=True, kw_only=True):
    """The BMC accepted the credentials Secret at ``credentials_version`` (checked directly)."""

    credentials_version: str | None = None


class RecordRegistrationLost(_Command, frozen=True, kw_only=True):
    reason: str


class RecordInspection(_Command, frozen=True, kw_only=True):
    hardware: HardwareDetails


class RecordPreparation(_Command, frozen=True, kw_only=True):
    """Manual cleaning finished; what it applied (None: the desired values recorded now)."""

    firmware_settings: dict[str, str] | None = None
    firmware_updates: tuple[FirmwareUpdate, ...] | None = None


class RecordProvisioned(_Command, frozen=True, kw_only=True):
    pass


class RecordDeprovisioned(_Command, frozen=True, kw_only=True):
    pass


class RecordAdopted(_Command, frozen=True, kw_only=True):
    pass


class RecordPower(_Command, frozen=True, kw_only=True):
    powered_on: bool


class RecordFailure(_Command, frozen=True, kw_only=True):
    """An operation failed in a way the user must see (not a transient glitch)."""

    error_type: ErrorType
    message: str
    jitter: float = 0.0
    """In [0, 1): how much of the backoff's 50% jitter to take off."""


class RecordDelayed(_Command, frozen=True, kw_only=True):
    pass


class RecordUndelayed(_Command, frozen=True, kw_only=True):
    pass


class RecordDetached(_Command, frozen=True, kw_only=True):
    pass


class RecordNodeDeleted(_Command, frozen=True, kw_only=True):
    pass


HostCommand: TypeAlias = (
    ApplySpec
    | ObserveCredentials
    | Pause
    | Resume
    | Detach
    | Reattach
    | RequestReboot
    | CompleteReboot
    | RequestInspection
    | ProvideHardwareDetails
    | RequestDeletion
    | ClaimHost
    | ReleaseHost
    | ApplyFirmwareConfig
    | ResetProvisioningFailCount
    | RecordRegistration
    | RecordBmcAccess
    | RecordRegistrationLost
    | RecordInspection
    | RecordPreparation
    | RecordProvisioned
    | RecordDeprovisioned
    | RecordAdopted
    | RecordPower
    | RecordFailure
    | RecordDelayed
    | RecordUndelayed
    | RecordDetached
    | RecordNodeDeleted
)
