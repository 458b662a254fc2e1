"""Reconciles one Metal3Machine: place it on a host, give the host its data, follow it to provisioned.

The order is CAPM3's. A machine's spec is recorded on its aggregate; a machine without a host
chooses one (``select_host`` over the cached hosts and their recorded states) and claims it on
the host aggregate, where ``ClaimHost`` refuses a second consumer atomically: the machine that
loses a race is refused and picks again from what is left, so no host ever has two consumers,
whichever process the machines are reconciled in. Only after the claim is the placement recorded
on the machine (``AssociateHost``), the ``metal3.io/BareMetalHost`` annotation set and the
consumer written to the host's spec. A machine with a ``dataTemplate`` files a Metal3DataClaim
and waits for its Metal3Data; then the host's spec gets the image, user data, metaData and
networkData and ``online: true``, which the BareMetalHost controller turns into provisioning.
Once the host is provisioned the machine records it, sets ``spec.providerID`` and reports ready.

Deletion undoes it in order: the host's image and data are cleared (deprovisioning), the machine
waits until the host is no longer busy, then drops ``spec.consumerRef``, releases the host on its
aggregate, deletes the data claim and finally removes its finalizer.

Under Cluster API (``capi``) the owning Machine gives the bootstrap data when the Metal3Machine
has no ``spec.userData``, its failure domain, and the control plane or deployment a released
host is reserved for when the Metal3MachineTemplate asks for node reuse; a paused Cluster (or a
paused annotation) stops the machine's reconcile and pauses its host with CAPM3's annotation
value, removed again on unpause (a user's own pause is left alone).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from adapters.k8s.capm3 import capi, hostspec
from adapters.k8s.capm3.capi import CapiResources, OwnerMachine
from adapters.k8s.capm3.manifests import MachineObject, ManifestProblem, read_machine
from adapters.k8s.capm3.names import (
    CLAIMS,
    CLUSTER_LABEL,
    DATAS,
    HOST_ANNOTATION,
    HOST_PAUSED_ANNOTATION,
    HOST_PAUSED_BY_CAPM3,
    HOSTS,
    MACHINE_FINALIZER,
    MACHINE_TEMPLATES,
    MACHINES,
    NO_HOST_RETRY,
)
from adapters.k8s.capm3.ports import DONE, Cache, Commands, Kube, Result
from adapters.k8s.capm3.status import machine_status
from core.aggregates import host_commands as hcmd
from core.aggregates import machine_commands as cmd
from core.aggregates.host_selection import (
    HostChosen,
    MachinePlacement,
    SelectorInvalid,
    select_host,
)
from core.aggregates.host_state import HostState
from core.aggregates.machine_state import MachineState
from core.errors import CommandRejected, DomainError
from core.events.machine_values import HostRef

log = structlog.get_logger("metalstream.k8s.capm3.machines")

CLAIM_ATTEMPTS: Final = 8
"""Hosts tried per reconcile when others keep winning them."""


@dataclass(frozen=True, slots=True)
class CapiContext:
    """What the machine's CAPI owner and Cluster say, read from the cache."""

    owner: OwnerMachine | None
    """The owner, once it is cached."""
    paused: bool
    cluster_deleting: bool

    @property
    def bootstrap_secret(self) -> str:
        return self.owner.bootstrap_secret if self.owner is not None else ""


class MachineController:
    """Reconciles Metal3Machine objects; ``reconcile`` is called by the work queue."""

    def __init__(
        self,
        machines: Commands[MachineState, cmd.MachineCommand],
        hosts: Commands[HostState, hcmd.HostCommand],
        kube: Kube,
        cache: Cache,
        *,
        no_host_retry: float = NO_HOST_RETRY,
        clock: Callable[[], datetime] | None = None,
        roll: Callable[[], float] | None = None,
        capi_resources: CapiResources | None = None,
    ) -> None:
        self._capi = capi_resources
        self._machines = machines
        self._hosts = hosts
        self._kube = kube
        self._cache = cache
        self._no_host_retry = no_host_retry
        self._clock = clock or (lambda: datetime.now(UTC))
        self._roll = roll or random.SystemRandom().random
        self._warned: dict[str, str] = {}

    async def reconcile(self, obj: Mapping[str, Any] | None, key: str) -> Result:
        """Bring the machine's aggregate, its host and its status in line with ``obj``."""
        if obj is None:
            self._warned.pop(key, None)
            return DONE
        try:
            machine = read_machine(obj)
        except ManifestProblem as problem:
            await self._warn(obj, key, "InvalidConfiguration", str(problem))
            return DONE
        state = await self._machines.state(key)
        context = self._context(obj, machine)
        await self._pause_host(machine, state, paused=context.paused)
        if context.paused:
            await self._kube.write_status(
                MACHINES, obj, machine_status(state, obj.get("status") or {}, self._clock(), paused=True)
            )
            return DONE
        if machine.meta.deleting:
            return await self._delete(obj, machine, state, context)
        if MACHINE_FINALIZER not in machine.meta.finalizers:
            await self._kube.set_finalizer(MACHINES, obj, MACHINE_FINALIZER, present=True)
        applied = await self._apply(obj, machine, state)
        if applied is None:
            return DONE
        state = applied
        waiting, reason, result = "", "WaitingForHost", DONE
        if state.host is None:
            state, waiting, result = await self._associate(obj, machine, state, context)
            if state.host is None and not self._bootstrap(state, context):
                reason = "WaitingForBootstrapData"
        if state.host is not None:
            state, waiting = await self._data(obj, machine, state)
            await self._update_host(machine, state)
            state = await self._observe_host(obj, machine, state)
        status = machine_status(state, obj.get("status") or {}, self._clock(), waiting=waiting, reason=reason)
        await self._kube.write_status(MACHINES, obj, status)
        return result

    # -- Cluster API ---------------------------------------------------------------------------------

    def _context(self, obj: Mapping[str, Any], machine: MachineObject) -> CapiContext:
        owner_name = capi.owner_name(obj)
        if self._capi is None:
            paused = capi.is_paused(None, obj)
            return CapiContext(owner=None, paused=paused, cluster_deleting=False)
        namespace = machine.meta.namespace
        owner_obj = (
            None if owner_name is None else self._cache.get(self._capi.machines, f"{namespace}/{owner_name}")
        )
        owner = None if owner_obj is None else capi.read_owner(owner_obj)
        cluster_name = machine.meta.labels.get(CLUSTER_LABEL) or (owner.cluster if owner else "")
        cluster = (
            self._cache.get(self._capi.clusters, f"{namespace}/{cluster_name}") if cluster_name else None
        )
        return CapiContext(
            owner=owner,
            paused=capi.is_paused(cluster, obj),
            cluster_deleting=capi.is_deleting(cluster),
        )

    def _bootstrap(self, state: MachineState, context: CapiContext) -> str:
        """The user data Secret: the machine's own, else its CAPI Machine's bootstrap data."""
        own = state.spec.user_data.name if state.spec.user_data is not None else ""
        return own or context.bootstrap_secret

    def _bootstrap_wait(self, obj: Mapping[str, Any], context: CapiContext) -> str:
        owner = capi.owner_name(obj)
        if owner is None:
            return "waiting for bootstrap data: set spec.userData to the user-data Secret"
        if self._capi is None:
            return (
                f"waiting for bootstrap data: the owner Machine {owner} is a Cluster API object, but "
                "the cluster.x-k8s.io API was not served when metalstream started; restart it after "
                "installing Cluster API, or set spec.userData"
            )
        if context.owner is None:
            return f"waiting for bootstrap data: the owner Machine {owner} was not found"
        return f"waiting for bootstrap data: Machine {owner} has no spec.bootstrap.dataSecretName yet"

    async def _pause_host(self, machine: MachineObject, state: MachineState, *, paused: bool) -> None:
        """Pause the machine's host while the Cluster is paused; unpause only CAPM3's own pause."""
        host_ref = state.host or machine.host
        host = self._cache.get(HOSTS, str(host_ref)) if host_ref is not None else None
        if host is None or not hostspec.is_consumer(host, machine):
            return
        current = ((host.get("metadata") or {}).get("annotations") or {}).get(HOST_PAUSED_ANNOTATION)
        if paused and current is None:
            value: str | None = HOST_PAUSED_BY_CAPM3
        elif not paused and current == HOST_PAUSED_BY_CAPM3:
            value = None
        else:
            return
        await self._kube.patch(HOSTS, host, {"metadata": {"annotations": {HOST_PAUSED_ANNOTATION: value}}})
        log.info(
            "host pause follows the cluster", machine=machine.meta.key, host=str(host_ref), paused=paused
        )

    async def _reuse_owner(self, machine: MachineObject, context: CapiContext) -> str | None:
        """The KCP or MachineDeployment the machine's host is reserved for, with node reuse on."""
        if context.owner is None or context.owner.reuse_owner is None:
            return None
        template = machine.meta.annotations.get(capi.CLONED_FROM_NAME)
        if not template:
            return None
        found = await self._kube.get(MACHINE_TEMPLATES, machine.meta.namespace, template)
        if found is None or (found.get("spec") or {}).get("nodeReuse") is not True:
            return None
        return context.owner.reuse_owner

    # -- helpers -------------------------------------------------------------------------------------

    async def _warn(self, obj: Mapping[str, Any], key: str, reason: str, message: str) -> None:
        if self._warned.get(key) == message:
            return
        self._warned[key] = message
        log.warning("metal3machine problem", machine=key, reason=reason, message=message)
        await self._kube.record(obj, "Warning", reason, message)

    async def _send(
        self, obj: Mapping[str, Any], key: str, command: cmd.MachineCommand
    ) -> MachineState | None:
        try:
            return await self._machines.send(key, command)
        except DomainError as refusal:
            await self._warn(obj, key, type(command).__name__ + "Refused", str(refusal))
            return None

    async def _apply(
        self, obj: Mapping[str, Any], machine: MachineObject, state: MachineState
    ) -> MachineState | None:
        meta = machine.meta
        if (
            state.exists
            and not state.deleted
            and state.uid == meta.uid
            and state.generation >= meta.generation
        ):
            return state
        command = cmd.ApplyMachineSpec(
            now=self._clock(),
            namespace=meta.namespace,
            name=meta.name,
            uid=meta.uid,
            generation=meta.generation,
            spec=machine.spec,
        )
        new = await self._send(obj, meta.key, command)
        if new is None and state.exists and not state.deleted and state.uid == meta.uid:
            return state  # a refused edit leaves the machine as it was recorded
        return new

    # -- association ---------------------------------------------------------------------------------

    async def _host_states(self, namespace: str) -> dict[str, HostState]:
        states: dict[str, HostState] = {}
        for host in self._cache.list(HOSTS, namespace):
            key = f"{namespace}/{host['metadata']['name']}"
            states[key] = await self._hosts.state(key)
        return states

    async def _associate(
        self, obj: Mapping[str, Any], machine: MachineObject, state: MachineState, context: CapiContext
    ) -> tuple[MachineState, str, Result]:
        meta = machine.meta
        bootstrap = self._bootstrap(state, context)
        if not bootstrap:
            return state, self._bootstrap_wait(obj, context), DONE
        placement = MachinePlacement(
            namespace=meta.namespace,
            name=meta.name,
            host_selector=state.spec.host_selector,
            failure_domain=state.spec.failure_domain
            or (context.owner.failure_domain if context.owner else ""),
            node_reuse_owner=await self._reuse_owner(machine, context),
        )
        lost: set[str] = set()
        for _ in range(CLAIM_ATTEMPTS):
            states = await self._host_states(meta.namespace)
            hosts = [h for h in self._cache.list(HOSTS, meta.namespace) if h["metadata"]["name"] not in lost]
            try:
                selection = select_host(placement, hostspec.candidates(hosts, states), roll=self._roll())
            except SelectorInvalid as problem:
                await self._warn(obj, meta.key, "InvalidConfiguration", str(problem))
                return state, str(problem), DONE
            if not isinstance(selection, HostChosen):
                return state, selection.detail, Result(requeue_after=self._no_host_retry)
            chosen = selection.host
            host_id = f"{chosen.namespace}/{chosen.name}"
            try:
                await self._hosts.send(
                    host_id, hcmd.ClaimHost(now=self._clock(), consumer=hostspec.consumer_of(machine))
                )
            except CommandRejected as refusal:
                log.info(
                    "host taken by another consumer; choosing again", machine=meta.key, reason=str(refusal)
                )
                lost.add(chosen.name)
                continue
            host = HostRef(namespace=chosen.namespace, name=chosen.name)
            reused = selection.reason == "node-reuse"
            return await self._associated(obj, machine, host_id, host, bootstrap, reused=reused)
        return state, "every chosen host was taken by another machine", Result(requeue_after=0.0)

    async def _associated(
        self,
        obj: Mapping[str, Any],
        machine: MachineObject,
        host_id: str,
        host: HostRef,
        bootstrap: str,
        *,
        reused: bool,
    ) -> tuple[MachineState, str, Result]:
        meta = machine.meta
        command = cmd.AssociateHost(
            now=self._clock(), host=host, bootstrap_data_secret=bootstrap, via_node_reuse=reused
        )
        new = await self._send(obj, meta.key, command)
        if new is None:
            try:
                await self._hosts.send(
                    host_id, hcmd.ReleaseHost(now=self._clock(), consumer=hostspec.consumer_of(machine))
                )
            except CommandRejected:
                log.warning("could not give back an unused host claim", machine=meta.key, host=host_id)
            return await self._machines.state(meta.key), "association refused", DONE
        if machine.meta.annotations.get(HOST_ANNOTATION) != host_id:
            await self._kube.patch(MACHINES, obj, {"metadata": {"annotations": {HOST_ANNOTATION: host_id}}})
        await self._kube.record(obj, "Normal", "Associated", f"associated with BareMetalHost {host_id}")
        log.info("machine associated", machine=meta.key, host=host_id)
        return new, "", DONE

    # -- data and host -------------------------------------------------------------------------------

    async def _data(
        self, obj: Mapping[str, Any], machine: MachineObject, state: MachineState
    ) -> tuple[MachineState, str]:
        template = state.spec.data_template
        if template is None or state.data_name is not None:
            return state, ""
        meta = machine.meta
        claim = self._cache.get(CLAIMS, meta.key)
        if claim is None:
            await self._kube.create(CLAIMS, _claim_body(obj, machine, template.name, template.namespace))
            return state, "waiting for the Metal3DataClaim"
        claim_status = claim.get("status") or {}
        data_name = (claim_status.get("renderedData") or {}).get("name")
        if not data_name:
            return state, claim_status.get(
                "errorMessage"
            ) or "waiting for an index from the Metal3DataTemplate"
        data = self._cache.get(DATAS, f"{meta.namespace}/{data_name}")
        data_status = (data or {}).get("status") or {}
        if data is None or not data_status.get("ready"):
            return state, data_status.get(
                "errorMessage"
            ) or f"waiting for Metal3Data {data_name} to be rendered"
        spec = data.get("spec") or {}
        command = cmd.RecordRenderedData(
            now=self._clock(),
            data_name=data_name,
            meta_data_secret=(spec.get("metaData") or {}).get("name"),
            network_data_secret=(spec.get("networkData") or {}).get("name"),
        )
        new = await self._send(obj, meta.key, command)
        return (new, "") if new is not None else (state, "rendered data refused")

    async def _update_host(self, machine: MachineObject, state: MachineState) -> None:
        assert state.host is not None  # noqa: S101 - callers check
        host = self._cache.get(HOSTS, str(state.host))
        if host is None:
            return
        with_data = state.spec.data_template is None or state.data_name is not None
        patch = hostspec.association_patch(host, machine, state, with_data=with_data)
        if patch is not None:
            await self._kube.patch(HOSTS, host, patch)

    async def _observe_host(
        self, obj: Mapping[str, Any], machine: MachineObject, state: MachineState
    ) -> MachineState:
        assert state.host is not None  # noqa: S101 - callers check
        host_id = str(state.host)
        host = await self._hosts.state(host_id)
        if not host.exists or host.consumer is None or host.consumer.name != machine.meta.name:
            return state
        new = await self._send(
            obj, machine.meta.key, cmd.ObserveHostHardware(now=self._clock(), hardware=host.hardware)
        )
        state = new or state
        cached = self._cache.get(HOSTS, host_id)
        ours = cached is not None and hostspec.is_consumer(cached, machine)
        if host.provisioning_state == hostspec.PS.PROVISIONED and ours and not state.provisioned:
            provisioned = await self._send(
                obj, machine.meta.key, cmd.RecordHostProvisioned(now=self._clock())
            )
            if provisioned is not None:
                state = provisioned
                await self._kube.record(
                    obj, "Normal", "Provisioned", f"BareMetalHost {host_id} is provisioned"
                )
        if state.provider_id and machine.provider_id != state.provider_id:
            await self._kube.patch(MACHINES, obj, {"spec": {"providerID": state.provider_id}})
        return state

    # -- deletion ------------------------------------------------------------------------------------

    async def _delete(
        self, obj: Mapping[str, Any], machine: MachineObject, state: MachineState, context: CapiContext
    ) -> Result:
        meta = machine.meta
        if state.exists and not state.deleted and state.uid == meta.uid:
            new = await self._send(obj, meta.key, cmd.RequestMachineDeletion(now=self._clock()))
            state = new or state
            if state.host is not None:
                reuse = None if context.cluster_deleting else await self._reuse_owner(machine, context)
                released = await self._release_host(obj, machine, state, reuse_owner=reuse)
                if released is None:
                    await self._write_status(obj, state, "waiting for the host to be deprovisioned")
                    return DONE
                state = released
            if state.spec.data_template is not None and not state.data_released:
                if self._cache.get(CLAIMS, meta.key) is not None:
                    await self._kube.delete(CLAIMS, meta.namespace, meta.name)
                    return DONE  # the claim's disappearance brings us back
                state = await self._send(obj, meta.key, cmd.ReleaseRenderedData(now=self._clock())) or state
            if not state.deleted:
                return DONE
        if MACHINE_FINALIZER in meta.finalizers:
            await self._kube.set_finalizer(MACHINES, obj, MACHINE_FINALIZER, present=False)
        self._warned.pop(meta.key, None)
        return DONE

    async def _write_status(self, obj: Mapping[str, Any], state: MachineState, waiting: str) -> None:
        await self._kube.write_status(
            MACHINES, obj, machine_status(state, obj.get("status") or {}, self._clock(), waiting=waiting)
        )

    async def _release_host(
        self, obj: Mapping[str, Any], machine: MachineObject, state: MachineState, *, reuse_owner: str | None
    ) -> MachineState | None:
        """Deprovision and release the host; the new state, or None while the host is still busy."""
        assert state.host is not None  # noqa: S101 - callers check
        host_id, key = str(state.host), machine.meta.key
        host = self._cache.get(HOSTS, host_id)
        if host is not None and hostspec.is_consumer(host, machine):
            generation = int(host["metadata"].get("generation") or 0)
            patch = hostspec.deprovision_patch(host)
            if patch is not None:
                stored = await self._kube.patch(HOSTS, host, patch)
                generation = int(((stored or {}).get("metadata") or {}).get("generation") or generation)
            state = await self._send(obj, key, cmd.StartDeprovisioning(now=self._clock())) or state
            recorded = await self._hosts.state(host_id)
            if recorded.exists and (
                recorded.generation < generation or recorded.provisioning_state in hostspec.BUSY_STATES
            ):
                return None  # the host's events bring us back
            release = hostspec.release_patch(host, machine, reuse_owner=reuse_owner)
            if release is not None:
                await self._kube.patch(HOSTS, host, release)
                return None  # release on the aggregate once our cache shows the consumer gone
        else:
            state = await self._send(obj, key, cmd.StartDeprovisioning(now=self._clock())) or state
        try:
            await self._hosts.send(
                host_id, hcmd.ReleaseHost(now=self._clock(), consumer=hostspec.consumer_of(machine))
            )
        except DomainError as refusal:
            log.info("host not released by this machine", machine=key, host=host_id, reason=str(refusal))
        new = await self._send(
            obj, key, cmd.RecordHostReleased(now=self._clock(), node_reuse_label=reuse_owner)
        )
        if new is not None:
            reserved = f", reserved for {reuse_owner} (node reuse)" if reuse_owner else ""
            await self._kube.record(obj, "Normal", "Released", f"released BareMetalHost {host_id}{reserved}")
        return new


def _claim_body(
    obj: Mapping[str, Any], machine: MachineObject, template: str, namespace: str
) -> dict[str, Any]:
    meta = machine.meta
    labels = {CLUSTER_LABEL: meta.labels[CLUSTER_LABEL]} if CLUSTER_LABEL in meta.labels else {}
    return {
        "metadata": {
            "name": meta.name,
            "namespace": meta.namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": obj.get("apiVersion") or MACHINES.api_version,
                    "kind": MACHINES.kind,
                    "name": meta.name,
                    "uid": meta.uid,
                    "controller": True,
                }
            ],
        },
        "spec": {"template": {"name": template, "namespace": namespace or meta.namespace}},
    }
