"""The Metal3Remediation aggregate: CAPM3's reboot strategy as a small state machine.

    "" --Start--> Running --RecordPoweredOff--> Waiting --RecordNodeHealthy--> (done)
                     ^                             |
                     +---- CheckTimeout (retry) ---+--- CheckTimeout (limit reached) --> Deleting machine
    any active phase --RecordHostOffline--> Failed

The remediation process manager does the work (reboot annotation, Node taint or deletion, the
``capm3.metal3.io/unhealthy`` annotation when giving up) and records each step. Time comes in
with the command, so the timeout rule is pure: the Node has ``timeoutSeconds`` after the last
reboot started to become healthy; then the remediation retries while ``retryCount`` is below
``retryLimit`` and gives up otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal, TypeAlias

import msgspec
from msgspec.structs import replace

from core.aggregates.base import AggregateDefinition
from core.errors import AggregateNotFound, CommandRejected
from core.events import remediations as ev
from core.events.base import Event, UndecodableEvent, UnknownEvent
from core.events.machine_values import HostRef

Phase = Literal["", "Running", "Waiting", "Deleting machine", "Failed"]

UNHEALTHY_ANNOTATION_VALUE = "capm3/UnhealthyNode"
"""The value CAPM3 gives ``capm3.metal3.io/unhealthy`` on a host whose remediation gave up."""


class RemediationState(msgspec.Struct, frozen=True, kw_only=True):
    exists: bool = False
    deleted: bool = False
    namespace: str = ""
    name: str = ""
    uid: str = ""
    machine: str = ""
    host: HostRef | None = None
    strategy: ev.RemediationStrategy = ev.RemediationStrategy()
    phase: Phase = ""
    retry_count: int = 0
    last_remediated: datetime | None = None
    succeeded: bool = False
    failure_reason: str = ""

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def deadline(self) -> datetime | None:
        """When the Node must be healthy by, after the last reboot started."""
        if self.last_remediated is None:
            return None
        return self.last_remediated + timedelta(seconds=self.strategy.timeout_seconds)


INITIAL = RemediationState()


# --- commands -------------------------------------------------------------------------------------------


class _Command(msgspec.Struct, frozen=True, kw_only=True):
    now: datetime


class ApplyRemediation(_Command, frozen=True, kw_only=True):
    namespace: str
    name: str
    uid: str
    machine: str
    host: HostRef
    strategy: ev.RemediationStrategy = ev.RemediationStrategy()


class StartRemediation(_Command, frozen=True, kw_only=True):
    """Begin the first reboot; ``host_online`` is the host's ``spec.online``."""

    host_online: bool


class RecordPoweredOff(_Command, frozen=True, kw_only=True):
    """The host is off and the Node was tainted out of service (or deleted); power-on was requested."""


class RecordNodeHealthy(_Command, frozen=True, kw_only=True):
    """The Node is back and healthy."""


class CheckTimeout(_Command, frozen=True, kw_only=True):
    """Decide, at ``now``, whether the reboot timed out and whether to retry."""


class RecordHostOffline(_Command, frozen=True, kw_only=True):
    """The host's ``spec.online`` is false: it must not be rebooted."""


class RequestRemediationDeletion(_Command, frozen=True, kw_only=True):
    pass


RemediationCommand: TypeAlias = (
    ApplyRemediation
    | StartRemediation
    | RecordPoweredOff
    | RecordNodeHealthy
    | CheckTimeout
    | RecordHostOffline
    | RequestRemediationDeletion
)


# --- evolve ---------------------------------------------------------------------------------------------


def evolve(state: RemediationState, event: Event | UnknownEvent | UndecodableEvent) -> RemediationState:
    """Apply one event to a remediation's state."""
    match event:
        case ev.RemediationCreated():
            return RemediationState(
                exists=True,
                namespace=event.namespace,
                name=event.name,
                uid=event.uid,
                machine=event.machine,
                host=event.host,
                strategy=event.strategy,
            )
        case ev.RemediationStarted():
            return replace(state, phase="Running", last_remediated=event.at)
        case ev.RemediationPoweredOff():
            return replace(state, phase="Waiting")
        case ev.RemediationRetried():
            return replace(state, phase="Running", retry_count=event.retry_count, last_remediated=event.at)
        case ev.RemediationSucceeded():
            return replace(state, succeeded=True)
        case ev.RemediationGaveUp():
            return replace(state, phase="Deleting machine")
        case ev.RemediationFailed():
            return replace(state, phase="Failed", failure_reason=event.reason)
        case ev.RemediationDeleted():
            return replace(state, deleted=True)
        case _:
            return state


# --- decide ---------------------------------------------------------------------------------------------


def _reject(state: RemediationState, rule: str, detail: str) -> CommandRejected:
    return CommandRejected(rule=rule, state=state.phase or "new", detail=detail)


def _expect(state: RemediationState, command: object, phase: Phase) -> None:
    if state.phase != phase or state.succeeded:
        raise _reject(
            state, "step-out-of-phase", f"{type(command).__name__} only applies in phase {phase or 'new'}"
        )


def _apply(state: RemediationState, c: ApplyRemediation) -> list[Event]:
    if state.exists and not state.deleted:
        if c.uid != state.uid:
            raise _reject(state, "one-object-per-remediation", f"remediation {state.id} still exists")
        return []
    if c.strategy.retry_limit < 0 or c.strategy.timeout_seconds < ev.MIN_TIMEOUT_SECONDS:
        raise _reject(
            state,
            "strategy-invalid",
            f"remediation {c.namespace}/{c.name}: retryLimit must not be negative and timeoutSeconds "
            f"must be at least {ev.MIN_TIMEOUT_SECONDS}",
        )
    return [
        ev.RemediationCreated(
            namespace=c.namespace, name=c.name, uid=c.uid, machine=c.machine, host=c.host, strategy=c.strategy
        )
    ]


def _check_timeout(state: RemediationState, c: CheckTimeout) -> list[Event]:
    _expect(state, c, "Waiting")
    deadline = state.deadline
    if deadline is None or c.now <= deadline:
        return []
    if state.retry_count < state.strategy.retry_limit:
        return [ev.RemediationRetried(retry_count=state.retry_count + 1, at=c.now)]
    return [ev.RemediationGaveUp(at=c.now)]


def decide(state: RemediationState, command: RemediationCommand) -> list[Event]:
    """The events that record ``command``."""
    if isinstance(command, ApplyRemediation):
        return _apply(state, command)
    if not state.exists:
        raise AggregateNotFound(f"remediation {state.id if state.name else '(unknown)'}")
    if state.deleted:
        raise _reject(state, "deleted-is-final", f"remediation {state.id} was deleted")
    match command:
        case StartRemediation():
            if state.phase:
                return []
            if not command.host_online:
                return [ev.RemediationFailed(reason="the host's spec.online is false")]
            return [ev.RemediationStarted(at=command.now)]
        case RecordPoweredOff():
            if state.phase == "Waiting":
                return []
            _expect(state, command, "Running")
            return [ev.RemediationPoweredOff(at=command.now)]
        case RecordNodeHealthy():
            if state.succeeded:
                return []
            _expect(state, command, "Waiting")
            return [ev.RemediationSucceeded(at=command.now)]
        case CheckTimeout():
            return _check_timeout(state, command)
        case RecordHostOffline():
            if state.phase in ("Failed", "Deleting machine") or state.succeeded:
                return []
            return [ev.RemediationFailed(reason="the host's spec.online is false")]
        case RequestRemediationDeletion():
            return [ev.RemediationDeleted()]


DEFINITION: AggregateDefinition[RemediationState, RemediationCommand] = AggregateDefinition(
    type=ev.AGGREGATE_TYPE,
    codec=ev.CODEC,
    initial=INITIAL,
    decide=decide,
    evolve=evolve,
)
