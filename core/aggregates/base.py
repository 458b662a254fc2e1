"""What makes an aggregate: its type, codec, initial state and the two pure functions.

The command handler in the composition root is generic over this definition, so hosts,
machines and IP pools share one load/decide/append/retry loop and one cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Generic, TypeVar

from core.events.base import Event, UndecodableEvent, UnknownEvent
from core.events.codec import EventCodec

S = TypeVar("S")
C = TypeVar("C")

Stored = Event | UnknownEvent | UndecodableEvent


@dataclass(frozen=True, slots=True)
class AggregateDefinition(Generic[S, C]):
    """The pure parts of one aggregate type."""

    type: str
    codec: EventCodec
    initial: S
    decide: Callable[[S, C], Sequence[Event]]
    evolve: Callable[[S, Stored], S]

    def fold(self, events: Sequence[Stored], state: S | None = None) -> S:
        """Replay ``events`` onto ``state`` (the initial state by default)."""
        return reduce(self.evolve, events, self.initial if state is None else state)
