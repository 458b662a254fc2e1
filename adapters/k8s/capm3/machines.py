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
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from adapters.k8s.capm3 import hostspec
from adapters.k8s.capm3.manifests import MachineObject, ManifestProblem, read_machine
from adapters.k8s.capm3.names import (
    CLAIMS,
    CLUSTER_LABEL,
    DATAS,
    HOST_ANNOTATION,
    HOSTS,
    MACHINE_FINALIZER,
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
    ) -> None:
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
        if machine.meta.deleting:
            return await self._delete(obj, machine, state)
        if MACHINE_FINALIZER not in machine.meta.finalizers:
            await self._kube.set_finalizer(MACHINES, obj, MACHINE_FINALIZER, present=True)
        applied = await self._apply(obj, machine, state)
        if applied is None:
            return DONE
        state = applied
        waiting, result = "", DONE
        if state.host is None:
            state, waiting, result = await self._associate(obj, machine, state)
        if state.host is not None:
            state, waiting = await self._data(obj, machine, state)
            await self._update_host(machine, state)
            state = await self._observe_host(obj, machine, state)
        await self._kube.write_status(
            MACHINES, obj, machine_status(state, obj.get("status") or {}, self._clock(), waiting=waiting)
        )
        return result

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
        self, obj: Mapping[str, Any], machine: MachineObject, state: MachineState
    ) -> tuple[MachineState, str, Result]:
        meta = machine.meta
        bootstrap = state.spec.user_data.name if state.spec.user_data is not None else ""
        if not bootstrap:
            return state, "waiting for bootstrap data: set spec.userData to the user-data Secret", DONE
        placement = MachinePlacement(
            namespace=meta.namespace,
            name=meta.name,
            host_selector=state.spec.host_selector,
            failure_domain=state.spec.failure_domain,
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
            return await self._associated(
                obj, machine, host_id, HostRef(namespace=chosen.namespace, name=chosen.name), bootstrap
            )
        return state, "every chosen host was taken by another machine", Result(requeue_after=0.0)

    async def _associated(
        self, obj: Mapping[str, Any], machine: MachineObject, host_id: str, host: HostRef, bootstrap: str
    ) -> tuple[MachineState, str, Result]:
        meta = machine.meta
        command = cmd.AssociateHost(now=self._clock(), host=host, bootstrap_data_secret=bootstrap)
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

    async def _delete(self, obj: Mapping[str, Any], machine: MachineObject, state: MachineState) -> Result:
        meta = machine.meta
        if state.exists and not state.deleted and state.uid == meta.uid:
            new = await self._send(obj, meta.key, cmd.RequestMachineDeletion(now=self._clock()))
            state = new or state
            if state.host is not None:
                released = await self._release_host(obj, machine, state)
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
        self, obj: Mapping[str, Any], machine: MachineObject, state: MachineState
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
            release = hostspec.release_patch(host, machine)
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
        new = await self._send(obj, key, cmd.RecordHostReleased(now=self._clock()))
        if new is not None:
            await self._kube.record(obj, "Normal", "Released", f"released BareMetalHost {host_id}")
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
