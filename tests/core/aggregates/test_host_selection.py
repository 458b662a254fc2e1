from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec.structs import replace

from core.aggregates.host_selection import (
    FAILURE_DOMAIN_LABEL,
    NODE_REUSE_LABEL,
    HostCandidate,
    HostChosen,
    MachinePlacement,
    NoHostAvailable,
    SelectorInvalid,
    WaitForReuseHost,
    candidate_from_host,
    consumer_ref,
    select_host,
)
from core.aggregates.hosts import DEFINITION as HOST_DEFINITION
from core.events import hosts as ev
from core.events.host_values import ConsumerRef, ProvisioningState
from core.events.machine_values import HostSelector, SelectorRequirement
from tests.core.aggregates.histories import available_host

PS = ProvisioningState
NS = "metal3"
MACHINE = MachinePlacement(namespace=NS, name="m3m-0")


def host(name: str, **fields: object) -> HostCandidate:
    base = HostCandidate(namespace=NS, name=name, provisioning_state=PS.AVAILABLE, online=True)
    return replace(base, **fields)


def chosen(selection: object) -> str:
    assert isinstance(selection, HostChosen), selection
    return selection.host.name


def selector(*expressions: tuple[str, str, tuple[str, ...]], **labels: str) -> MachinePlacement:
    requirements = tuple(SelectorRequirement(key=k, operator=op, values=v) for k, op, v in expressions)
    return replace(MACHINE, host_selector=HostSelector(match_labels=labels, match_expressions=requirements))


# --- which hosts qualify ------------------------------------------------------------------------------


def test_available_host_is_chosen() -> None:
    selection = select_host(MACHINE, [host("a")], roll=0.0)
    assert selection == HostChosen(host=host("a"), reason="selected")


def test_legacy_ready_state_counts_as_available() -> None:
    assert chosen(select_host(MACHINE, [host("a", provisioning_state=PS.READY)], roll=0.0)) == "a"


@pytest.mark.parametrize(
    "excluded",
    [
        pytest.param(host("x", provisioning_state=PS.PROVISIONED), id="provisioned"),
        pytest.param(host("x", provisioning_state=PS.INSPECTING), id="inspecting"),
        pytest.param(host("x", provisioning_state=PS.EXTERNALLY_PROVISIONED), id="externally-provisioned"),
        pytest.param(host("x", consumer=consumer_ref(NS, "other")), id="consumed-by-another"),
        pytest.param(host("x", deleting=True), id="deleting"),
        pytest.param(host("x", error_message="power failure"), id="error"),
        pytest.param(host("x", paused=True), id="paused"),
        pytest.param(host("x", annotations={"baremetalhost.metal3.io/paused": ""}), id="paused-annotation"),
        pytest.param(
            host("x", annotations={"capm3.metal3.io/unhealthy": "capm3/UnhealthyNode"}), id="unhealthy"
        ),
        pytest.param(host("x", annotations={"capi.metal3.io/unhealthy": ""}), id="unhealthy-deprecated"),
        pytest.param(host("x", namespace="other"), id="other-namespace"),
        pytest.param(host("x", labels={NODE_REUSE_LABEL: "someone-else"}), id="reserved-for-another-owner"),
        pytest.param(host("x", labels={NODE_REUSE_LABEL: ""}), id="reserved-for-nobody"),
    ],
)
def test_host_that_does_not_qualify_is_never_chosen(excluded: HostCandidate) -> None:
    machine = replace(MACHINE, node_reuse_owner="kcp-1")
    for roll in (0.0, 0.5, 0.99):
        assert chosen(select_host(machine, [excluded, host("z")], roll=roll)) == "z"
    assert isinstance(select_host(machine, [excluded], roll=0.0), NoHostAvailable)


def test_powered_off_host_still_qualifies_like_in_capm3() -> None:
    assert chosen(select_host(MACHINE, [host("a", online=False)], roll=0.0)) == "a"


def test_no_host_names_the_namespace_and_machine() -> None:
    selection = select_host(MACHINE, [], roll=0.0)
    assert isinstance(selection, NoHostAvailable)
    assert NS in selection.detail
    assert "m3m-0" in selection.detail


def test_host_already_consumed_by_this_machine_is_chosen_again_whatever_its_state() -> None:
    mine = host("b", provisioning_state=PS.PROVISIONED, consumer=consumer_ref(NS, "m3m-0", uid="u"))
    selection = select_host(MACHINE, [host("a"), mine], roll=0.0)
    assert selection == HostChosen(host=mine, reason="already-consumer")


def test_consumer_of_another_kind_with_the_machines_name_is_not_this_machine() -> None:
    other = host(
        "b",
        consumer=ConsumerRef(api_version="metal3.io/v1alpha1", kind="HostClaim", namespace=NS, name="m3m-0"),
    )
    assert chosen(select_host(MACHINE, [other, host("c")], roll=0.0)) == "c"


# --- random choice, failure domains ---------------------------------------------------------------------


def test_roll_picks_uniformly_among_hosts_sorted_by_name() -> None:
    hosts = [host("c"), host("a"), host("d"), host("b")]
    picks = [chosen(select_host(MACHINE, hosts, roll=roll)) for roll in (0.0, 0.25, 0.5, 0.75, 0.999)]
    assert picks == ["a", "b", "c", "d", "d"]


@given(
    st.permutations([f"h{i}" for i in range(6)]), st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
)
def test_choice_does_not_depend_on_candidate_order(names: list[str], roll: float) -> None:
    ordered = sorted(names)
    assert chosen(select_host(MACHINE, [host(n) for n in names], roll=roll)) == chosen(
        select_host(MACHINE, [host(n) for n in ordered], roll=roll)
    )


@pytest.mark.parametrize("roll", [-0.1, 1.0, 1.5])
def test_roll_outside_unit_interval_is_a_programming_error(roll: float) -> None:
    with pytest.raises(ValueError, match="roll"):
        select_host(MACHINE, [host("a")], roll=roll)


def test_hosts_in_the_machines_failure_domain_are_preferred() -> None:
    machine = replace(MACHINE, failure_domain="rack-2")
    hosts = [
        host("a", labels={FAILURE_DOMAIN_LABEL: "rack-1"}),
        host("b", labels={FAILURE_DOMAIN_LABEL: "rack-2"}),
        host("c"),
    ]
    assert {chosen(select_host(machine, hosts, roll=roll)) for roll in (0.0, 0.5, 0.9)} == {"b"}


def test_any_host_will_do_when_the_failure_domain_has_none() -> None:
    machine = replace(MACHINE, failure_domain="rack-9")
    hosts = [host("a", labels={FAILURE_DOMAIN_LABEL: "rack-1"}), host("b")]
    assert {chosen(select_host(machine, hosts, roll=roll)) for roll in (0.0, 0.9)} == {"a", "b"}


# --- node reuse ------------------------------------------------------------------------------------------


def test_host_reserved_for_the_owner_is_preferred_over_free_hosts() -> None:
    machine = replace(MACHINE, node_reuse_owner="kcp-1")
    reserved = host("z", labels={NODE_REUSE_LABEL: "kcp-1"})
    for roll in (0.0, 0.99):
        assert select_host(machine, [host("a"), reserved], roll=roll) == HostChosen(
            host=reserved, reason="node-reuse"
        )


def test_owner_waits_for_its_reserved_host_to_become_available() -> None:
    machine = replace(MACHINE, node_reuse_owner="md-0")
    reserved = host("z", labels={NODE_REUSE_LABEL: "md-0"}, provisioning_state=PS.DEPROVISIONING)
    selection = select_host(machine, [host("a"), reserved], roll=0.0)
    assert isinstance(selection, WaitForReuseHost)
    assert selection.hosts == ("z",)


def test_owner_takes_an_available_reserved_host_while_another_is_still_cleaning() -> None:
    machine = replace(MACHINE, node_reuse_owner="md-0")
    cleaning = host("y", labels={NODE_REUSE_LABEL: "md-0"}, provisioning_state=PS.DEPROVISIONING)
    ready = host("z", labels={NODE_REUSE_LABEL: "md-0"})
    assert chosen(select_host(machine, [cleaning, ready], roll=0.0)) == "z"


def test_reserved_host_must_still_match_the_host_selector() -> None:
    machine = replace(selector(role="worker"), node_reuse_owner="md-0")
    reserved = host("z", labels={NODE_REUSE_LABEL: "md-0", "role": "storage"})
    assert chosen(select_host(machine, [reserved, host("a", labels={"role": "worker"})], roll=0.0)) == "a"


# --- host selectors ---------------------------------------------------------------------------------------


HOSTS = [
    host("a", labels={"role": "worker", "gen": "3", "rack": "r1"}),
    host("b", labels={"role": "worker", "gen": "5"}),
    host("c", labels={"role": "storage", "gen": "x"}),
    host("d", labels={}),
]


def _matching(machine: MachinePlacement) -> set[str]:
    names: set[str] = set()
    remaining = list(HOSTS)
    while remaining:
        selection = select_host(machine, remaining, roll=0.0)
        if not isinstance(selection, HostChosen):
            break
        names.add(selection.host.name)
        remaining = [h for h in remaining if h.name != selection.host.name]
    return names


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        pytest.param(MACHINE, {"a", "b", "c", "d"}, id="no-selector"),
        pytest.param(selector(role="worker"), {"a", "b"}, id="match-labels"),
        pytest.param(selector(role="worker", rack="r1"), {"a"}, id="match-labels-all"),
        pytest.param(selector(("role", "In", ("worker", "storage"))), {"a", "b", "c"}, id="in"),
        pytest.param(selector(("role", "NotIn", ("worker",))), {"c", "d"}, id="notin-includes-unlabelled"),
        pytest.param(selector(("rack", "Exists", ())), {"a"}, id="exists"),
        pytest.param(selector(("rack", "DoesNotExist", ())), {"b", "c", "d"}, id="doesnotexist"),
        pytest.param(selector(("rack", "!", ())), {"b", "c", "d"}, id="bang"),
        pytest.param(selector(("role", "=", ("storage",))), {"c"}, id="equals"),
        pytest.param(selector(("role", "==", ("storage",))), {"c"}, id="double-equals"),
        pytest.param(selector(("role", "!=", ("storage",))), {"a", "b", "d"}, id="not-equals"),
        pytest.param(selector(("gen", "Gt", ("3",))), {"b"}, id="gt-skips-non-integers"),
        pytest.param(selector(("gen", "Lt", ("5",))), {"a"}, id="lt"),
        pytest.param(selector(("gen", "gt", ("-1",)), role="worker"), {"a", "b"}, id="lower-case-and-labels"),
    ],
)
def test_host_selector_operators(machine: MachinePlacement, expected: set[str]) -> None:
    assert _matching(machine) == expected


@pytest.mark.parametrize(
    ("machine", "field"),
    [
        pytest.param(
            selector(("role", "Matches", ("w",))),
            "spec.hostSelector.matchExpressions[0].operator",
            id="operator",
        ),
        pytest.param(
            selector(("role", "In", ())),
            "spec.hostSelector.matchExpressions[0].values",
            id="in-without-values",
        ),
        pytest.param(
            selector(("role", "Exists", ("x",))),
            "spec.hostSelector.matchExpressions[0].values",
            id="exists-with-values",
        ),
        pytest.param(
            selector(("gen", "Gt", ("three",))),
            "spec.hostSelector.matchExpressions[0].values[0]",
            id="gt-not-integer",
        ),
        pytest.param(
            selector(("gen", "Lt", ("1", "2"))),
            "spec.hostSelector.matchExpressions[0].values",
            id="lt-two-values",
        ),
        pytest.param(
            selector(("-bad", "Exists", ())), "spec.hostSelector.matchExpressions[0].key", id="bad-key"
        ),
        pytest.param(
            selector(("Example.com/x", "Exists", ())),
            "spec.hostSelector.matchExpressions[0].key",
            id="bad-prefix",
        ),
        pytest.param(
            selector(role="bad value"), "spec.hostSelector.matchLabels[role].values[0]", id="bad-value"
        ),
    ],
)
def test_malformed_selector_names_the_field(machine: MachinePlacement, field: str) -> None:
    with pytest.raises(SelectorInvalid) as caught:
        select_host(machine, HOSTS, roll=0.0)
    assert caught.value.field == field


def test_prefixed_keys_are_accepted() -> None:
    machine = selector(("example.com/tier", "In", ("gold",)))
    gold = host("g", labels={"example.com/tier": "gold"})
    assert chosen(select_host(machine, [gold, host("a")], roll=0.0)) == "g"


# --- building candidates ---------------------------------------------------------------------------------


def test_candidate_from_a_folded_host_state() -> None:
    state = HOST_DEFINITION.fold(available_host())
    candidate = candidate_from_host(state, labels={"role": "worker"})
    assert (candidate.namespace, candidate.name, candidate.provisioning_state) == (
        "metal3",
        "worker-0",
        PS.AVAILABLE,
    )
    assert candidate.consumer is None
    assert (
        chosen(
            select_host(
                replace(MACHINE, host_selector=HostSelector(match_labels={"role": "worker"})),
                [candidate],
                roll=0.0,
            )
        )
        == "worker-0"
    )


def test_candidate_of_a_claimed_host_is_consumed() -> None:
    state = HOST_DEFINITION.fold([*available_host(), ev.ConsumerClaimed(consumer=consumer_ref(NS, "m3m-0"))])
    selection = select_host(MACHINE, [candidate_from_host(state)], roll=0.0)
    assert isinstance(selection, HostChosen)
    assert selection.reason == "already-consumer"
