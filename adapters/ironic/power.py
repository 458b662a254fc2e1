"""Observing and driving a host's power through Ironic.

Power is wanted in several phases (a host at rest, a reboot, powering off before deletion); the
requests already sent and the failures they met are remembered per host. That memory and the
decisions around it are one concern, so they live in this collaborator of the provisioner.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

import structlog

from adapters.ironic import wire
from adapters.ironic.client import IronicClient
from adapters.ironic.errors import IronicAuthError, IronicClientError
from adapters.ironic.recording import Recorder
from adapters.ironic.results import ProvisionerSettings, ReconcileResult, Requeue
from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState
from core.events.host_values import ErrorType

log = structlog.get_logger("metalstream.ironic.provisioner")

NS = wire.ProvisionState

BUSY: Final = frozenset(
    {NS.VERIFYING, NS.DEPLOYING, NS.CLEANING, NS.INSPECTING, NS.DELETING, NS.ADOPTING, NS.SERVICING}
)
"""Ironic states in which the node is working: no power change, no new request, no deletion."""


def wanted_power(state: HostState) -> bool:
    """Whether the host should be powered on now (off while a reboot needs it off)."""
    if state.reboot_requests:
        if state.reboot_power_off_pending:
            return False
        if any(key for key, _ in state.reboot_requests):
            return False  # phased reboot: stay off while any keyed request remains
    return state.spec.online


class PowerControl:
    """Drives one host's node power at a time; remembers the power requests it sent."""

    def __init__(
        self,
        client: IronicClient,
        record: Recorder,
        *,
        settings: ProvisionerSettings,
        requeue: Requeue,
        clock: Callable[[], datetime],
    ) -> None:
        self._client = client
        self._record = record
        self._settings = settings
        self._requeue = requeue
        self._clock = clock
        self._requested: dict[str, str] = {}
        """Per host: the power state last asked of Ironic and not yet reached."""

    def forget(self, host_id: str) -> None:
        self._requested.pop(host_id, None)

    async def observe(self, state: HostState, node: wire.Node) -> None:
        if node.target_power_state or node.power_state not in (wire.POWER_ON, wire.POWER_OFF):
            return
        powered_on = node.power_state == wire.POWER_ON
        if powered_on != state.powered_on:
            await self._record.send(state, cmd.RecordPower(now=self._clock(), powered_on=powered_on))

    async def manage(self, state: HostState, node: wire.Node, *, wanted: bool) -> ReconcileResult | None:
        """Drive the node's power toward ``wanted``; None when it is there."""
        if node.target_power_state:
            return self._requeue.short()
        target = wire.POWER_ON if wanted else wire.POWER_OFF
        requested = self._requested.get(state.id)
        if node.power_state == target:
            self._requested.pop(state.id, None)
            if (
                wanted
                and any(key == "" for key, _ in state.reboot_requests)
                and not state.reboot_power_off_pending
            ):
                await self._record.send(state, cmd.CompleteReboot(now=self._clock(), key=""))
            if state.error_type is ErrorType.POWER_MANAGEMENT:
                await self._record.send(state, cmd.RecordPower(now=self._clock(), powered_on=wanted))
            return None
        if node.target_provision_state or node.state in BUSY:
            return self._requeue.short()
        if requested is not None and node.last_error:
            self._requested.pop(state.id, None)
            message = f"{'power on' if wanted else 'power off'} failed: {node.last_error}"
            await self._record.fail(state, ErrorType.POWER_MANAGEMENT, message, node)
            return self._requeue.short()
        if state.error_type is ErrorType.POWER_MANAGEMENT and not self._record.retry_allowed(state):
            return self._record.until_retry(state)
        soft = not wanted and state.reboot_mode == "soft" and state.reboot_power_off_pending
        try:
            if soft:
                await self._client.set_power_state(
                    node.uuid, "soft power off", timeout=self._settings.soft_power_off_timeout
                )
            else:
                await self._client.set_power_state(node.uuid, "power on" if wanted else "power off")
        except IronicClientError as e:
            if not soft or isinstance(e, IronicAuthError):
                raise
            await self._client.set_power_state(node.uuid, "power off")  # soft off unsupported: hard
        self._requested[state.id] = target
        log.info("changing power", host=state.id, node=node.uuid, target=target, soft=soft)
        return self._requeue.short()

    async def at_rest(self, state: HostState, node: wire.Node) -> ReconcileResult:
        if node.state not in (NS.MANAGEABLE, NS.AVAILABLE, NS.ACTIVE):
            return self._requeue.long()
        return await self.manage(state, node, wanted=wanted_power(state)) or self._requeue.steady()
