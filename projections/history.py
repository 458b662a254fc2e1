"""The history view: an aggregate's events with the state change each one made.

Audit questions are "what happened to this host, who asked for it, and what did it look like
at 14:02 yesterday". Replaying the aggregate's own events answers all three; this module pairs
each event with the fields it changed so a person can read the log without knowing the fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import msgspec

from core.aggregates.base import AggregateDefinition
from core.events.base import Envelope, Event, RecordedEvent, UndecodableEvent, UnknownEvent

S = TypeVar("S", bound=msgspec.Struct)


class FieldChange(msgspec.Struct, frozen=True, kw_only=True):
    """One top-level state field before and after an event (JSON-ready values)."""

    field: str
    before: Any
    after: Any


class HistoryEntry(msgspec.Struct, Generic[S], frozen=True, kw_only=True):
    envelope: Envelope
    event: Event | UnknownEvent | UndecodableEvent
    changes: tuple[FieldChange, ...]
    state: S
    """The aggregate's state right after this event."""


def _fields(state: msgspec.Struct) -> dict[str, Any]:
    return {name: getattr(state, name) for name in state.__struct_fields__}


def _changes(path: str, old: Any, new: Any) -> list[FieldChange]:
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        found: list[FieldChange] = []
        for key in sorted(old.keys() | new.keys()):
            found += _changes(f"{path}.{key}", old.get(key), new.get(key))
        return found
    return [FieldChange(field=path, before=old, after=new)]


def diff(before: msgspec.Struct, after: msgspec.Struct) -> tuple[FieldChange, ...]:
    """The fields that differ between two states of the same type, down to nested leaves."""
    old, new = _fields(before), _fields(after)
    found: list[FieldChange] = []
    for name in new:
        if old.get(name) != new[name]:
            found += _changes(name, msgspec.to_builtins(old.get(name)), msgspec.to_builtins(new[name]))
    return tuple(found)


def history(
    definition: AggregateDefinition[S, Any], records: Sequence[RecordedEvent]
) -> list[HistoryEntry[S]]:
    """Every event of one aggregate, in order, with what it changed."""
    state = definition.initial
    entries: list[HistoryEntry[S]] = []
    for record in records:
        after = definition.evolve(state, record.event)
        entries.append(
            HistoryEntry(
                envelope=record.envelope, event=record.event, changes=diff(state, after), state=after
            )
        )
        state = after
    return entries


def until(
    entries: Sequence[HistoryEntry[S]], *, at: datetime | None = None, position: int | None = None
) -> list[HistoryEntry[S]]:
    """The entries recorded at or before a moment (``at``) or a log position (``position``)."""
    kept: list[HistoryEntry[S]] = []
    for entry in entries:
        if at is not None and entry.envelope.occurred_at > at:
            break
        if position is not None and entry.envelope.position > position:
            break
        kept.append(entry)
    return kept


def state_at(
    definition: AggregateDefinition[S, Any],
    records: Sequence[RecordedEvent],
    *,
    at: datetime | None = None,
    position: int | None = None,
) -> S:
    """The aggregate's state as it was at ``at`` or just after log position ``position``."""
    entries = until(history(definition, records), at=at, position=position)
    return entries[-1].state if entries else definition.initial
