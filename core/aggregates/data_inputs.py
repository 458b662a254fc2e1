"""What rendering a Metal3DataTemplate needs to know about one machine, and how it fails.

Rendering is a pure function of the template and these plain values. Whoever renders (the
Metal3Data process manager) gathers them from its views first: the three objects' names, labels
and annotations, the host's NICs, the machine's index in the template and the address each
referenced IP pool allocated. Nothing here reads Kubernetes, so the same inputs always give the
same secrets, and a golden test can pin the output byte for byte.

Errors name the template field that could not be rendered (``spec.networkData.links.ethernets[0]
.macAddress.fromHostInterface``) and what is missing, because the person reading it has to fix
either the template or the host.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from core.errors import DomainError
from core.events.data_template_values import ObjectKind
from core.events.host_values import NIC


class DataRenderingError(DomainError):
    """A template field could not be rendered for this machine; no secret was produced."""

    def __init__(self, *, field: str, detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}")


class RenderingInputMissing(DataRenderingError):
    """A fact the field refers to is not available (yet): a pool address, a NIC, a boot MAC, an annotation."""


class TemplateInvalid(DataRenderingError):
    """The template itself cannot be rendered for any machine (a malformed MAC, a clashing bond parameter)."""


class ObjectFacts(msgspec.Struct, frozen=True, kw_only=True):
    """Name, labels and annotations of one object the template may read from."""

    name: str
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)


class PoolAddress(msgspec.Struct, frozen=True, kw_only=True):
    """The address one IP pool allocated to this machine, with the pool's network settings."""

    address: str
    prefix: int | None = None
    gateway: str = ""
    dns_servers: tuple[str, ...] = ()


class MachineObjects(msgspec.Struct, frozen=True, kw_only=True):
    """The three objects a template's ``object`` fields name."""

    machine: ObjectFacts
    """The CAPI Machine that owns the Metal3Machine."""
    metal3machine: ObjectFacts
    host: ObjectFacts
    """The BareMetalHost associated with the Metal3Machine."""

    def of(self, kind: ObjectKind) -> ObjectFacts:
        match kind:
            case "machine":
                return self.machine
            case "metal3machine":
                return self.metal3machine
            case "baremetalhost":
                return self.host


class RenderingInput(msgspec.Struct, frozen=True, kw_only=True):
    """Everything one machine contributes to rendering a template."""

    namespace: str
    """The namespace of the Metal3Data (and of the template, machine and host)."""
    index: int
    """The machine's index in the template (``Metal3DataTemplate`` ``ClaimIndex``)."""
    objects: MachineObjects
    host_nics: dict[str, str] | None = None
    """Host NIC name to MAC from inspection; None when the host has no hardware details yet."""
    boot_mac_address: str = ""
    """The host's ``spec.bootMACAddress``."""
    pool_addresses: dict[str, PoolAddress] = msgspec.field(default_factory=dict)
    """Pool name to the address allocated from it, for every pool ``referenced_pools`` names."""

    def nic_mac(self, name: str, *, field: str) -> str:
        """The MAC of host NIC ``name``, as inspection reported it."""
        host = self.objects.host.name
        if self.host_nics is None:
            raise RenderingInputMissing(
                field=field, detail=f"host {self.namespace}/{host} has no inspected NICs yet"
            )
        mac = self.host_nics.get(name)
        if mac is None:
            known = ", ".join(sorted(self.host_nics)) or "none"
            raise RenderingInputMissing(
                field=field, detail=f"host {self.namespace}/{host} has no NIC named {name!r} (NICs: {known})"
            )
        return mac

    def pool(self, name: str, *, field: str) -> PoolAddress:
        """The address allocated from pool ``name``."""
        address = self.pool_addresses.get(name)
        if address is None:
            raise RenderingInputMissing(
                field=field, detail=f"no address from IP pool {name!r} has been allocated to this machine yet"
            )
        return address

    def annotation(self, kind: ObjectKind, annotation: str) -> str:
        """An annotation's value, empty when the object does not have it (as CAPM3 renders it)."""
        return self.objects.of(kind).annotations.get(annotation, "")


def nics_by_name(nics: Iterable[NIC] | None) -> dict[str, str] | None:
    """NIC name to MAC from a host's hardware details; the first NIC of a name wins, as in CAPM3."""
    if nics is None:
        return None
    found: dict[str, str] = {}
    for nic in nics:
        found.setdefault(nic.name, nic.mac)
    return found
