"""A Metal3Machine's status, projected from its aggregate state, in both served versions' words.

The status is written in the storage (v1beta2) shape, ``initialization.provisioned`` and
``renderedData``, plus v1beta1's ``ready`` so ``kubectl get m3m`` through either version shows
whether the machine is provisioned. Conditions are ``Ready``, ``AssociateBareMetalHost``,
``Metal3DataReady`` and ``Paused`` (CAPI's contract for infrastructure machines); a condition
keeps its ``lastTransitionTime`` while its status is unchanged, so a reconcile that changes
nothing writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec

from core.aggregates.machine_state import MachineState

ConditionStatus = Literal["True", "False", "Unknown"]


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: ConditionStatus
    reason: str
    message: str = ""


def stamp(now: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, as the API server writes times."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(
    previous: Sequence[Mapping[str, Any]], wanted: Sequence[Condition], now: datetime
) -> list[dict[str, Any]]:
    """``wanted`` as condition objects; an unchanged status keeps its transition time."""
    old = {c.get("type"): c for c in previous}
    out: list[dict[str, Any]] = []
    for condition in wanted:
        before = old.get(condition.type) or {}
        since = before.get("lastTransitionTime") if before.get("status") == condition.status else None
        item: dict[str, Any] = {
            "type": condition.type,
            "status": condition.status,
            "reason": condition.reason,
            "lastTransitionTime": since or stamp(now),
        }
        if condition.message:
            item["message"] = condition.message
        out.append(item)
    return out


def _ref(ref: Any) -> dict[str, Any] | None:
    return None if ref is None else msgspec.to_builtins(ref)


def machine_conditions(
    state: MachineState, *, waiting: str = "", reason: str = "WaitingForHost", paused: bool = False
) -> list[Condition]:
    """The machine's conditions; ``waiting`` says what association or data waits for.

    ``reason`` is the association's reason while it waits (``WaitingForBootstrapData`` before
    there is anything to give the host, as in CAPM3).
    """
    associated = state.host is not None
    needs_data = state.spec.data_template is not None
    data_ready = not needs_data or state.data_name is not None
    conditions = [
        Condition(
            "AssociateBareMetalHost",
            "True" if associated else "False",
            "Associated" if associated else reason,
            "" if associated else waiting,
        ),
    ]
    if needs_data:
        conditions.append(
            Condition(
                "Metal3DataReady",
                "True" if data_ready else "False",
                "Ready" if data_ready else "WaitingForMetal3Data",
                "" if data_ready or associated is False else waiting,
            )
        )
    if state.deletion_requested:
        conditions.append(Condition("Ready", "False", "Deleting", "the host is being released"))
    elif state.provisioned:
        conditions.append(Condition("Ready", "True", "Ready"))
    else:
        conditions.append(Condition("Ready", "False", "Provisioning" if associated else reason))
    conditions.append(
        Condition("Paused", "True", "Paused", "the Cluster or the machine is paused")
        if paused
        else Condition("Paused", "False", "NotPaused")
    )
    return conditions


def machine_status(
    state: MachineState,
    current: Mapping[str, Any],
    now: datetime,
    *,
    waiting: str = "",
    reason: str = "WaitingForHost",
    paused: bool = False,
) -> dict[str, Any]:
    """The status ``state`` implies, given the object's ``current`` status."""
    wanted = machine_conditions(state, waiting=waiting, reason=reason, paused=paused)
    status: dict[str, Any] = {
        "conditions": merge_conditions(current.get("conditions") or [], wanted, now),
        "lastUpdated": stamp(now),
        "initialization": {"provisioned": state.provisioned},
        "ready": state.provisioned,
    }
    if state.addresses:
        status["addresses"] = [msgspec.to_builtins(a) for a in state.addresses]
    refs = {
        "userData": _ref(state.user_data),
        "metaData": _ref(state.effective_meta_data),
        "networkData": _ref(state.effective_network_data),
    }
    status.update({k: v for k, v in refs.items() if v is not None})
    if state.data_name is not None:
        status["renderedData"] = {"name": state.data_name, "namespace": state.namespace}
    return status
