"""A user and an observer around a running provisioner, for the end-to-end tests.

``User`` declares hosts the way the Kubernetes adapter will (``ApplySpec``, ``RequestDeletion``
through its own command handler, plus the credentials Secret in ``StaticHostSecrets``).
``HostWatcher`` is an independent hosts view following the log, as the status writer will; tests
wait on it with a deadline and are woken by every event, so nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.aggregates.host_state import HostState
from core.events.base import RecordedEvent
from core.events.host_values import BMCDetails, HostSpec, Image, ProvisioningState
from core.ports import EventStore
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.provisioning.static_secrets import StaticHostSecrets
from projections.hosts_view import HostsView
from projections.running import ProjectionRunner
from tests.fakes.memory_checkpoints import MemoryCheckpointStore

PS = ProvisioningState
NAMESPACE: Final = "e2e"
SECRET: Final = "bmc-secret"
USER_NAME: Final = "admin"
PASSWORD: Final = "Bmc-pw-e2e-7f3a"
"""The BMC password every host uses; the tests check it never reaches an event or a log line."""


def image(number: int) -> Image:
    return Image(
        url=f"http://127.0.0.1:1/os-{number}.qcow2",
        checksum=f"{number:064x}",
        checksum_type="sha256",
        format="qcow2",
    )


def unique_mac() -> str:
    return "52:54:00:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:3])


def host_spec(address: str, *, image_number: int | None, mac: str, online: bool = True) -> HostSpec:
    return HostSpec(
        bmc=BMCDetails(address=address, credentials_name=SECRET),
        boot_mac_address=mac,
        online=online,
        image=image(image_number) if image_number is not None else None,
    )


class User:
    """Declares hosts through its own command handler, as the Kubernetes adapter will."""

    def __init__(self, store: EventStore, secrets: StaticHostSecrets) -> None:
        self.handler: CommandHandler[HostState, cmd.HostCommand] = CommandHandler(store, hosts.DEFINITION)
        self.secrets = secrets
        self.context = CommandContext(actor="k8s:e2e")
        self._generations: dict[str, int] = {}
        self._uids: dict[str, str] = {}
        secrets.set_bmc_credentials(NAMESPACE, SECRET, username=USER_NAME, password=PASSWORD)

    async def apply(self, name: str, spec: HostSpec) -> str:
        host_id = f"{NAMESPACE}/{name}"
        generation = self._generations.get(host_id, 0) + 1
        self._generations[host_id] = generation
        uid = self._uids.setdefault(host_id, str(uuid.uuid4()))
        command = cmd.ApplySpec(
            now=datetime.now(UTC), namespace=NAMESPACE, name=name, uid=uid, generation=generation, spec=spec
        )
        await self.handler.handle(host_id, command, self.context)
        return host_id

    async def delete(self, host_id: str) -> None:
        await self.handler.handle(host_id, cmd.RequestDeletion(now=datetime.now(UTC)), self.context)


class HostWatcher:
    """A hosts view of its own; ``until`` waits for a condition on it, woken by each event."""

    def __init__(self, store: EventStore) -> None:
        self.view = HostsView()
        self.runner = ProjectionRunner(self.view, store, MemoryCheckpointStore(), on_applied=self._applied)
        self._changed = asyncio.Event()

    def _applied(self, _record: RecordedEvent) -> None:
        self._changed.set()

    def state(self, host_id: str) -> HostState | None:
        record = self.view.get(host_id)
        return record.state if record is not None else None

    async def until(self, predicate: Callable[[HostsView], bool], *, deadline: float, what: str) -> None:
        try:
            async with asyncio.timeout(deadline):
                while not predicate(self.view):
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            shown = {
                r.state.id: f"{r.state.provisioning_state} error={r.state.error_message!r}"
                for r in self.view.all()
            }
            msg = f"not {what} within {deadline}s; hosts now: {shown}"
            raise AssertionError(msg) from None

    async def until_host(
        self, host_id: str, predicate: Callable[[HostState], bool], *, deadline: float, what: str
    ) -> HostState:
        def holds(view: HostsView) -> bool:
            record = view.get(host_id)
            return record is not None and predicate(record.state)

        await self.until(holds, deadline=deadline, what=f"{host_id} {what}")
        found = self.state(host_id)
        assert found is not None
        return found


def provisioned_with(number: int) -> Callable[[HostState], bool]:
    wanted = image(number)
    return lambda s: s.provisioning_state is PS.PROVISIONED and s.provisioned_image == wanted
