"""The event and dead-letter streams: their settings, spelled out, and ensuring them at start.

Every setting that matters for an event store is explicit rather than left to server defaults,
because defaults change between releases and several of them would quietly break the store:

- file storage and ``limits`` retention with no age, count or byte limit: the log is kept forever;
- no ``max_msgs_per_subject``: it would turn an aggregate's history into a bounded window;
- ``deny_delete``, ``deny_purge`` and no rollup headers: events are immutable, for audit;
- ``duplicate_window`` of 2 minutes: how long a retried append is recognised by ``Nats-Msg-Id``;
- ``allow_direct``: loads use batched Direct Get;
- ``allow_atomic``: a command's events are one all-or-nothing batch (ADR-50).

At start the store creates the streams, or checks that existing ones are compatible and brings
their changeable settings in line. Storage type and retention cannot be changed on a live stream;
a mismatch there stops the store with an error that says what differs.
"""

from __future__ import annotations

from enum import Enum

from nats.js import api
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from adapters.nats.errors import StreamMisconfigured, translated
from adapters.nats.settings import StoreSettings
from adapters.nats.subjects import SubjectLayout

_COMPARED = (
    "subjects",
    "max_msgs",
    "max_bytes",
    "max_age",
    "max_msgs_per_subject",
    "discard",
    "duplicate_window",
    "allow_direct",
    "deny_delete",
    "deny_purge",
    "allow_rollup_hdrs",
    "allow_atomic",
    "num_replicas",
)


def event_stream_config(settings: StoreSettings) -> api.StreamConfig:
    """The event stream as the store needs it."""
    return _immutable_log(
        name=settings.stream,
        subject=SubjectLayout(settings).all_events,
        settings=settings,
        description="metalstream events: one subject per aggregate, kept forever",
        atomic=True,
    )


def dead_letter_stream_config(settings: StoreSettings) -> api.StreamConfig:
    """The dead-letter stream: same durability, no atomic batches needed."""
    return _immutable_log(
        name=settings.dead_letter_stream,
        subject=SubjectLayout(settings).all_dead_letters,
        settings=settings,
        description="metalstream dead letters: events a reader could not handle, with the reason",
        atomic=False,
    )


def _immutable_log(
    *, name: str, subject: str, settings: StoreSettings, description: str, atomic: bool
) -> api.StreamConfig:
    return api.StreamConfig(
        name=name,
        description=description,
        subjects=[subject],
        retention=api.RetentionPolicy.LIMITS,
        storage=api.StorageType.FILE,
        discard=api.DiscardPolicy.OLD,
        max_msgs=-1,
        max_bytes=-1,
        max_age=0,
        max_msgs_per_subject=-1,
        num_replicas=settings.replicas,
        duplicate_window=settings.duplicate_window,
        allow_direct=True,
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        allow_atomic=atomic,
    )


async def ensure_stream(js: JetStreamContext, wanted: api.StreamConfig) -> None:
    """Create ``wanted`` or bring an existing stream of that name in line with it."""
    name = wanted.name or ""
    with translated(f"ensure stream {name}"):
        try:
            info = await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(wanted)
            return
        current = info.config
        fixed = _fixed_differences(current, wanted)
        if fixed:
            msg = f"stream {name} exists with {fixed}; it cannot be changed in place: migrate or rename"
            raise StreamMisconfigured(msg)
        if _changeable_differences(current, wanted):
            await js.update_stream(wanted)


def _fixed_differences(current: api.StreamConfig, wanted: api.StreamConfig) -> str:
    problems = [
        f"{field}={_plain(getattr(current, field))} (need {_plain(getattr(wanted, field))})"
        for field in ("storage", "retention")
        if _plain(getattr(current, field)) != _plain(getattr(wanted, field))
    ]
    return ", ".join(problems)


def _changeable_differences(current: api.StreamConfig, wanted: api.StreamConfig) -> list[str]:
    return [field for field in _COMPARED if _plain(getattr(current, field)) != _plain(getattr(wanted, field))]


def _plain(value: object) -> object:
    # Enums come back as members or plain strings, and the server omits false and zero fields.
    if isinstance(value, Enum):
        return value.value
    if not value:
        return None
    return value
