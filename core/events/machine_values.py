"""Value types of Metal3Machine events and state, shaped like CAPM3's v1beta2 API.

JSON names are CAPM3's so a recorded spec reads like ``kubectl get m3m -o yaml``. Secrets are
referenced by name only: user data, metaData and networkData never appear in an event.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from core.events.host_values import CleaningMode, CustomDeploy, ImageFormat, SecretRef

MachineAddressType = Literal["Hostname", "ExternalIP", "InternalIP", "ExternalDNS", "InternalDNS"]


class _Value(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Base of the value types: immutable, camelCase on the wire, defaults left out."""


class MachineImage(_Value, frozen=True, kw_only=True):
    """``spec.image``: what the host is provisioned with (copied to the host's ``spec.image``)."""

    url: str
    checksum: str | None = None
    checksum_type: Literal["md5", "sha256", "sha512"] | None = None
    disk_format: ImageFormat | None = None


class SelectorRequirement(_Value, frozen=True, kw_only=True):
    """One ``hostSelector.matchExpressions`` entry; the operator is matched case-insensitively."""

    key: str
    operator: str
    values: tuple[str, ...] = ()


class HostSelector(_Value, frozen=True, kw_only=True):
    """``spec.hostSelector``: which hosts (by label) the machine may be placed on."""

    match_labels: dict[str, str] = msgspec.field(default_factory=dict)
    match_expressions: tuple[SelectorRequirement, ...] = ()


class ObjectRef(_Value, frozen=True, kw_only=True):
    """A same-kind reference by name (``spec.dataTemplate``); an empty namespace means the machine's."""

    name: str
    namespace: str = ""


class MachineSpec(_Value, frozen=True, kw_only=True):
    """``Metal3Machine.spec`` minus ``providerID``, which the machine records itself."""

    image: MachineImage | None = None
    custom_deploy: CustomDeploy | None = None
    user_data: SecretRef | None = None
    host_selector: HostSelector | None = None
    data_template: ObjectRef | None = None
    meta_data: SecretRef | None = None
    network_data: SecretRef | None = None
    automated_cleaning_mode: CleaningMode | None = None
    """None leaves the host's own setting alone."""
    failure_domain: str = ""


class HostRef(_Value, frozen=True, kw_only=True):
    """The BareMetalHost a machine runs on (the ``metal3.io/BareMetalHost`` annotation)."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class MachineAddress(_Value, frozen=True, kw_only=True):
    """One ``status.addresses`` entry (CAPI MachineAddress)."""

    type: MachineAddressType
    address: str
