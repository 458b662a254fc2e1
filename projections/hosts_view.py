"""The current state of every host, folded from the whole log.

This read model answers "what does host X look like now" without touching the event store, and
feeds the Kubernetes status writer, metrics and the CLI. It is rebuilt from a checkpoint (a
snapshot of every host plus the log position it covers) and then follows the log live.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import msgspec

from core.aggregates import hosts
from core.aggregates.host_state import HostState
from core.events.base import RecordedEvent, UndecodableEvent, UnknownEvent


class HostRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One host as of the last event folded into it."""

    state: HostState
    version: int
    position: int
    updated_at: datetime


class _Snapshot(msgspec.Struct, kw_only=True):
    hosts: dict[str, HostRecord]


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(_Snapshot)


class HostsView:
    """Current state of every host (deleted hosts are dropped)."""

    name = "hosts-view"
    aggregate_type: str | None = hosts.DEFINITION.type

    def __init__(self) -> None:
        self._hosts: dict[str, HostRecord] = {}

    def apply(self, record: RecordedEvent) -> None:
        """Fold one host event into the view."""
        envelope = record.envelope
        if envelope.aggregate_type != hosts.DEFINITION.type:
            return
        if isinstance(record.event, UnknownEvent | UndecodableEvent):
            return
        current = self._hosts.get(envelope.aggregate_id)
        state = hosts.evolve(current.state if current else hosts.DEFINITION.initial, record.event)
        if state.deleted:
            self._hosts.pop(envelope.aggregate_id, None)
            return
        self._hosts[envelope.aggregate_id] = HostRecord(
            state=state, version=envelope.version, position=envelope.position, updated_at=envelope.occurred_at
        )

    def get(self, host_id: str) -> HostRecord | None:
        return self._hosts.get(host_id)

    def all(self) -> list[HostRecord]:
        return [self._hosts[key] for key in sorted(self._hosts)]

    def count_by_state(self) -> Counter[str]:
        """How many hosts are in each provisioning state (for progress displays and metrics)."""
        return Counter(str(r.state.provisioning_state) or "none" for r in self._hosts.values())

    def __len__(self) -> int:
        return len(self._hosts)

    def snapshot(self) -> bytes:
        return _ENCODER.encode(_Snapshot(hosts=self._hosts))

    def restore(self, snapshot: bytes) -> None:
        self._hosts = dict(_DECODER.decode(snapshot).hosts) if snapshot else {}
