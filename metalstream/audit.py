"""Rendering an aggregate's history for people (text) and for tools (JSON).

``metalstream history`` answers audit questions from the log alone: each event with when it was
recorded, its type, who asked (actor), what caused it, and the state fields it changed; then the
state at the requested moment. Values that could be secrets never reach here, because events
never contain them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from core.aggregates.host_state import HostState
from core.events.base import UndecodableEvent, UnknownEvent
from projections.history import HistoryEntry

_JSON = msgspec.json.Encoder(order="deterministic")


def _short(value: Any, limit: int = 100) -> str:
    text = _JSON.encode(value).decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render_text(entries: Sequence[HistoryEntry[Any]], *, state: Any, moment: str) -> str:
    """A readable log: one block per event, then the state at the chosen moment."""
    lines: list[str] = []
    for entry in entries:
        env = entry.envelope
        cause = env.causation_id or "-"
        lines.append(
            f"#{env.version:<4} [{env.position}] {_stamp(env.occurred_at)}  {env.event_type}  "
            f"actor={env.actor} cause={cause} correlation={env.correlation_id}"
        )
        if isinstance(entry.event, UnknownEvent):
            lines.append(f"        (event type {entry.event.type!r} is unknown to this version; skipped)")
        elif isinstance(entry.event, UndecodableEvent):
            lines.append(f"        (undecodable: {entry.event.reason}; skipped)")
        lines.extend(f"        {c.field}: {_short(c.before)} -> {_short(c.after)}" for c in entry.changes)
    lines.append("")
    lines.append(f"State {moment}:")
    lines.extend(f"  {line}" for line in summary(state))
    return "\n".join(lines)


def summary(state: Any) -> list[str]:
    """The fields an operator looks at first."""
    if not isinstance(state, HostState):
        return [_short(msgspec.to_builtins(state), 2000)]
    if not state.exists:
        return ["(does not exist yet)"]
    rows = [
        ("provisioning state", str(state.provisioning_state) or "none"),
        ("operational status", str(state.operational_status) or "-"),
        ("online (desired)", str(state.spec.online).lower()),
        ("powered on (observed)", str(state.powered_on).lower()),
        ("image", state.provisioned_image.url if state.provisioned_image else "-"),
        ("consumer", f"{state.consumer.namespace}/{state.consumer.name}" if state.consumer else "-"),
        ("error", f"{state.error_type}: {state.error_message}" if state.error_type else "-"),
        ("error count", str(state.error_count)),
        ("provisioning id", state.provisioning_id or "-"),
        ("deleted", str(state.deleted).lower()),
    ]
    return [f"{name:<22} {value}" for name, value in rows]


def render_json(entries: Sequence[HistoryEntry[Any]], *, state: Any) -> bytes:
    """The same as a JSON document: ``{"events": [...], "state": {...}}``."""
    events = []
    for entry in entries:
        payload: Any
        if isinstance(entry.event, UnknownEvent | UndecodableEvent):
            payload = {"undecoded": entry.event.data.decode("utf-8", "replace")}
        else:
            payload = msgspec.to_builtins(entry.event)
        events.append(
            {
                "envelope": msgspec.to_builtins(entry.envelope),
                "event": payload,
                "changes": [msgspec.to_builtins(c) for c in entry.changes],
            }
        )
    return _JSON.encode({"events": events, "state": msgspec.to_builtins(state)})


def render_record(record: Any) -> str:
    """One line per event, for ``metalstream events tail``."""
    env = record.envelope
    event = record.event
    if isinstance(event, UnknownEvent | UndecodableEvent):
        body = "(not understood by this version)"
    else:
        fields = msgspec.to_builtins(event)
        fields.pop("type", None)
        body = _short(fields, 160)
    return (
        f"[{env.position}] {_stamp(env.occurred_at)} {env.aggregate_type}:{env.aggregate_id} "
        f"#{env.version} {env.event_type} actor={env.actor} {body}"
    )
