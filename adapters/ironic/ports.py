"""What the provisioner needs from the rest of metalstream, as Protocols and plain data.

The provisioner must not import other adapters (import-linter independence contract), so the BMC
address mapping, the Secret reader and the command path come in through these ports and the
composition root plugs the real implementations in:

* ``DriverMapping``: a BMC address (plus credentials) -> ``NodeDriverSpec`` (Ironic driver,
  interfaces, ``driver_info``). Metalstream's BMC module provides it.
* ``HostSecrets``: BMC credentials and user/network/meta data by Secret name.
* ``HostCommandSender``: records an observation by sending a host command (the command handler).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from core.aggregates.host_commands import HostCommand

FAKE_HARDWARE: Final = "fake-hardware"
_SECRET_KEYS: Final = ("password", "_secret", "_token", "username")


def is_secret_key(key: str) -> bool:
    """``driver_info`` keys whose values are never shown (Metal3 also hides usernames)."""
    return key.lower().endswith(_SECRET_KEYS)


@dataclass(frozen=True, slots=True, repr=False)
class NodeDriverSpec:
    """How Ironic drives one host: hardware type, interfaces and ``driver_info``.

    ``driver_info`` holds the BMC credentials; ``repr`` masks them, and nothing in this adapter
    logs or formats the mapping itself.
    """

    driver: str
    interfaces: Mapping[str, str] = field(default_factory=dict)
    """``{"boot": "ipxe", "power": "redfish", ...}``; a missing or empty value keeps Ironic's default."""
    driver_info: Mapping[str, Any] = field(default_factory=dict)
    fast_inspect_interface: str | None = None
    """The out-of-band inspect interface for ``inspectionMode: fast`` (``redfish``), if any."""
    virtual_media: bool = False
    """The boot interface uses virtual media: such hosts do not count toward the capacity limit."""

    def public_driver_info(self) -> dict[str, Any]:
        """``driver_info`` without secrets, for comparing with what Ironic returns."""
        return {k: v for k, v in self.driver_info.items() if not is_secret_key(k)}

    def __repr__(self) -> str:
        shown = {k: ("***" if is_secret_key(k) else v) for k, v in self.driver_info.items()}
        interfaces = dict(self.interfaces)
        return f"NodeDriverSpec(driver={self.driver!r}, interfaces={interfaces!r}, driver_info={shown!r})"


def with_fake_deploy(spec: NodeDriverSpec) -> NodeDriverSpec:
    """The same BMC driven through a ``fake-hardware`` node with fake deploy and boot.

    Ironic accepts any enabled interface on a fake-hardware node, so power, management and
    inspection still speak the real protocol while deploying needs no agent (dev stack, tests).
    Ironic 39 fails Redfish validation on such nodes unless ``redfish_verify_ca`` is set ("no such
    option fake-hardware in group [DEFAULT]"), so it is set when the mapping left it out.
    """
    interfaces = {k: v for k, v in spec.interfaces.items() if k in ("power", "management", "inspect")}
    uses_redfish = any(k.startswith("redfish_") for k in spec.driver_info)
    if spec.driver != FAKE_HARDWARE:
        interfaces.setdefault("power", "redfish" if uses_redfish else "ipmitool")
        interfaces.setdefault("management", "redfish" if uses_redfish else "ipmitool")
    interfaces.update({"deploy": "fake", "boot": "fake"})
    interfaces.setdefault("inspect", spec.fast_inspect_interface or "fake")
    for kind in ("bios", "firmware", "raid", "vendor", "console", "rescue"):
        interfaces.setdefault(kind, "fake")
    driver_info = dict(spec.driver_info)
    if uses_redfish and "redfish_verify_ca" not in driver_info:
        driver_info["redfish_verify_ca"] = False
    return NodeDriverSpec(
        driver=FAKE_HARDWARE,
        interfaces=interfaces,
        driver_info=driver_info,
        fast_inspect_interface=spec.fast_inspect_interface,
    )


class BmcCredentials:
    """A BMC username and password and the Secret version they came from; ``repr`` hides both."""

    __slots__ = ("password", "username", "version")

    def __init__(self, username: str, password: str, version: str) -> None:
        self.username = username
        self.password = password
        self.version = version
        """The Secret's resourceVersion: a change means the credentials must be sent to Ironic."""

    def __repr__(self) -> str:
        return f"BmcCredentials(username='***', password='***', version={self.version!r})"


class DriverMapping(Protocol):
    """Turns a host's BMC address and credentials into Ironic driver settings.

    Raises ``ValueError`` with a message for the user (e.g. Metal3's "Unknown BMC type ...")
    when the address cannot be used; the provisioner records it as a registration error.
    """

    def __call__(
        self, address: str, *, disable_certificate_verification: bool, credentials: BmcCredentials
    ) -> NodeDriverSpec: ...


class HostSecrets(Protocol):
    """Reads the Secrets a host refers to (implemented by the Kubernetes adapter)."""

    async def bmc_credentials(self, namespace: str, name: str) -> BmcCredentials | None:
        """The trimmed ``username``/``password`` of the Secret, or None if it does not exist."""
        ...

    async def user_data(self, namespace: str, name: str) -> str | None:
        """The ``userData`` (or ``value``) key of the Secret."""
        ...

    async def network_data(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The parsed ``networkData`` of the Secret."""
        ...

    async def meta_data(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The parsed ``metaData`` of the Secret."""
        ...


class HostCommandSender(Protocol):
    """Sends an observation to a host aggregate. ``CommandRejected`` means it was stale."""

    async def send(self, host_id: str, command: HostCommand) -> None: ...
