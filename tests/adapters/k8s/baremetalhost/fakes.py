"""In-memory stand-ins for the controller's ports: the real aggregate behind a command handler on
the in-memory store, and a cluster that records the calls it gets (for pure controller tests; the
same controller runs against the real API server in the end-to-end tests)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from adapters.k8s.baremetalhost.ports import FirmwareObjects
from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.aggregates.host_state import HostState
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.registry import CODECS
from tests.fakes.memory_eventstore import MemoryEventStore

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class AggregateCommands:
    """``HostCommands`` on the real host aggregate, stored in memory; counts what it records."""

    def __init__(self) -> None:
        self.store = MemoryEventStore(CODECS)
        self.handler: CommandHandler[HostState, cmd.HostCommand] = CommandHandler(
            self.store, hosts.DEFINITION, clock=lambda: NOW
        )
        self.sent: list[cmd.HostCommand] = []
        self.recorded = 0

    async def state(self, host_id: str) -> HostState:
        state, _ = await self.handler.load(host_id)
        return state

    async def send(self, host_id: str, command: cmd.HostCommand) -> HostState:
        self.sent.append(command)
        outcome = await self.handler.handle(host_id, command, CommandContext(actor="test"))
        self.recorded += len(outcome.events)
        return outcome.state


@dataclass
class RecordingCluster:
    """``HostCluster`` keeping Secrets in a dict and recording every write."""

    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    finalizers: list[tuple[str, bool]] = field(default_factory=list)
    removed_annotations: list[tuple[str, ...]] = field(default_factory=list)
    statuses: list[Mapping[str, Any]] = field(default_factory=list)
    hardware: list[Mapping[str, Any]] = field(default_factory=list)
    deleted_hardware: list[str] = field(default_factory=list)
    adopted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    firmware: dict[tuple[str, str], FirmwareObjects] = field(default_factory=dict)
    """HostFirmwareSettings/Components by (namespace, host name); absent means neither exists."""
    firmware_statuses: list[Mapping[str, Any]] = field(default_factory=list)

    async def get_secret(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.secrets.get((namespace, name))

    async def get_firmware(self, namespace: str, name: str) -> FirmwareObjects:
        return self.firmware.get((namespace, name), FirmwareObjects())

    async def write_firmware_settings_status(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        self.firmware_statuses.append(status)

    async def adopt_secret(self, secret: Mapping[str, Any], owner: Mapping[str, Any]) -> None:
        self.adopted.append(str(secret["metadata"]["name"]))

    async def release_secret(self, namespace: str, name: str, owner_uid: str) -> None:
        self.released.append(name)

    async def set_finalizer(self, obj: Mapping[str, Any], finalizer: str, *, present: bool) -> None:
        self.finalizers.append((finalizer, present))

    async def remove_annotations(self, obj: Mapping[str, Any], names: Sequence[str]) -> None:
        self.removed_annotations.append(tuple(names))

    async def write_status(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        self.statuses.append(status)

    async def put_hardware_data(self, owner: Mapping[str, Any], hardware: Mapping[str, Any]) -> None:
        self.hardware.append(hardware)

    async def delete_hardware_data(self, namespace: str, name: str) -> None:
        self.deleted_hardware.append(name)

    async def record(
        self, obj: Mapping[str, Any], kind: Literal["Normal", "Warning"], reason: str, message: str
    ) -> None:
        self.events.append((kind, reason, message))
