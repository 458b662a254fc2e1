"""Metal3Remediation event payloads: rebooting an unhealthy machine's host, with bounded retries.

A MachineHealthCheck creates a Metal3Remediation when a machine's Node is unhealthy. CAPM3's only
strategy is ``Reboot``: power the host off (a reboot annotation), deal with the Node, power it on,
and wait ``timeoutSeconds`` for the Node to become healthy; retry up to ``retryLimit`` times, then
give up, mark the host unhealthy (so it is not chosen again) and let CAPI delete the machine.
The phases of ``status.phase`` follow from these events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeAlias

import msgspec

from core.events.base import Event
from core.events.codec import EventCodec
from core.events.machine_values import HostRef

AGGREGATE_TYPE = "remediation"

DEFAULT_RETRY_LIMIT = 1
DEFAULT_TIMEOUT_SECONDS = 600
MIN_TIMEOUT_SECONDS = 100


class RemediationStrategy(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """``spec.strategy`` with CAPM3's defaults."""

    type: Literal["Reboot"] = "Reboot"
    retry_limit: int = DEFAULT_RETRY_LIMIT
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS


class RemediationCreated(Event, tag="remediation.created", frozen=True, kw_only=True):
    """A Metal3Remediation for Metal3Machine ``machine`` on ``host`` was seen."""

    namespace: str
    name: str
    uid: str
    machine: str
    host: HostRef
    strategy: RemediationStrategy = RemediationStrategy()


class RemediationStarted(Event, tag="remediation.started", frozen=True, kw_only=True):
    """Phase Running: the host is being powered off (first attempt at ``at``)."""

    at: datetime


class RemediationPoweredOff(Event, tag="remediation.powered_off", frozen=True, kw_only=True):
    """Phase Waiting: the host went off and the Node was handled; it is powered on again."""

    at: datetime


class RemediationRetried(Event, tag="remediation.retried", frozen=True, kw_only=True):
    """The Node stayed unhealthy past the timeout: reboot again (attempt ``retry_count`` + 1)."""

    retry_count: int
    at: datetime


class RemediationSucceeded(Event, tag="remediation.succeeded", frozen=True, kw_only=True):
    """The Node is healthy again after the reboot."""

    at: datetime


class RemediationGaveUp(Event, tag="remediation.gave_up", frozen=True, kw_only=True):
    """Phase "Deleting machine": retries exhausted; the host is marked unhealthy and the machine replaced."""

    at: datetime


class RemediationFailed(Event, tag="remediation.failed", frozen=True, kw_only=True):
    """Phase Failed: the host cannot be remediated (it is meant to be off)."""

    reason: str


class RemediationDeleted(Event, tag="remediation.deleted", frozen=True, kw_only=True):
    """The Metal3Remediation object is gone; its finalizer may be removed."""


RemediationEvent: TypeAlias = (
    RemediationCreated
    | RemediationStarted
    | RemediationPoweredOff
    | RemediationRetried
    | RemediationSucceeded
    | RemediationGaveUp
    | RemediationFailed
    | RemediationDeleted
)

REMEDIATION_EVENT_CLASSES: tuple[type[Event], ...] = RemediationEvent.__args__

CODEC = EventCodec(AGGREGATE_TYPE, REMEDIATION_EVENT_CLASSES)
"""The one decoder for remediation events."""
