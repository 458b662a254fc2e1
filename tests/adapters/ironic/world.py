"""A small metalstream around the provisioner: event store, command handler, Secrets, BMC mapping.

Host state lives in the in-memory event store and changes only through ``CommandHandler``,
exactly as in production; every new state is fed to the ``ProvisionerLoop``. Tests declare what
a user would (``apply``, ``delete``, ``set_credentials``) and wait for the host to get somewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlsplit

from adapters.ironic.client import IronicClient
from adapters.ironic.ports import BmcCredentials, NodeDriverSpec, with_fake_deploy
from adapters.ironic.provisioning import Provisioner, ProvisionerSettings
from adapters.ironic.scheduling import ProvisionerLoop
from core.aggregates import host_commands as cmd
from core.aggregates.hosts import DEFINITION, HostState
from core.events import hosts as ev
from core.events.base import RecordedEvent
from core.events.host_values import BMCDetails, HostSpec, ProvisioningState
from core.ids import AggregateKey
from metalstream.commanding import CommandContext, CommandHandler
from tests.fakes.memory_eventstore import MemoryEventStore

PS = ProvisioningState
NAMESPACE: Final = "metal3"
DEFAULT_PASSWORD: Final = "password"
FAST: Final = ProvisionerSettings(
    short_requeue=0.2,
    long_requeue=0.3,
    steady_requeue=1.0,
    jitter=0.0,
    transient_backoff_max=1.0,
    capacity_recount=0.5,
)


def drivers_for_tests(
    address: str, *, disable_certificate_verification: bool, credentials: BmcCredentials
) -> NodeDriverSpec:
    """The BMC mapping for tests: ``fake://`` and ``fake-direct://`` hosts, Redfish and IPMI BMCs.

    Real BMCs keep their protocol for power, management and inspection and get fake deploy and
    boot (``with_fake_deploy``), so no agent is needed.
    """
    parts = urlsplit(address)
    scheme = parts.scheme
    if scheme == "fake":
        return NodeDriverSpec(driver="fake-hardware")
    if scheme == "fake-direct":
        return NodeDriverSpec(driver="fake-hardware", interfaces={"deploy": "direct"})
    if scheme == "redfish+http":
        return with_fake_deploy(
            NodeDriverSpec(
                driver="redfish",
                interfaces={"power": "redfish", "management": "redfish", "inspect": "redfish"},
                driver_info={
                    "redfish_address": f"http://{parts.netloc}",
                    "redfish_system_id": parts.path,
                    "redfish_username": credentials.username,
                    "redfish_password": credentials.password,
                },
                fast_inspect_interface="redfish",
            )
        )
    if scheme == "ipmi":
        return with_fake_deploy(
            NodeDriverSpec(
                driver="ipmi",
                interfaces={"power": "ipmitool", "management": "ipmitool"},
                driver_info={
                    "ipmi_address": parts.hostname or "",
                    "ipmi_port": str(parts.port or 623),
                    "ipmi_username": credentials.username,
                    "ipmi_password": credentials.password,
                },
            )
        )
    msg = f"Unknown BMC type '{scheme}' for address {address}"
    raise ValueError(msg)


class Secrets:
    """``HostSecrets`` in dictionaries; setting credentials bumps the Secret's version."""

    def __init__(self) -> None:
        self.credentials: dict[tuple[str, str], BmcCredentials] = {}
        self.user: dict[tuple[str, str], str] = {}
        self.network: dict[tuple[str, str], Mapping[str, Any]] = {}
        self.meta: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._versions = 0

    def set_credentials(self, namespace: str, name: str, username: str, password: str) -> str:
        self._versions += 1
        version = str(self._versions)
        self.credentials[(namespace, name)] = BmcCredentials(username, password, version)
        return version

    async def bmc_credentials(self, namespace: str, name: str) -> BmcCredentials | None:
        return self.credentials.get((namespace, name))

    async def user_data(self, namespace: str, name: str) -> str | None:
        return self.user.get((namespace, name))

    async def network_data(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.network.get((namespace, name))

    async def meta_data(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.meta.get((namespace, name))


class World:
    """Event store + command handler + Secrets + (optionally running) provisioner loop."""

    def __init__(self, client: IronicClient, *, settings: ProvisionerSettings = FAST) -> None:
        self.store = MemoryEventStore({ev.AGGREGATE_TYPE: ev.CODEC})
        self.handler: CommandHandler[HostState, cmd.HostCommand] = CommandHandler(self.store, DEFINITION)
        self.secrets = Secrets()
        self.client = client
        self.settings = settings
        self.clock_offset = timedelta()
        self.loop: ProvisionerLoop | None = None
        self.generations: dict[str, int] = {}
        self.uids: dict[str, str] = {}

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    # -- the command path the provisioner uses ------------------------------------------------------

    async def send(self, host_id: str, command: cmd.HostCommand) -> None:
        outcome = await self.handler.handle(host_id, command, CommandContext(actor="ironic"))
        if self.loop is not None:
            self.loop.update(outcome.state)

    def provisioner(self, client: IronicClient | None = None) -> Provisioner:
        return Provisioner(
            client or self.client,
            self,
            self.secrets,
            drivers_for_tests,
            settings=self.settings,
            clock=self.now,
        )

    @contextlib.asynccontextmanager
    async def running(self, provisioner: Provisioner | None = None) -> AsyncIterator[ProvisionerLoop]:
        """Run a provisioner loop (fed with every host's current state) for the block's duration."""
        reconciler = provisioner or self.provisioner()
        loop = ProvisionerLoop(reconciler, concurrency=4)
        if isinstance(reconciler, Provisioner):
            reconciler.wake = loop.wake
        self.loop = loop
        for host_id in list(self.generations):
            loop.update(await self.state(host_id))
        task = asyncio.create_task(loop.run(), name="test.provisioner-loop")
        try:
            yield loop
        finally:
            self.loop = None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- what users declare -------------------------------------------------------------------------

    async def declare(self, host_id: str, command: cmd.HostCommand) -> HostState:
        outcome = await self.handler.handle(host_id, command, CommandContext(actor="k8s:test"))
        if self.loop is not None:
            self.loop.update(outcome.state)
        return outcome.state

    async def apply(
        self,
        name: str,
        spec: HostSpec,
        *,
        password: str | None = DEFAULT_PASSWORD,
        max_provisioning_retries: int = 5,
    ) -> str:
        """Create or update host ``metal3/<name>``; a password (re)writes its credentials Secret."""
        host_id = f"{NAMESPACE}/{name}"
        generation = self.generations.get(host_id, 0) + 1
        self.generations[host_id] = generation
        uid = self.uids.setdefault(host_id, str(uuid.uuid4()))
        if password is not None and spec.bmc.credentials_name:
            await self.set_credentials(host_id, spec.bmc.credentials_name, password)
        await self.declare(
            host_id,
            cmd.ApplySpec(
                now=self.now(),
                namespace=NAMESPACE,
                name=name,
                uid=uid,
                generation=generation,
                spec=spec,
                max_provisioning_retries=max_provisioning_retries,
            ),
        )
        return host_id

    async def set_credentials(
        self, host_id: str, secret: str, password: str, username: str = "admin"
    ) -> None:
        version = self.secrets.set_credentials(NAMESPACE, secret, username, password)
        if host_id in self.generations and (await self.state(host_id)).exists:
            await self.declare(
                host_id, cmd.ObserveCredentials(now=self.now(), secret_name=secret, version=version)
            )

    async def delete(self, host_id: str) -> None:
        await self.declare(host_id, cmd.RequestDeletion(now=self.now()))

    # -- looking ----------------------------------------------------------------------------------

    async def state(self, host_id: str) -> HostState:
        return (await self.handler.load(host_id))[0]

    async def events(self, host_id: str) -> list[RecordedEvent]:
        return (await self.store.load(AggregateKey(type=ev.AGGREGATE_TYPE, id=host_id))).events

    async def event_types(self, host_id: str) -> list[str]:
        return [type(r.event).__name__ for r in await self.events(host_id)]

    async def wait_for(
        self, host_id: str, predicate: Callable[[HostState], bool], *, deadline: float = 30.0, what: str = ""
    ) -> HostState:
        started = time.monotonic()
        while True:
            state = await self.state(host_id)
            if predicate(state):
                return state
            if time.monotonic() - started > deadline:
                shown = f"{state.provisioning_state!r} error={state.error_type} {state.error_message!r}"
                msg = (
                    f"{host_id} did not reach {what or 'the expected state'} within {deadline}s; now {shown}"
                )
                raise AssertionError(msg)
            await asyncio.sleep(0.05)

    async def wait_state(
        self, host_id: str, wanted: ProvisioningState, *, deadline: float = 90.0
    ) -> HostState:
        return await self.wait_for(
            host_id, lambda s: s.provisioning_state is wanted, deadline=deadline, what=str(wanted)
        )


def fake_spec(**changes: Any) -> HostSpec:
    """A fake-hardware host with a BMC Secret, a boot MAC and UEFI, changed by ``changes``."""
    base: dict[str, Any] = {
        "bmc": BMCDetails(address="fake://bmc", credentials_name="bmc-secret"),
        "boot_mac_address": "52:54:00:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:3]),
    }
    base.update(changes)
    return HostSpec(**base)
