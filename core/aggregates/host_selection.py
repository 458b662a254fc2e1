"""Choosing a BareMetalHost for a Metal3Machine, the way CAPM3's ``chooseHost`` does.

The choice is a pure function of small host summaries (``HostCandidate``) that any view can
build, and of one random number: CAPM3 picks uniformly at random among equally good hosts, so
the caller passes ``roll`` in [0, 1) and the same inputs always choose the same host. Candidates
are ordered by name before picking, so the order a view lists them in does not matter.

A host qualifies when it is in the machine's namespace, matches ``hostSelector``, has no
consumer, is not being deleted, has no error, is not paused, carries neither unhealthy
annotation, and is ``available`` (or legacy ``ready``). Two refinements, as in CAPM3:

- node reuse: a host labelled ``infrastructure.cluster.x-k8s.io/node-reuse`` is reserved for
  the machine template owner (KCP or MachineDeployment) named by the label. For that owner it is
  preferred over every other host, in any provisioning state: if none of the reserved hosts is
  available yet, the machine waits for one instead of taking another host.
- failure domain: among the hosts left, those labelled
  ``infrastructure.cluster.x-k8s.io/failure-domain=<spec.failureDomain>`` are preferred; if there
  are none, any host will do.

A host already consumed by this machine is chosen again (the association is idempotent).

Where this differs from CAPM3: a reserved host must have no consumer (CAPM3 does not check, but
the host aggregate would refuse the claim anyway), and among several reserved hosts any
available one is taken (CAPM3's loop lets the last one it looks at decide).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Literal, TypeAlias

import msgspec

from core.aggregates.host_state import HostState
from core.aggregates.label_selectors import SelectorInvalid, compile_selector, matches
from core.events.host_values import ConsumerRef, ProvisioningState
from core.events.machine_values import HostSelector

PS = ProvisioningState

NODE_REUSE_LABEL: Final = "infrastructure.cluster.x-k8s.io/node-reuse"
FAILURE_DOMAIN_LABEL: Final = "infrastructure.cluster.x-k8s.io/failure-domain"
PAUSED_ANNOTATION: Final = "baremetalhost.metal3.io/paused"
UNHEALTHY_ANNOTATION: Final = "capm3.metal3.io/unhealthy"
UNHEALTHY_ANNOTATION_DEPRECATED: Final = "capi.metal3.io/unhealthy"
INFRASTRUCTURE_GROUP: Final = "infrastructure.cluster.x-k8s.io"
METAL3_MACHINE_API_VERSION: Final = f"{INFRASTRUCTURE_GROUP}/v1beta2"
METAL3_MACHINE_KIND: Final = "Metal3Machine"

AVAILABLE_STATES: Final = frozenset({PS.AVAILABLE, PS.READY})


class HostCandidate(msgspec.Struct, frozen=True, kw_only=True):
    """What selection needs to know about one host."""

    namespace: str
    name: str
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    provisioning_state: ProvisioningState = PS.NONE
    consumer: ConsumerRef | None = None
    online: bool = False
    """Carried for callers; like CAPM3, selection does not look at it."""
    error_message: str = ""
    deleting: bool = False
    paused: bool = False
    """Paused by any means (the view may know it without the annotation)."""


class MachinePlacement(msgspec.Struct, frozen=True, kw_only=True):
    """The machine to place: where it lives and what it asks for."""

    namespace: str
    name: str
    host_selector: HostSelector | None = None
    failure_domain: str = ""
    node_reuse_owner: str | None = None
    """Name of the KubeadmControlPlane or MachineDeployment owning the machine, if known."""


class HostChosen(msgspec.Struct, frozen=True, kw_only=True):
    host: HostCandidate
    reason: Literal["already-consumer", "selected", "node-reuse"]


class NoHostAvailable(msgspec.Struct, frozen=True, kw_only=True):
    """Nothing qualifies now; try again later (CAPM3 requeues after 30 s)."""

    detail: str


class WaitForReuseHost(msgspec.Struct, frozen=True, kw_only=True):
    """Hosts are reserved for this machine's owner but none is available yet; do not take another."""

    hosts: tuple[str, ...]
    detail: str


Selection: TypeAlias = HostChosen | NoHostAvailable | WaitForReuseHost


def consumer_ref(namespace: str, name: str, uid: str = "") -> ConsumerRef:
    """The consumer reference a Metal3Machine puts on its host (for ``ClaimHost``)."""
    return ConsumerRef(
        api_version=METAL3_MACHINE_API_VERSION,
        kind=METAL3_MACHINE_KIND,
        namespace=namespace,
        name=name,
        uid=uid,
    )


def candidate_from_host(
    state: HostState, *, labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None
) -> HostCandidate:
    """A candidate from a folded host state plus the object's labels and annotations."""
    return HostCandidate(
        namespace=state.namespace,
        name=state.name,
        labels=dict(labels or {}),
        annotations=dict(annotations or {}),
        provisioning_state=state.provisioning_state,
        consumer=state.consumer,
        online=state.spec.online,
        error_message=state.error_message,
        deleting=state.deletion_requested,
        paused=state.paused,
    )


def _consumed_by(host: HostCandidate, machine: MachinePlacement) -> bool:
    consumer = host.consumer
    if consumer is None:
        return False
    group = consumer.api_version.rpartition("/")[0]
    return (consumer.kind, consumer.namespace, consumer.name, group) == (
        METAL3_MACHINE_KIND,
        machine.namespace,
        machine.name,
        INFRASTRUCTURE_GROUP,
    )


def _usable(host: HostCandidate) -> bool:
    """Free of everything that excludes a host whatever its state."""
    blocked = {PAUSED_ANNOTATION, UNHEALTHY_ANNOTATION, UNHEALTHY_ANNOTATION_DEPRECATED}
    return not (
        host.consumer is not None
        or host.deleting
        or host.error_message
        or host.paused
        or blocked.intersection(host.annotations)
    )


def _pick(hosts: list[HostCandidate], machine: MachinePlacement, roll: float) -> HostCandidate:
    preferred = [
        h
        for h in hosts
        if machine.failure_domain and h.labels.get(FAILURE_DOMAIN_LABEL) == machine.failure_domain
    ]
    pool = preferred or hosts
    return pool[min(int(roll * len(pool)), len(pool) - 1)]


def select_host(machine: MachinePlacement, candidates: Iterable[HostCandidate], *, roll: float) -> Selection:
    """Choose a host for ``machine``; ``roll`` in [0, 1) stands for CAPM3's random choice.

    Raises ``SelectorInvalid`` (naming the field) when the machine's host selector is malformed.
    """
    if not 0.0 <= roll < 1.0:
        msg = f"roll must be in [0, 1), got {roll}"
        raise ValueError(msg)
    requirements = compile_selector(machine.host_selector)
    hosts = sorted(
        (h for h in candidates if h.namespace == machine.namespace and matches(requirements, h.labels)),
        key=lambda h: h.name,
    )
    for host in hosts:
        if _consumed_by(host, machine):
            return HostChosen(host=host, reason="already-consumer")
    reserved: list[HostCandidate] = []
    free: list[HostCandidate] = []
    for host in hosts:
        if not _usable(host):
            continue
        if NODE_REUSE_LABEL in host.labels:
            owner = host.labels[NODE_REUSE_LABEL]
            if owner and owner == machine.node_reuse_owner:
                reserved.append(host)
        elif host.provisioning_state in AVAILABLE_STATES:
            free.append(host)
    if reserved:
        ready = [h for h in reserved if h.provisioning_state in AVAILABLE_STATES]
        if ready:
            return HostChosen(host=_pick(ready, machine, roll), reason="node-reuse")
        names = tuple(h.name for h in reserved)
        return WaitForReuseHost(
            hosts=names,
            detail=f"host(s) {', '.join(names)} are kept for {machine.node_reuse_owner} (node reuse) "
            "but are not available yet",
        )
    if not free:
        return NoHostAvailable(
            detail=f"no available host in namespace {machine.namespace} matches the host selector of "
            f"Metal3Machine {machine.name}"
        )
    return HostChosen(host=_pick(free, machine, roll), reason="selected")


__all__ = [
    "FAILURE_DOMAIN_LABEL",
    "NODE_REUSE_LABEL",
    "HostCandidate",
    "HostChosen",
    "MachinePlacement",
    "NoHostAvailable",
    "Selection",
    "SelectorInvalid",
    "WaitForReuseHost",
    "candidate_from_host",
    "consumer_ref",
    "select_host",
]
