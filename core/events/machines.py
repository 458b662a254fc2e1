"""Metal3Machine event payloads: a machine's life from spec to a released host.

The machine records what CAPM3 keeps in a Metal3Machine's status and annotations: the host it
was placed on, its rendered data, its addresses, its provider ID, and the steps of giving the
host back. The host itself changes only through host commands (``ClaimHost``, ``ReleaseHost``);
a process manager issues those and then records the outcome here, so every cross-aggregate step
appears in both logs.
"""

from __future__ import annotations

from typing import TypeAlias

from core.events.base import Event
from core.events.codec import EventCodec
from core.events.host_values import SecretRef
from core.events.machine_values import HostRef, MachineAddress, MachineSpec

AGGREGATE_TYPE = "machine"


class MachineCreated(Event, tag="machine.created", frozen=True, kw_only=True):
    """A Metal3Machine object was seen for the first time (or re-created after deletion)."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: MachineSpec


class MachineSpecChanged(Event, tag="machine.spec_changed", frozen=True, kw_only=True):
    """The user changed the machine's spec; ``spec`` is the whole new desired state."""

    generation: int
    spec: MachineSpec


class HostAssociated(Event, tag="machine.host_associated", frozen=True, kw_only=True):
    """The machine runs on ``host`` (the host accepted it as consumer), with ``user_data`` as cloud-init."""

    host: HostRef
    user_data: SecretRef | None = None
    via_node_reuse: bool = False


class RenderedDataRecorded(Event, tag="machine.rendered_data_recorded", frozen=True, kw_only=True):
    """The machine's Metal3Data ``data_name`` is rendered into these Secrets."""

    data_name: str
    meta_data: SecretRef | None = None
    network_data: SecretRef | None = None


class AddressesChanged(Event, tag="machine.addresses_changed", frozen=True, kw_only=True):
    """The machine's addresses (from its host's NICs and hostname) are now ``addresses``."""

    addresses: tuple[MachineAddress, ...] = ()


class ProviderIDSet(Event, tag="machine.provider_id_set", frozen=True, kw_only=True):
    """The machine's provider ID, which its Kubernetes Node carries too."""

    provider_id: str


class MachineProvisioned(Event, tag="machine.provisioned", frozen=True, kw_only=True):
    """The host is provisioned and the provider ID set: the infrastructure is ready."""


class MachineDeletionRequested(Event, tag="machine.deletion_requested", frozen=True, kw_only=True):
    """The Metal3Machine got a deletionTimestamp."""


class DeprovisioningStarted(Event, tag="machine.deprovisioning_started", frozen=True, kw_only=True):
    """The host was asked to drop the machine's image and data (deprovision, power off or clean)."""


class HostReleased(Event, tag="machine.host_released", frozen=True, kw_only=True):
    """The host no longer belongs to the machine; ``node_reuse_label`` reserves it for its next machine."""

    host: HostRef
    node_reuse_label: str | None = None


class RenderedDataReleased(Event, tag="machine.rendered_data_released", frozen=True, kw_only=True):
    """The machine's data claim is gone: its template index and IP addresses are free again."""


class MachineDeleted(Event, tag="machine.deleted", frozen=True, kw_only=True):
    """Host and data are released; the Metal3Machine's finalizer may be removed."""


MachineEvent: TypeAlias = (
    MachineCreated
    | MachineSpecChanged
    | HostAssociated
    | RenderedDataRecorded
    | AddressesChanged
    | ProviderIDSet
    | MachineProvisioned
    | MachineDeletionRequested
    | DeprovisioningStarted
    | HostReleased
    | RenderedDataReleased
    | MachineDeleted
)

MACHINE_EVENT_CLASSES: tuple[type[Event], ...] = MachineEvent.__args__

CODEC = EventCodec(AGGREGATE_TYPE, MACHINE_EVENT_CLASSES)
"""The one decoder for machine events."""
