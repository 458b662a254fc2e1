"""Records what the provisioner observed as host commands, and Ironic failures once each.

The provisioner keeps no state that matters for correctness, but it must not record the same
Ironic failure twice, and it must know when a failed step may be retried. That bookkeeping and
the sending of observations are one concern, kept here so the phases of the state machine share
it through one small collaborator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

import structlog

from adapters.ironic import wire
from adapters.ironic.ports import HostCommandSender
from adapters.ironic.results import ProvisionerSettings, ReconcileResult, Requeue
from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState
from core.errors import AggregateNotFound, CommandRejected
from core.events.host_values import ErrorType

log = structlog.get_logger("metalstream.ironic.provisioner")


class Recorder:
    """Sends observations for hosts and remembers which failures were recorded."""

    def __init__(
        self,
        commands: HostCommandSender,
        *,
        settings: ProvisionerSettings,
        requeue: Requeue,
        clock: Callable[[], datetime],
        rng: Callable[[], float],
        rounds: Mapping[str, int],
    ) -> None:
        self._commands = commands
        self._settings = settings
        self._requeue = requeue
        self._clock = clock
        self._rng = rng
        self._rounds = rounds
        self.recorded: dict[str, tuple[str, str]] = {}
        """Per host: (node uuid, provision_updated_at) of the Ironic failure last recorded."""
        self.observed: dict[str, int] = {}
        """Per host: the round in which an observation was last recorded."""

    def forget(self, host_id: str) -> None:
        self.recorded.pop(host_id, None)
        self.observed.pop(host_id, None)

    async def send(self, state: HostState, command: cmd.HostCommand) -> bool:
        """Send an observation; a rejection means our view was stale (not an error)."""
        try:
            await self._commands.send(state.id, command)
        except (CommandRejected, AggregateNotFound) as e:
            log.debug(
                "observation not recorded", host=state.id, command=type(command).__name__, reason=str(e)
            )
            return False
        self.observed[state.id] = self._rounds.get(state.id, 0)
        return True

    def retry_allowed(self, state: HostState) -> bool:
        return state.retry_not_before is None or self._clock() >= state.retry_not_before

    def until_retry(self, state: HostState) -> ReconcileResult:
        """Wait for ``retry_not_before``, looking again at least every long interval."""
        if state.retry_not_before is None:
            return self._requeue.long()
        remaining = (state.retry_not_before - self._clock()).total_seconds()
        return ReconcileResult(max(0.0, min(remaining, self._settings.long_requeue)))

    async def fail(
        self, state: HostState, error_type: ErrorType, message: str, node: wire.Node | None
    ) -> None:
        """Record an Ironic failure once per occurrence (a node's failure is tied to its timestamp)."""
        if node is not None:
            occurrence = (node.uuid, node.provision_updated_at or "")
            if self.recorded.get(state.id) == occurrence:
                return
            self.recorded[state.id] = occurrence
        elif state.error_type is error_type and state.error_message == message:
            return
        log.info("recording host failure", host=state.id, error_type=str(error_type), message=message)
        await self.send(
            state,
            cmd.RecordFailure(now=self._clock(), error_type=error_type, message=message, jitter=self._rng()),
        )

    def failure_recorded(self, state: HostState, node: wire.Node, error_type: ErrorType) -> bool:
        occurrence = (node.uuid, node.provision_updated_at or "")
        if self.recorded.get(state.id) == occurrence:
            return True
        # After a restart: the host already carries this very failure.
        if (
            state.error_type is error_type
            and node.last_error
            and state.error_message.endswith(node.last_error)
        ):
            self.recorded[state.id] = occurrence
            return True
        return False

    async def failed_step(
        self, state: HostState, node: wire.Node, error_type: ErrorType, message: str
    ) -> ReconcileResult | None:
        """A node in a *failed state: record it, or say it may be retried now (None)."""
        if not self.failure_recorded(state, node, error_type):
            await self.fail(state, error_type, message, node)
            return self._requeue.short()
        if not self.retry_allowed(state):
            return self.until_retry(state)
        return None
