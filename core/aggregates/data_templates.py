"""The Metal3DataTemplate aggregate: a template's spec and the machine indexes it hands out.

Index semantics follow CAPM3: indexes start at 0, a new claim gets the lowest index no claim
holds (so released indexes are reused, filling gaps first), and a claim asking again gets the
index it already has. CAPM3 recomputes the held set from the Metal3Data objects it lists and
relies on a name conflict when two reconciles race; here the held set is the aggregate's state
and a race is an optimistic-concurrency conflict on the template's subject, so no index can be
handed out twice even across processes.

metaData and networkData cannot change once the template exists (CAPM3's webhook refuses it):
machines rendered earlier must stay reproducible. A template being deleted hands out no new
index and is deleted once the last one is released.
"""

from __future__ import annotations

from core.aggregates import data_template_commands as cmd
from core.aggregates.base import AggregateDefinition
from core.aggregates.data_inputs import TemplateInvalid
from core.aggregates.data_template_state import INITIAL, DataTemplateState, IndexEntry, evolve
from core.aggregates.data_template_validation import validate_template
from core.errors import AggregateNotFound, CommandRejected
from core.events import data_templates as ev
from core.events.base import Event


def _state_name(state: DataTemplateState) -> str:
    if state.deleted:
        return "deleted"
    if state.deletion_requested:
        return "deleting"
    return "active" if state.exists else "none"


def _reject(state: DataTemplateState, rule: str, detail: str) -> CommandRejected:
    return CommandRejected(rule=rule, state=_state_name(state), detail=detail)


def _validated(state: DataTemplateState, c: cmd.ApplyTemplateSpec) -> None:
    try:
        validate_template(c.spec)
    except TemplateInvalid as exc:
        raise _reject(state, "template-invalid", f"data template {c.namespace}/{c.name}: {exc}") from exc


def _apply_spec(state: DataTemplateState, c: cmd.ApplyTemplateSpec) -> list[Event]:
    if state.exists and not state.deleted:
        if c.uid != state.uid:
            raise _reject(
                state,
                "one-object-per-template",
                f"data template {state.id} still exists with uid {state.uid}; "
                "finish deleting it before re-creating",
            )
        if c.generation <= state.generation:
            return []
        changed = [
            name
            for name, old, new in (
                ("metaData", state.spec.meta_data, c.spec.meta_data),
                ("networkData", state.spec.network_data, c.spec.network_data),
            )
            if old != new
        ]
        if changed:
            raise _reject(
                state,
                "template-data-immutable",
                f"spec.{' and spec.'.join(changed)} of data template {state.id} cannot be modified; "
                "create a new template and point the machine template at it",
            )
        _validated(state, c)
        return [ev.DataTemplateSpecChanged(generation=c.generation, spec=c.spec)]
    if state.deleted and c.uid == state.uid:
        raise _reject(state, "deleted-is-final", f"data template {state.id} with uid {c.uid} was deleted")
    _validated(state, c)
    return [
        ev.DataTemplateCreated(
            namespace=c.namespace, name=c.name, uid=c.uid, generation=c.generation, spec=c.spec
        )
    ]


def _claim(state: DataTemplateState, c: cmd.ClaimIndex) -> list[Event]:
    if not c.claim:
        raise _reject(state, "claim-name-required", "ClaimIndex.claim must name the Metal3DataClaim")
    if state.index_of(c.claim) is not None:
        return []
    if state.deletion_requested:
        raise _reject(
            state, "no-claim-while-deleting", f"data template {state.id} is being deleted; no new index"
        )
    return [ev.IndexClaimed(claim=c.claim, index=state.lowest_free_index())]


def _deleted_if_unused(state: DataTemplateState, events: list[Event]) -> list[Event]:
    after = state
    for event in events:
        after = evolve(after, event)
    if after.deletion_requested and not after.indexes:
        events.append(ev.DataTemplateDeleted())
    return events


def decide(state: DataTemplateState, command: cmd.DataTemplateCommand) -> list[Event]:
    """The events that record ``command``."""
    if isinstance(command, cmd.ApplyTemplateSpec):
        return _apply_spec(state, command)
    if not state.exists:
        raise AggregateNotFound(f"datatemplate {state.id if state.name else '(unknown)'}")
    if state.deleted:
        raise _reject(state, "deleted-is-final", f"data template {state.id} was deleted")
    match command:
        case cmd.ClaimIndex():
            return _claim(state, command)
        case cmd.ReleaseIndex():
            index = state.index_of(command.claim)
            if index is None:
                return []
            return _deleted_if_unused(state, [ev.IndexReleased(claim=command.claim, index=index)])
        case cmd.RequestTemplateDeletion():
            if state.deletion_requested:
                return []
            return _deleted_if_unused(state, [ev.DataTemplateDeletionRequested()])


DEFINITION: AggregateDefinition[DataTemplateState, cmd.DataTemplateCommand] = AggregateDefinition(
    type=ev.AGGREGATE_TYPE,
    codec=ev.CODEC,
    initial=INITIAL,
    decide=decide,
    evolve=evolve,
)

__all__ = ["DEFINITION", "DataTemplateState", "IndexEntry", "decide", "evolve"]
