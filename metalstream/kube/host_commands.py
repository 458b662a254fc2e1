"""The BareMetalHost controller's ``HostCommands`` port, on the command handler.

Declarations from Kubernetes are recorded with actor ``k8s`` plus who the object names as its
source, so ``metalstream history`` tells a user's edit from the provisioner's observations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState
from metalstream.commanding import CommandContext, CommandHandler, Outcome

ACTOR: Final = "k8s-baremetalhost-controller"


class HandlerHostCommands:
    """``adapters.k8s.baremetalhost.ports.HostCommands`` over a ``CommandHandler``."""

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

    async def state(self, host_id: str) -> HostState:
        state, _ = await self._handler.load(host_id)
        return state

    async def send(self, host_id: str, command: cmd.HostCommand) -> HostState:
        outcome = await self._handler.handle(host_id, command, self._context)
        if outcome.events and self._on_recorded is not None:
            self._on_recorded(host_id, outcome)
        return outcome.state
