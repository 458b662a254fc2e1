"""Reconciles Metal3Remediations: CAPM3's reboot strategy through the host's reboot annotation.

Phase ``Running`` puts ``reboot.metal3.io/metal3-remediation-<uid>`` (hard) on the machine's
BareMetalHost, which the BareMetalHost controller turns into a held power-off; once the host's
log says it is off, the remediation moves to ``Waiting`` and the annotation is removed (power
on). A host whose ``spec.online`` is false is never rebooted (``Failed``). After
``timeoutSeconds`` without recovery the remediation retries up to ``retryLimit`` times and then
gives up, marking the host ``capm3.metal3.io/unhealthy`` so it is not chosen again.

What differs from CAPM3: metalstream has no client for the workload cluster, so the Node steps
(out-of-service taint, or backing up and deleting the Node) are not taken, and "healthy again"
means "the host is powered on again" rather than "its Node is Ready".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from adapters.k8s.capm3.manifests import meta_of, read_machine
from adapters.k8s.capm3.names import HOSTS, MACHINES, REMEDIATION_FINALIZER, REMEDIATIONS
from adapters.k8s.capm3.ports import DONE, Cache, Commands, Kube, Result
from adapters.k8s.capm3.status import stamp
from core.aggregates import host_commands as hcmd
from core.aggregates import remediations as rem
from core.aggregates.host_selection import UNHEALTHY_ANNOTATION
from core.aggregates.host_state import HostState
from core.errors import DomainError
from core.events.remediations import DEFAULT_RETRY_LIMIT, DEFAULT_TIMEOUT_SECONDS, RemediationStrategy

log = structlog.get_logger("metalstream.k8s.capm3.remediations")

REBOOT_PREFIX: Final = "reboot.metal3.io/metal3-remediation-"
REBOOT_MODE: Final = '{"mode":"hard"}'


def reboot_annotation(uid: str) -> str:
    return REBOOT_PREFIX + uid


def strategy_of(obj: Mapping[str, Any]) -> RemediationStrategy:
    raw = (obj.get("spec") or {}).get("strategy") or {}
    return RemediationStrategy(
        retry_limit=int(raw.get("retryLimit") or DEFAULT_RETRY_LIMIT),
        timeout_seconds=int(raw.get("timeoutSeconds") or DEFAULT_TIMEOUT_SECONDS),
    )


def remediation_status(state: rem.RemediationState) -> dict[str, Any]:
    status: dict[str, Any] = {"retryCount": state.retry_count}
    if state.phase:
        status["phase"] = state.phase
    if state.last_remediated is not None:
        status["lastRemediated"] = stamp(state.last_remediated)
    return status


class RemediationController:
    """Reconciles Metal3Remediation objects."""

    def __init__(
        self,
        remediations: Commands[rem.RemediationState, rem.RemediationCommand],
        hosts: Commands[HostState, hcmd.HostCommand],
        kube: Kube,
        cache: Cache,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._remediations = remediations
        self._hosts = hosts
        self._kube = kube
        self._cache = cache
        self._clock = clock or (lambda: datetime.now(UTC))

    def _machine(self, obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The Metal3Machine remediated: the one owned by the remediation's Machine, or of its name."""
        meta = meta_of(obj)
        owners = (obj.get("metadata") or {}).get("ownerReferences") or []
        machine = next((o.get("name") for o in owners if o.get("kind") == "Machine"), None) or meta.name
        for candidate in self._cache.list(MACHINES, meta.namespace):
            if read_machine(candidate).owner_machine == machine:
                return candidate
        return None

    async def _send(self, key: str, command: rem.RemediationCommand) -> rem.RemediationState | None:
        try:
            return await self._remediations.send(key, command)
        except DomainError as refusal:
            log.warning("remediation step refused", remediation=key, reason=str(refusal))
            return None

    async def reconcile(self, obj: Mapping[str, Any] | None, key: str) -> Result:
        if obj is None:
            return DONE
        meta = meta_of(obj)
        state = await self._remediations.state(key)
        if meta.deleting:
            return await self._delete(obj, key, state)
        if REMEDIATION_FINALIZER not in meta.finalizers:
            await self._kube.set_finalizer(REMEDIATIONS, obj, REMEDIATION_FINALIZER, present=True)
        if not state.exists or state.deleted:
            machine = self._machine(obj)
            host_ref = read_machine(machine).host if machine is not None else None
            if machine is None or host_ref is None:
                return DONE  # the machine's association brings us back
            command = rem.ApplyRemediation(
                now=self._clock(),
                namespace=meta.namespace,
                name=meta.name,
                uid=meta.uid,
                machine=machine["metadata"]["name"],
                host=host_ref,
                strategy=strategy_of(obj),
            )
            state = await self._send(key, command) or state
            if not state.exists:
                return DONE
        assert state.host is not None  # noqa: S101 - recorded with the remediation
        host_obj = self._cache.get(HOSTS, str(state.host))
        host = await self._hosts.state(str(state.host))
        result = DONE
        if host_obj is not None:
            before = state.phase, state.succeeded
            state, result = await self._step(meta.uid, key, state, host_obj, host)
            if (state.phase, state.succeeded) != before:
                await self._tell(obj, state)
        await self._kube.write_status(REMEDIATIONS, obj, remediation_status(state))
        return result

    async def _tell(self, obj: Mapping[str, Any], state: rem.RemediationState) -> None:
        host = str(state.host)
        if state.succeeded:
            await self._kube.record(obj, "Normal", "Remediated", f"BareMetalHost {host} is powered on again")
        elif state.phase == "Running":
            await self._kube.record(obj, "Normal", "RebootStarted", f"powering off BareMetalHost {host}")
        elif state.phase == "Waiting":
            await self._kube.record(obj, "Normal", "PoweredOff", f"BareMetalHost {host} is off; powering on")
        elif state.phase == "Failed":
            await self._kube.record(obj, "Warning", "RemediationFailed", state.failure_reason)
        elif state.phase == "Deleting machine":
            message = f"gave up after {state.retry_count} retries; BareMetalHost {host} marked unhealthy"
            await self._kube.record(obj, "Warning", "RemediationFailed", message)

    async def _step(
        self,
        uid: str,
        key: str,
        state: rem.RemediationState,
        host_obj: Mapping[str, Any],
        host: HostState,
    ) -> tuple[rem.RemediationState, Result]:
        now = self._clock()
        annotations = meta_of(host_obj).annotations
        annotation = reboot_annotation(uid)
        if not state.phase:
            online = bool((host_obj.get("spec") or {}).get("online"))
            state = await self._send(key, rem.StartRemediation(now=now, host_online=online)) or state
        if state.succeeded or state.phase == "Failed":
            if annotation in annotations:
                await self._kube.patch(HOSTS, host_obj, {"metadata": {"annotations": {annotation: None}}})
            return state, DONE
        if state.phase == "Running":
            if annotation not in annotations:
                await self._kube.patch(
                    HOSTS, host_obj, {"metadata": {"annotations": {annotation: REBOOT_MODE}}}
                )
                return state, DONE
            if not host.powered_on:
                state = await self._send(key, rem.RecordPoweredOff(now=now)) or state
        if state.phase == "Waiting":
            if annotation in annotations:
                await self._kube.patch(HOSTS, host_obj, {"metadata": {"annotations": {annotation: None}}})
                return state, DONE
            if host.powered_on and not host.reboot_requests:
                state = await self._send(key, rem.RecordNodeHealthy(now=now)) or state
                return state, DONE
            state = await self._send(key, rem.CheckTimeout(now=now)) or state
            deadline = state.deadline
            if state.phase == "Waiting" and deadline is not None:
                return state, Result(requeue_after=max(1.0, (deadline - now).total_seconds()))
        if state.phase == "Deleting machine" and UNHEALTHY_ANNOTATION not in annotations:
            patch = {
                "metadata": {
                    "annotations": {UNHEALTHY_ANNOTATION: rem.UNHEALTHY_ANNOTATION_VALUE, annotation: None}
                }
            }
            await self._kube.patch(HOSTS, host_obj, patch)
        return state, DONE

    async def _delete(self, obj: Mapping[str, Any], key: str, state: rem.RemediationState) -> Result:
        if state.exists and not state.deleted:
            if state.host is not None:
                host_obj = self._cache.get(HOSTS, str(state.host))
                annotation = reboot_annotation(meta_of(obj).uid)
                if host_obj is not None and annotation in meta_of(host_obj).annotations:
                    await self._kube.patch(HOSTS, host_obj, {"metadata": {"annotations": {annotation: None}}})
            await self._send(key, rem.RequestRemediationDeletion(now=self._clock()))
        await self._kube.set_finalizer(REMEDIATIONS, obj, REMEDIATION_FINALIZER, present=False)
        return DONE
