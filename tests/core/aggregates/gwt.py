"""Given/when/then for aggregates: given past events, when a command, then these events (or a rejection).

Events are compared by value, every field included, so a test pins the exact facts a command
records. ``then`` returns the state after the new events so a test can go on asserting on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import pytest

from core.aggregates import host_commands as cmd
from core.aggregates.base import AggregateDefinition, Stored
from core.aggregates.host_state import HostState
from core.aggregates.hosts import DEFINITION
from core.errors import AggregateNotFound, CommandRejected
from core.events.base import Event

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True)
class Given(Generic[S, C]):
    definition: AggregateDefinition[S, C]
    history: tuple[Stored, ...]

    @property
    def state(self) -> S:
        return self.definition.fold(self.history)

    def when(self, command: C) -> When[S, C]:
        return When(self.definition, self.state, command)


@dataclass(frozen=True)
class When(Generic[S, C]):
    definition: AggregateDefinition[S, C]
    state: S
    command: C

    def then(self, *expected: Event) -> S:
        """Assert the command records exactly ``expected``; return the state after them."""
        recorded = list(self.definition.decide(self.state, self.command))
        assert recorded == list(expected)
        return self.definition.fold(recorded, self.state)

    def then_nothing(self) -> S:
        """Assert the command is accepted but records nothing (it changes nothing)."""
        return self.then()

    def then_rejected(self, *, rule: str) -> CommandRejected:
        with pytest.raises(CommandRejected) as caught:
            self.definition.decide(self.state, self.command)
        assert caught.value.rule == rule
        return caught.value

    def then_not_found(self) -> AggregateNotFound:
        with pytest.raises(AggregateNotFound) as caught:
            self.definition.decide(self.state, self.command)
        return caught.value


def given(*history: Stored | Sequence[Stored]) -> Given[HostState, cmd.HostCommand]:
    """A host whose log holds ``history``; sequences are flattened so histories compose."""
    flat: list[Stored] = []
    for item in history:
        if isinstance(item, Sequence):
            flat.extend(item)
        else:
            flat.append(item)
    return Given(DEFINITION, tuple(flat))


def step(history: Sequence[Event], command: cmd.HostCommand, *expected: Event) -> list[Event]:
    """Check one step of a longer story and return the history with its events appended."""
    given(history).when(command).then(*expected)
    return [*history, *expected]
