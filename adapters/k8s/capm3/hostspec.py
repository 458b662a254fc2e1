"""What a Metal3Machine writes on its BareMetalHost, and how hosts become selection candidates.

CAPM3 drives BMO only through the host's spec, and so does this controller: the host aggregate
reacts to the spec the BareMetalHost controller reads, exactly as it would to a user's edit, so
the two controllers need no private channel. The consumer is different: it is claimed on the
host aggregate first (``ClaimHost`` refuses a second consumer atomically) and only then written
to ``spec.consumerRef``, so two machines never both believe they own a host.

The patches are merge patches computed from the host object as cached; each returns ``None``
when nothing would change, so a resync writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from msgspec.structs import replace

from adapters.k8s.capm3.manifests import MachineObject, meta_of
from adapters.k8s.capm3.names import CLUSTER_LABEL, MACHINES
from core.aggregates.host_selection import NODE_REUSE_LABEL, HostCandidate, candidate_from_host
from core.aggregates.host_state import HostState
from core.aggregates.machine_state import MachineState
from core.events.host_values import ConsumerRef, ProvisioningState

PS = ProvisioningState

BUSY_STATES = frozenset(
    {
        PS.PREPARING,
        PS.PROVISIONING,
        PS.PROVISIONED,
        PS.DEPROVISIONING,
        PS.POWERING_OFF_BEFORE_DELETE,
        PS.DELETING,
    }
)
"""A host in one of these is still busy with (or holding) a machine's image: release waits."""


def consumer_of(machine: MachineObject) -> ConsumerRef:
    """The consumer reference a machine claims its host with (storage version, with uid)."""
    return ConsumerRef(
        api_version=MACHINES.api_version,
        kind=MACHINES.kind,
        namespace=machine.meta.namespace,
        name=machine.meta.name,
        uid=machine.meta.uid,
    )


def _consumer_json(consumer: ConsumerRef) -> dict[str, str]:
    return {
        "apiVersion": consumer.api_version,
        "kind": consumer.kind,
        "namespace": consumer.namespace,
        "name": consumer.name,
        "uid": consumer.uid,
    }


def is_consumer(host: Mapping[str, Any], machine: MachineObject) -> bool:
    """Whether the host object's ``spec.consumerRef`` names this machine."""
    ref = (host.get("spec") or {}).get("consumerRef") or {}
    return (ref.get("kind"), ref.get("namespace"), ref.get("name")) == (
        MACHINES.kind,
        machine.meta.namespace,
        machine.meta.name,
    )


def _secret(name: str | None) -> dict[str, str] | None:
    return None if name is None else {"name": name}


def association_patch(
    host: Mapping[str, Any], machine: MachineObject, state: MachineState, *, with_data: bool
) -> dict[str, Any] | None:
    """Consumer, cluster label and (``with_data``) everything the host is provisioned with.

    The image is only set on a host that has neither image nor custom deploy, as in CAPM3: a
    provisioned host is never re-imaged in place by a machine spec change.
    """
    spec = host.get("spec") or {}
    want: dict[str, Any] = {}
    if not is_consumer(host, machine):
        want["consumerRef"] = _consumer_json(consumer_of(machine))
    if with_data:
        m = state.spec
        if not spec.get("image") and not spec.get("customDeploy"):
            if m.custom_deploy is not None:
                want["customDeploy"] = {"method": m.custom_deploy.method}
            elif m.image is not None:
                image: dict[str, Any] = {"url": m.image.url}
                if m.image.checksum:
                    image["checksum"] = m.image.checksum
                if m.image.checksum_type:
                    image["checksumType"] = m.image.checksum_type
                if m.image.disk_format:
                    image["format"] = m.image.disk_format
                want["image"] = image
        refs = {
            "userData": _secret(state.user_data.name if state.user_data else None),
            "metaData": _secret(state.effective_meta_data.name if state.effective_meta_data else None),
            "networkData": _secret(
                state.effective_network_data.name if state.effective_network_data else None
            ),
        }
        want.update(
            {
                field: ref
                for field, ref in refs.items()
                if ref is not None and (spec.get(field) or {}).get("name") != ref["name"]
            }
        )
        if spec.get("online") is not True:
            want["online"] = True
        mode = m.automated_cleaning_mode
        if mode is not None and spec.get("automatedCleaningMode") != mode:
            want["automatedCleaningMode"] = mode
    patch: dict[str, Any] = {}
    if want:
        patch["spec"] = want
    labels: dict[str, str | None] = {}
    cluster = machine.meta.labels.get(CLUSTER_LABEL)
    host_labels = meta_of(host).labels
    if cluster and host_labels.get(CLUSTER_LABEL) != cluster:
        labels[CLUSTER_LABEL] = cluster
    if NODE_REUSE_LABEL in host_labels:
        labels[NODE_REUSE_LABEL] = None  # the reservation is used up (CAPM3 drops it too)
    if labels:
        patch["metadata"] = {"labels": labels}
    return patch or None


def deprovision_patch(host: Mapping[str, Any]) -> dict[str, Any] | None:
    """Drop the machine's image and data and power the host off (CAPM3 without fast track)."""
    spec = host.get("spec") or {}
    want: dict[str, Any] = {
        field: None
        for field in ("image", "customDeploy", "userData", "metaData", "networkData")
        if spec.get(field) is not None
    }
    if spec.get("online") and not spec.get("disablePowerOff"):
        want["online"] = False
    return {"spec": want} if want else None


def release_patch(
    host: Mapping[str, Any], machine: MachineObject, *, reuse_owner: str | None = None
) -> dict[str, Any] | None:
    """Remove the consumer reference (and the cluster label) once the host is deprovisioned.

    With ``reuse_owner`` (node reuse), the host is labelled as reserved for that
    KubeadmControlPlane or MachineDeployment, in the same patch as the consumer goes, so no other
    machine can see the host free and unreserved in between.
    """
    patch: dict[str, Any] = {}
    if is_consumer(host, machine):
        patch["spec"] = {"consumerRef": None}
    host_labels = meta_of(host).labels
    labels: dict[str, str | None] = {}
    if CLUSTER_LABEL in host_labels:
        labels[CLUSTER_LABEL] = None
    if reuse_owner and host_labels.get(NODE_REUSE_LABEL) != reuse_owner:
        labels[NODE_REUSE_LABEL] = reuse_owner
    if labels:
        patch["metadata"] = {"labels": labels}
    return patch or None


def candidates(hosts: Iterable[Mapping[str, Any]], states: Mapping[str, HostState]) -> list[HostCandidate]:
    """Selection candidates: each host object's labels and annotations with its recorded state.

    A host the log does not know yet (not registered) is left out; a host object being deleted
    counts as deleting even before the log records it.
    """
    found: list[HostCandidate] = []
    for host in hosts:
        meta = meta_of(host)
        state = states.get(meta.key)
        if state is None or not state.exists or state.deleted:
            continue
        candidate = candidate_from_host(state, labels=dict(meta.labels), annotations=dict(meta.annotations))
        if meta.deleting and not candidate.deleting:
            candidate = replace(candidate, deleting=True)
        found.append(candidate)
    return found
