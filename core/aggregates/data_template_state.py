"""The state of one Metal3DataTemplate, and ``evolve``: how each template event changes it.

The held indexes are kept sorted by index, which is both the order ``status.indexes`` lists them
in and the order the lowest-free-index search walks.
"""

from __future__ import annotations

import msgspec
from msgspec.structs import replace

from core.events import data_templates as ev
from core.events.base import Event, UndecodableEvent, UnknownEvent
from core.events.data_template_values import DataTemplateSpec


class IndexEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of ``status.indexes``: which claim holds which index."""

    claim: str
    index: int


class DataTemplateState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the domain knows about one data template, folded from its events."""

    exists: bool = False
    deleted: bool = False
    namespace: str = ""
    name: str = ""
    uid: str = ""
    generation: int = 0
    spec: DataTemplateSpec = DataTemplateSpec()
    indexes: tuple[IndexEntry, ...] = ()
    """Held indexes, sorted by index: ``status.indexes``."""
    deletion_requested: bool = False

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    def index_of(self, claim: str) -> int | None:
        """The index ``claim`` holds, if any."""
        for entry in self.indexes:
            if entry.claim == claim:
                return entry.index
        return None

    def lowest_free_index(self) -> int:
        """The smallest index no claim holds: indexes start at 0 and released ones are reused."""
        expected = 0
        for entry in self.indexes:
            if entry.index != expected:
                break
            expected += 1
        return expected

    def data_name(self, claim: str) -> str | None:
        """The Metal3Data name of ``claim``'s index (``<template>-<index>``), if it holds one."""
        index = self.index_of(claim)
        return None if index is None else f"{self.name}-{index}"


INITIAL = DataTemplateState()


def evolve(state: DataTemplateState, event: Event | UnknownEvent | UndecodableEvent) -> DataTemplateState:
    """Apply one event to a template's state."""
    match event:
        case ev.DataTemplateCreated():
            return DataTemplateState(
                exists=True,
                namespace=event.namespace,
                name=event.name,
                uid=event.uid,
                generation=event.generation,
                spec=event.spec,
            )
        case ev.DataTemplateSpecChanged():
            return replace(state, generation=event.generation, spec=event.spec)
        case ev.IndexClaimed():
            held = [e for e in state.indexes if e.claim != event.claim]
            held.append(IndexEntry(claim=event.claim, index=event.index))
            return replace(state, indexes=tuple(sorted(held, key=lambda e: (e.index, e.claim))))
        case ev.IndexReleased():
            return replace(state, indexes=tuple(e for e in state.indexes if e.claim != event.claim))
        case ev.DataTemplateDeletionRequested():
            return replace(state, deletion_requested=True)
        case ev.DataTemplateDeleted():
            return replace(state, deleted=True)
        case _:
            # Unknown or undecodable events, and events of other aggregates, leave the state alone.
            return state
