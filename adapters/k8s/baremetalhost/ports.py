"""What the BareMetalHost controller needs from the rest of the system, as small protocols.

The controller is written against these so that its decisions (which command, which patch) are
tested apart from the wiring: the composition root implements ``HostCommands`` with the command
handler, and ``HostCluster`` with the runtime's object helpers on a real API server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState


class HostCommands(Protocol):
    """The host aggregate, as seen from Kubernetes."""

    async def state(self, host_id: str) -> HostState:
        """The host's current state (``HostState()`` when it was never created)."""
        ...

    async def send(self, host_id: str, command: cmd.HostCommand) -> HostState:
        """Decide and record ``command``; the new state. Raises ``CommandRejected``."""
        ...


@dataclass(frozen=True, slots=True)
class FirmwareObjects:
    """The HostFirmwareSettings and HostFirmwareComponents named like a host (None: absent)."""

    settings: Mapping[str, Any] | None = None
    components: Mapping[str, Any] | None = None


class HostCluster(Protocol):
    """The Kubernetes calls the controller makes (each with its own timeout)."""

    async def get_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The Secret object (``data`` base64 as served), or None when it does not exist."""
        ...

    async def adopt_secret(self, secret: Mapping[str, Any], owner: Mapping[str, Any]) -> None:
        """Label, finalize and owner-reference a credentials Secret as Metal3 does (idempotent)."""
        ...

    async def release_secret(self, namespace: str, name: str, owner_uid: str) -> None:
        """Drop the host's owner reference, and the finalizer when no other host refers to it."""
        ...

    async def get_firmware(self, namespace: str, name: str) -> FirmwareObjects:
        """The host's HostFirmwareSettings and HostFirmwareComponents, as they are now."""
        ...

    async def write_firmware_settings_status(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """Replace a HostFirmwareSettings object's status (skipped when nothing changed)."""
        ...

    async def set_finalizer(self, obj: Mapping[str, Any], finalizer: str, *, present: bool) -> None:
        """Add or remove ``finalizer`` on ``obj`` (a BareMetalHost); conflict-safe and idempotent."""
        ...

    async def remove_annotations(self, obj: Mapping[str, Any], names: Sequence[str]) -> None:
        """Remove consumed one-shot annotations from ``obj``."""
        ...

    async def write_status(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """Replace ``obj``'s status through the status subresource."""
        ...

    async def put_hardware_data(self, owner: Mapping[str, Any], hardware: Mapping[str, Any]) -> None:
        """Create or update the HardwareData named like ``owner`` (controller ref + finalizer)."""
        ...

    async def delete_hardware_data(self, namespace: str, name: str) -> None:
        """Remove HardwareData's finalizer and delete it (no garbage collector is assumed)."""
        ...

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        """A Kubernetes Event about ``obj`` (repeats are aggregated)."""
        ...
