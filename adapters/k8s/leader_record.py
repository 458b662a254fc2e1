"""The Lease record of a leader election, and the decisions on it that need no I/O.

A ``coordination.k8s.io/v1`` Lease says who leads (``holderIdentity``), for how long a holder
that stops renewing keeps the lease (``leaseDurationSeconds``), when it took it (``acquireTime``)
and last renewed it (``renewTime``), and how often it changed hands (``leaseTransitions``). The
times are Kubernetes ``MicroTime``: RFC 3339 in UTC with six fractional digits.

Expiry is judged the way client-go judges it, on the *observer's* monotonic clock: a record
expires ``leaseDurationSeconds`` after this process first saw it (``Observation.at``), not after
its ``renewTime``. A leader that renews changes the record, so a standby's clock restarts with
each renewal; clocks of different machines are never compared, so skew between nodes cannot make
a standby take over early. The written times are informational (``kubectl get lease``).
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

MICRO_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"
RELEASED_DURATION: Final = 1
"""``leaseDurationSeconds`` of a released lease (the API requires a positive value)."""


def format_micro_time(moment: datetime.datetime) -> str:
    """``moment`` as a ``MicroTime``: ``2026-11-24T03:16:33.123456Z`` (converted to UTC)."""
    if moment.tzinfo is None:
        msg = f"{moment!r} has no time zone; pass an aware datetime (UTC)"
        raise ValueError(msg)
    return moment.astimezone(datetime.UTC).strftime(MICRO_TIME_FORMAT)


def parse_micro_time(text: str) -> datetime.datetime:
    """A ``MicroTime`` (or another RFC 3339 time with a zone) as a UTC datetime; else ``ValueError``."""
    moment = datetime.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        msg = f"time {text!r} has no zone; the API server writes UTC times ending in Z"
        raise ValueError(msg)
    return moment.astimezone(datetime.UTC)


def whole_seconds(duration: float) -> int:
    """A duration for ``leaseDurationSeconds``: rounded up, so others never wait less than meant."""
    return max(1, math.ceil(duration))


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The leader-election fields of a Lease's ``spec``; an empty ``holder`` means nobody leads."""

    holder: str = ""
    lease_duration: int = 0
    """Seconds, as in ``leaseDurationSeconds``."""
    acquire_time: datetime.datetime | None = None
    renew_time: datetime.datetime | None = None
    transitions: int = 0


def from_spec(spec: Mapping[str, Any] | None) -> LeaseRecord:
    """The record in a Lease's ``spec`` (absent fields take their zero values).

    A time that does not parse counts as absent: the times are informational, and a record this
    process cannot read must still be judged (and, once expired, taken over).
    """
    spec = spec or {}
    return LeaseRecord(
        holder=str(spec.get("holderIdentity") or ""),
        lease_duration=_int(spec.get("leaseDurationSeconds")),
        acquire_time=_time(spec.get("acquireTime")),
        renew_time=_time(spec.get("renewTime")),
        transitions=_int(spec.get("leaseTransitions")),
    )


def to_spec(record: LeaseRecord) -> dict[str, Any]:
    """The ``spec`` fields that hold ``record`` (other fields of a Lease's spec are left alone)."""
    spec: dict[str, Any] = {
        "holderIdentity": record.holder,
        "leaseDurationSeconds": record.lease_duration,
        "leaseTransitions": record.transitions,
    }
    if record.acquire_time is not None:
        spec["acquireTime"] = format_micro_time(record.acquire_time)
    if record.renew_time is not None:
        spec["renewTime"] = format_micro_time(record.renew_time)
    return spec


@dataclass(frozen=True, slots=True)
class Observation:
    """A record as this process saw it, and when (monotonic seconds) it first saw it so."""

    record: LeaseRecord
    at: float

    def expired(self, now: float) -> bool:
        """Whether the holder has had its full lease duration, by our clock, to renew and has not."""
        return now >= self.at + self.record.lease_duration


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """The observation after reading ``record`` at ``now``: the clock restarts only when it changed."""
    if previous is not None and previous.record == record:
        return previous
    return Observation(record=record, at=now)


def may_claim(observation: Observation, identity: str, now: float) -> bool:
    """Whether ``identity`` may write itself into the lease: it holds it, nobody does, or it expired."""
    holder = observation.record.holder
    return holder == identity or not holder or observation.expired(now)


def claim(
    current: LeaseRecord | None, *, identity: str, lease_duration: int, now: datetime.datetime
) -> LeaseRecord:
    """The record that makes (or keeps) ``identity`` the holder, renewed at ``now``.

    A renewal keeps the acquire time and transition count; taking the lease from someone else (or
    from nobody, after a release) counts one more transition. A brand-new Lease starts at zero.
    """
    if current is not None and current.holder == identity:
        return LeaseRecord(
            holder=identity,
            lease_duration=lease_duration,
            acquire_time=current.acquire_time or now,
            renew_time=now,
            transitions=current.transitions,
        )
    return LeaseRecord(
        holder=identity,
        lease_duration=lease_duration,
        acquire_time=now,
        renew_time=now,
        transitions=0 if current is None else current.transitions + 1,
    )


def released(current: LeaseRecord, now: datetime.datetime) -> LeaseRecord:
    """The record a leader writes when it steps down: no holder, so a standby may take it at once."""
    return LeaseRecord(
        holder="",
        lease_duration=RELEASED_DURATION,
        acquire_time=now,
        renew_time=now,
        transitions=current.transitions,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_micro_time(value)
    except ValueError:
        return None
