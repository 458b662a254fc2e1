"""Commands a Metal3Machine accepts: its spec from Kubernetes, and what the machine process manager did.

The process manager does the cross-aggregate work (choosing a host, claiming it on the host
aggregate, rendering data, watching the host provision) and records each outcome here with one
command. Every command carries ``now`` so ``decide`` never reads a clock.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeAlias

import msgspec

from core.events.host_values import HardwareDetails
from core.events.machine_values import HostRef, MachineSpec


class _Command(msgspec.Struct, frozen=True, kw_only=True):
    now: datetime


class ApplyMachineSpec(_Command, frozen=True, kw_only=True):
    """Create the machine or record a new spec generation; older or equal generations are ignored."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: MachineSpec


class AssociateHost(_Command, frozen=True, kw_only=True):
    """The host accepted the machine as its consumer (``ClaimHost``); record the placement."""

    host: HostRef
    bootstrap_data_secret: str | None
    """``Machine.spec.bootstrap.dataSecretName``; None while the bootstrap provider has not written it."""
    via_node_reuse: bool = False


class RecordRenderedData(_Command, frozen=True, kw_only=True):
    """The machine's Metal3Data is rendered; these are its name and Secrets."""

    data_name: str
    meta_data_secret: str | None = None
    network_data_secret: str | None = None


class ObserveHostHardware(_Command, frozen=True, kw_only=True):
    """The associated host's hardware details (NIC addresses, hostname) as now known."""

    hardware: HardwareDetails | None


class RecordHostProvisioned(_Command, frozen=True, kw_only=True):
    """The host is provisioned; ``provider_id`` is the Node's, or None for the default format."""

    provider_id: str | None = None


class RequestMachineDeletion(_Command, frozen=True, kw_only=True):
    """The Metal3Machine got a deletionTimestamp."""


class StartDeprovisioning(_Command, frozen=True, kw_only=True):
    """The host was asked to drop the machine's image and data."""


class RecordHostReleased(_Command, frozen=True, kw_only=True):
    """The host accepted ``ReleaseHost``; ``node_reuse_label`` is the label put on it, if any."""

    node_reuse_label: str | None = None


class ReleaseRenderedData(_Command, frozen=True, kw_only=True):
    """The machine's Metal3DataClaim was deleted (its template index released)."""


MachineCommand: TypeAlias = (
    ApplyMachineSpec
    | AssociateHost
    | RecordRenderedData
    | ObserveHostHardware
    | RecordHostProvisioned
    | RequestMachineDeletion
    | StartDeprovisioning
    | RecordHostReleased
    | ReleaseRenderedData
)
