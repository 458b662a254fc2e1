"""The provisioner's observations become host commands through the command handler.

``HandlerCommandSender`` implements ``adapters.ironic.ports.HostCommandSender``: each observation
(registered, inspected, provisioned, power seen, failure, ...) is decided against the host's
current state and appended by ``metalstream.commanding.CommandHandler`` with actor
``ironic-provisioner``. A ``CommandRejected`` is passed on unchanged: it means the provisioner
looked at a state that has moved on (a stale observation), and the provisioner logs it at debug
level and looks again; it is not an error.

When the observation changed the host, ``on_recorded`` receives the new state at once, so the
provisioner can take the next step without waiting for the event to come back through the log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState
from metalstream.commanding import CommandContext, CommandHandler, Outcome

ACTOR: Final = "ironic-provisioner"


class HandlerCommandSender:
    """Sends observations as host commands with actor ``ironic-provisioner``."""

    def __init__(
        self,
        handler: CommandHandler[HostState, cmd.HostCommand],
        *,
        actor: str = ACTOR,
        on_recorded: Callable[[str, Outcome[HostState]], None] | None = None,
    ) -> None:
        self._handler = handler
        self._context = CommandContext(actor=actor)
        self._on_recorded = on_recorded
        self.sent = 0
        """Observations sent so far (a metric)."""

    async def send(self, host_id: str, command: cmd.HostCommand) -> None:
        """Record ``command``; raises ``CommandRejected`` when it no longer applies (stale)."""
        self.sent += 1
        outcome = await self._handler.handle(host_id, command, self._context)
        if outcome.events and self._on_recorded is not None:
            self._on_recorded(host_id, outcome)


__all__ = ["ACTOR", "HandlerCommandSender"]
