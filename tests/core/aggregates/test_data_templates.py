from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given as hypothesis_given
from hypothesis import strategies as st
from msgspec.structs import replace

from core.aggregates import data_template_commands as cmd
from core.aggregates.base import Stored
from core.aggregates.data_template_state import DataTemplateState, IndexEntry
from core.aggregates.data_templates import DEFINITION, decide
from core.events import data_templates as ev
from core.events.base import UnknownEvent
from core.events.codec import encode
from core.events.data_template_values import (
    DataTemplateSpec,
    EthernetLink,
    Links,
    MetaData,
    MetaDataIndex,
    MetaDataString,
    NetworkData,
)
from tests.core.aggregates.gwt import Given

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
SPEC = DataTemplateSpec(
    meta_data=MetaData(indexes=(MetaDataIndex(key="index"),)),
    network_data=NetworkData(links=Links(ethernets=(EthernetLink(type="phy", id="eth0"),))),
)
CREATED = ev.DataTemplateCreated(namespace="metal3", name="workers", uid="u-1", generation=1, spec=SPEC)


def given(*history: Stored | Sequence[Stored]) -> Given[DataTemplateState, cmd.DataTemplateCommand]:
    flat: list[Stored] = []
    for item in history:
        flat.extend(item if isinstance(item, Sequence) else [item])
    return Given(DEFINITION, tuple(flat))


def apply(spec: DataTemplateSpec = SPEC, *, generation: int = 1, uid: str = "u-1") -> cmd.ApplyTemplateSpec:
    return cmd.ApplyTemplateSpec(
        now=NOW, namespace="metal3", name="workers", uid=uid, generation=generation, spec=spec
    )


def claim(name: str) -> cmd.ClaimIndex:
    return cmd.ClaimIndex(now=NOW, claim=name)


def release(name: str) -> cmd.ReleaseIndex:
    return cmd.ReleaseIndex(now=NOW, claim=name)


def claimed(name: str, index: int) -> ev.IndexClaimed:
    return ev.IndexClaimed(claim=name, index=index)


# --- spec ------------------------------------------------------------------------------------------------


def test_first_spec_creates_the_template() -> None:
    state = given().when(apply()).then(CREATED)
    assert (state.id, state.spec, state.indexes) == ("metal3/workers", SPEC, ())


def test_older_generation_is_ignored() -> None:
    given(CREATED).when(apply()).then_nothing()


def test_cluster_name_may_change() -> None:
    changed = replace(SPEC, cluster_name="prod")
    given(CREATED).when(apply(changed, generation=2)).then(
        ev.DataTemplateSpecChanged(generation=2, spec=changed)
    )


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(
            replace(SPEC, meta_data=MetaData(strings=(MetaDataString(key="k", value="v"),))), id="metaData"
        ),
        pytest.param(replace(SPEC, network_data=None), id="networkData"),
    ],
)
def test_rendering_sections_are_immutable(changed: DataTemplateSpec) -> None:
    rejection = (
        given(CREATED).when(apply(changed, generation=2)).then_rejected(rule="template-data-immutable")
    )
    assert "cannot be modified" in rejection.detail


def test_invalid_template_is_rejected_naming_the_field() -> None:
    bad = DataTemplateSpec(meta_data=MetaData(indexes=(MetaDataIndex(key="k", step=0),)))
    rejection = given().when(apply(bad)).then_rejected(rule="template-invalid")
    assert "spec.metaData.indexes[0].step" in rejection.detail


def test_another_object_with_the_same_name_is_rejected_while_the_first_exists() -> None:
    given(CREATED).when(apply(uid="u-2", generation=5)).then_rejected(rule="one-object-per-template")


def test_commands_before_creation_are_not_found() -> None:
    given().when(claim("c")).then_not_found()


# --- index claims ------------------------------------------------------------------------------------------


def test_indexes_start_at_zero_and_count_up() -> None:
    state = given(CREATED, claimed("a", 0)).when(claim("b")).then(claimed("b", 1))
    assert state.indexes == (IndexEntry(claim="a", index=0), IndexEntry(claim="b", index=1))
    assert state.data_name("b") == "workers-1"


def test_claiming_again_returns_the_same_index_and_records_nothing() -> None:
    state = given(CREATED, claimed("a", 0)).when(claim("a")).then_nothing()
    assert state.index_of("a") == 0


def test_released_index_is_reused_lowest_first() -> None:
    history = [
        CREATED,
        claimed("a", 0),
        claimed("b", 1),
        claimed("c", 2),
        ev.IndexReleased(claim="b", index=1),
    ]
    given(history).when(claim("d")).then(claimed("d", 1))


def test_gap_at_zero_is_filled_first() -> None:
    history = [CREATED, claimed("a", 0), claimed("b", 1), ev.IndexReleased(claim="a", index=0)]
    given(history).when(claim("c")).then(claimed("c", 0))


def test_release_records_the_index_given_back() -> None:
    state = (
        given(CREATED, claimed("a", 0), claimed("b", 1))
        .when(release("a"))
        .then(ev.IndexReleased(claim="a", index=0))
    )
    assert state.indexes == (IndexEntry(claim="b", index=1),)


def test_release_of_an_unknown_claim_records_nothing() -> None:
    given(CREATED).when(release("nobody")).then_nothing()


def test_empty_claim_name_is_rejected() -> None:
    given(CREATED).when(claim("")).then_rejected(rule="claim-name-required")


# --- deletion ---------------------------------------------------------------------------------------------


def test_unused_template_is_deleted_at_once() -> None:
    state = (
        given(CREATED)
        .when(cmd.RequestTemplateDeletion(now=NOW))
        .then(ev.DataTemplateDeletionRequested(), ev.DataTemplateDeleted())
    )
    assert state.deleted


def test_deletion_waits_for_the_last_index_to_be_released() -> None:
    history = [CREATED, claimed("a", 0), claimed("b", 1)]
    given(history).when(cmd.RequestTemplateDeletion(now=NOW)).then(ev.DataTemplateDeletionRequested())
    deleting = [*history, ev.DataTemplateDeletionRequested()]
    given(deleting).when(release("a")).then(ev.IndexReleased(claim="a", index=0))
    gone = [*deleting, ev.IndexReleased(claim="a", index=0)]
    given(gone).when(release("b")).then(ev.IndexReleased(claim="b", index=1), ev.DataTemplateDeleted())


def test_no_new_index_while_deleting_but_held_ones_are_still_returned() -> None:
    deleting = [CREATED, claimed("a", 0), ev.DataTemplateDeletionRequested()]
    given(deleting).when(claim("b")).then_rejected(rule="no-claim-while-deleting")
    given(deleting).when(claim("a")).then_nothing()


def test_deleted_template_accepts_nothing_but_a_new_object() -> None:
    deleted = [CREATED, ev.DataTemplateDeletionRequested(), ev.DataTemplateDeleted()]
    given(deleted).when(claim("a")).then_rejected(rule="deleted-is-final")
    given(deleted).when(apply(generation=9)).then_rejected(rule="deleted-is-final")
    recreated = replace(CREATED, uid="u-2")
    state = given(deleted).when(apply(uid="u-2")).then(recreated)
    assert not state.deleted


def test_unknown_events_leave_the_state_alone() -> None:
    state = DEFINITION.fold([CREATED, claimed("a", 0)])
    assert DEFINITION.evolve(state, UnknownEvent(type="datatemplate.future", data=b"{}")) == state


def test_events_round_trip_through_the_codec() -> None:
    for event in (CREATED, claimed("a", 3), ev.IndexReleased(claim="a", index=3), ev.DataTemplateDeleted()):
        assert ev.CODEC.decode(encode(event)) == event


# --- properties -------------------------------------------------------------------------------------------


CLAIMS = st.sampled_from([f"claim-{i}" for i in range(8)])
STEPS = st.lists(st.tuples(st.sampled_from(["claim", "release"]), CLAIMS), max_size=60)


@hypothesis_given(STEPS)
def test_no_index_is_ever_held_twice_and_each_claim_gets_the_lowest_free(
    steps: list[tuple[str, str]],
) -> None:
    state = DEFINITION.fold([CREATED])
    for action, name in steps:
        command: cmd.DataTemplateCommand = claim(name) if action == "claim" else release(name)
        before = state
        state = DEFINITION.fold(decide(state, command), state)
        held = [entry.index for entry in state.indexes]
        assert len(held) == len(set(held)), state.indexes
        assert len({entry.claim for entry in state.indexes}) == len(held)
        assert held == sorted(held)
        if action == "claim" and before.index_of(name) is None:
            free = min(set(range(len(before.indexes) + 1)) - {e.index for e in before.indexes})
            assert state.index_of(name) == free
        if action == "claim":
            assert state.index_of(name) is not None
        else:
            assert state.index_of(name) is None


@hypothesis_given(STEPS)
def test_claims_are_idempotent(steps: list[tuple[str, str]]) -> None:
    state = DEFINITION.fold([CREATED])
    for action, name in steps:
        command: cmd.DataTemplateCommand = claim(name) if action == "claim" else release(name)
        state = DEFINITION.fold(decide(state, command), state)
        assert decide(state, command) == []
