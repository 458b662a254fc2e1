"""The state of one Metal3Machine, and ``evolve``: how each machine event changes it."""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec.structs import replace

from core.events import machines as ev
from core.events.base import Event, UndecodableEvent, UnknownEvent
from core.events.host_values import SecretRef
from core.events.machine_values import HostRef, MachineAddress, MachineSpec

MachinePhase = Literal["none", "pending", "associated", "provisioned", "deleting", "deleted"]


class MachineState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the domain knows about one Metal3Machine, folded from its events."""

    exists: bool = False
    deleted: bool = False
    namespace: str = ""
    name: str = ""
    uid: str = ""
    generation: int = 0
    spec: MachineSpec = MachineSpec()

    host: HostRef | None = None
    """The associated host, until it is released."""
    via_node_reuse: bool = False
    user_data: SecretRef | None = None
    """``status.userData``: the machine's own user data, or the bootstrap data Secret."""
    data_name: str | None = None
    """``status.renderedData``: the Metal3Data rendered for the machine."""
    meta_data: SecretRef | None = None
    network_data: SecretRef | None = None
    data_released: bool = False
    addresses: tuple[MachineAddress, ...] = ()
    provider_id: str | None = None
    provisioned: bool = False

    deletion_requested: bool = False
    deprovisioning: bool = False
    released_host: HostRef | None = None
    """The host given back during deletion (kept for status and history)."""

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def phase(self) -> MachinePhase:
        if not self.exists:
            return "none"
        if self.deleted:
            return "deleted"
        if self.deletion_requested:
            return "deleting"
        if self.provisioned:
            return "provisioned"
        return "associated" if self.host is not None else "pending"

    @property
    def effective_meta_data(self) -> SecretRef | None:
        """``status.metaData``: the rendered Secret, or the one the spec names directly."""
        return self.meta_data if self.data_name is not None else self.spec.meta_data

    @property
    def effective_network_data(self) -> SecretRef | None:
        """``status.networkData``: the rendered Secret, or the one the spec names directly."""
        return self.network_data if self.data_name is not None else self.spec.network_data

    @property
    def releasable(self) -> bool:
        """Deletion may complete: the host is given back and the data claim (if any) is gone."""
        data_done = self.spec.data_template is None or self.data_released
        return self.deletion_requested and self.host is None and data_done


INITIAL = MachineState()


def evolve(state: MachineState, event: Event | UnknownEvent | UndecodableEvent) -> MachineState:
    """Apply one event to a machine's state."""
    match event:
        case ev.MachineCreated():
            return MachineState(
                exists=True,
                namespace=event.namespace,
                name=event.name,
                uid=event.uid,
                generation=event.generation,
                spec=event.spec,
            )
        case ev.MachineSpecChanged():
            return replace(state, generation=event.generation, spec=event.spec)
        case ev.HostAssociated():
            return replace(
                state, host=event.host, user_data=event.user_data, via_node_reuse=event.via_node_reuse
            )
        case ev.RenderedDataRecorded():
            return replace(
                state, data_name=event.data_name, meta_data=event.meta_data, network_data=event.network_data
            )
        case ev.AddressesChanged():
            return replace(state, addresses=event.addresses)
        case ev.ProviderIDSet():
            return replace(state, provider_id=event.provider_id)
        case ev.MachineProvisioned():
            return replace(state, provisioned=True)
        case ev.MachineDeletionRequested():
            return replace(state, deletion_requested=True)
        case ev.DeprovisioningStarted():
            return replace(state, deprovisioning=True)
        case ev.HostReleased():
            return replace(state, host=None, released_host=event.host, addresses=(), provisioned=False)
        case ev.RenderedDataReleased():
            return replace(state, data_released=True)
        case ev.MachineDeleted():
            return replace(state, deleted=True)
        case _:
            # Unknown or undecodable events, and events of other aggregates, leave the state alone.
            return state
