"""Reconciles Metal3DataTemplates and Metal3DataClaims: specs recorded, indexes handed out.

A template's spec is recorded on its aggregate (which refuses changes to metaData and
networkData, like CAPM3's webhook) and its held indexes are projected into ``status.indexes``.
A claim asks the template's aggregate for an index (``ClaimIndex``: the lowest free one, the same
one again when asked again; two claims racing are serialised by optimistic concurrency, so no
index is handed out twice) and creates the Metal3Data ``<template>-<index>`` owned by the claim
and by the claim's Metal3Machine. Deleting a claim deletes its Metal3Data, waits until it is
gone (its IPClaims and Secrets go with it), and only then gives the index back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import structlog

from adapters.k8s.capm3.manifests import ManifestProblem, meta_of, read_template_spec, ref_name
from adapters.k8s.capm3.names import (
    CLAIM_FINALIZER,
    CLAIMS,
    CLUSTER_LABEL,
    DATAS,
    TEMPLATE_FINALIZER,
    TEMPLATES,
)
from adapters.k8s.capm3.ports import DONE, Cache, Commands, Kube, Result
from adapters.k8s.capm3.status import stamp
from core.aggregates import data_template_commands as cmd
from core.aggregates.data_template_state import DataTemplateState
from core.errors import DomainError

log = structlog.get_logger("metalstream.k8s.capm3.templates")


class TemplateController:
    """Reconciles Metal3DataTemplate objects."""

    def __init__(
        self,
        templates: Commands[DataTemplateState, cmd.DataTemplateCommand],
        kube: Kube,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._templates = templates
        self._kube = kube
        self._clock = clock or (lambda: datetime.now(UTC))
        self._warned: dict[str, str] = {}

    async def _send(
        self, obj: Mapping[str, Any], key: str, command: cmd.DataTemplateCommand
    ) -> DataTemplateState | None:
        try:
            return await self._templates.send(key, command)
        except DomainError as refusal:
            if self._warned.get(key) != str(refusal):
                self._warned[key] = str(refusal)
                await self._kube.record(obj, "Warning", "InvalidConfiguration", str(refusal))
            return None

    async def reconcile(self, obj: Mapping[str, Any] | None, key: str) -> Result:
        if obj is None:
            self._warned.pop(key, None)
            return DONE
        meta = meta_of(obj)
        state = await self._templates.state(key)
        if meta.deleting:
            if state.exists and not state.deleted and state.uid == meta.uid:
                state = await self._send(obj, key, cmd.RequestTemplateDeletion(now=self._clock())) or state
                if not state.deleted:
                    await self._status(obj, state)
                    return DONE  # released indexes bring us back
            await self._kube.set_finalizer(TEMPLATES, obj, TEMPLATE_FINALIZER, present=False)
            return DONE
        if TEMPLATE_FINALIZER not in meta.finalizers:
            await self._kube.set_finalizer(TEMPLATES, obj, TEMPLATE_FINALIZER, present=True)
        fresh = state.exists and not state.deleted and state.uid == meta.uid
        if not (fresh and state.generation >= meta.generation):
            try:
                spec = read_template_spec(obj)
            except ManifestProblem as problem:
                await self._kube.record(obj, "Warning", "InvalidConfiguration", str(problem))
                return DONE
            command = cmd.ApplyTemplateSpec(
                now=self._clock(),
                namespace=meta.namespace,
                name=meta.name,
                uid=meta.uid,
                generation=meta.generation,
                spec=spec,
            )
            state = await self._send(obj, key, command) or state
        if state.exists and not state.deleted:
            await self._status(obj, state)
        return DONE

    async def _status(self, obj: Mapping[str, Any], state: DataTemplateState) -> None:
        status = {
            "lastUpdated": stamp(self._clock()),
            "indexes": [{"name": e.claim, "index": e.index} for e in state.indexes],
        }
        await self._kube.write_status(TEMPLATES, obj, status)


def _owner(obj: Mapping[str, Any], *, controller: bool) -> dict[str, Any]:
    metadata = obj["metadata"]
    ref: dict[str, Any] = {
        "apiVersion": obj.get("apiVersion") or CLAIMS.api_version,
        "kind": obj.get("kind") or "",
        "name": metadata["name"],
        "uid": metadata["uid"],
    }
    if controller:
        ref["controller"] = True
    return ref


class ClaimController:
    """Reconciles Metal3DataClaim objects."""

    def __init__(
        self,
        templates: Commands[DataTemplateState, cmd.DataTemplateCommand],
        kube: Kube,
        cache: Cache,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._templates = templates
        self._kube = kube
        self._cache = cache
        self._clock = clock or (lambda: datetime.now(UTC))

    async def reconcile(self, obj: Mapping[str, Any] | None, key: str) -> Result:
        if obj is None:
            return DONE
        meta = meta_of(obj)
        template = ref_name(obj, "spec", "template")
        template_namespace = ((obj.get("spec") or {}).get("template") or {}).get(
            "namespace"
        ) or meta.namespace
        template_id = f"{template_namespace}/{template}"
        if meta.deleting:
            return await self._delete(obj, meta.name, meta.namespace, template_id)
        if CLAIM_FINALIZER not in meta.finalizers:
            await self._kube.set_finalizer(CLAIMS, obj, CLAIM_FINALIZER, present=True)
        if template_namespace != meta.namespace:
            await self._error(obj, "spec.template.namespace: must be the claim's namespace")
            return DONE
        state = await self._templates.state(template_id)
        if not state.exists or state.deleted:
            await self._error(obj, f"waiting for Metal3DataTemplate {template_id}")
            return DONE
        try:
            state = await self._templates.send(
                template_id, cmd.ClaimIndex(now=self._clock(), claim=meta.name)
            )
        except DomainError as refusal:
            await self._error(obj, str(refusal))
            return DONE
        data_name = state.data_name(meta.name)
        if data_name is None:  # pragma: no cover - ClaimIndex always leaves an index
            return DONE
        existing = self._cache.get(DATAS, f"{meta.namespace}/{data_name}")
        if existing is None:
            existing = await self._kube.create(DATAS, self._data_body(obj, data_name, template, state))
        if existing is not None and ref_name(existing, "spec", "claim") not in ("", meta.name):
            await self._error(obj, f"Metal3Data {data_name} belongs to another claim")
            return DONE
        status = {"renderedData": {"name": data_name, "namespace": meta.namespace}}
        await self._kube.write_status(CLAIMS, obj, status)
        return DONE

    def _data_body(
        self, claim: Mapping[str, Any], data_name: str, template: str, state: DataTemplateState
    ) -> dict[str, Any]:
        meta = meta_of(claim)
        owners = [_owner(claim, controller=True)]
        owners += [
            {k: o[k] for k in ("apiVersion", "kind", "name", "uid") if k in o}
            for o in (claim.get("metadata") or {}).get("ownerReferences") or []
            if o.get("kind") == "Metal3Machine"
        ]
        labels = {CLUSTER_LABEL: meta.labels[CLUSTER_LABEL]} if CLUSTER_LABEL in meta.labels else {}
        return {
            "metadata": {
                "name": data_name,
                "namespace": meta.namespace,
                "labels": labels,
                "ownerReferences": owners,
            },
            "spec": {
                "index": state.index_of(meta.name),
                "template": {"name": template, "namespace": meta.namespace},
                "claim": {"name": meta.name, "namespace": meta.namespace},
            },
        }

    async def _error(self, obj: Mapping[str, Any], message: str) -> None:
        await self._kube.write_status(CLAIMS, obj, {"errorMessage": message[:512]})

    async def _delete(self, obj: Mapping[str, Any], name: str, namespace: str, template_id: str) -> Result:
        data_name = ((obj.get("status") or {}).get("renderedData") or {}).get("name")
        state = await self._templates.state(template_id)
        data_name = data_name or state.data_name(name)
        if data_name and self._cache.get(DATAS, f"{namespace}/{data_name}") is not None:
            await self._kube.delete(DATAS, namespace, data_name)
            return DONE  # the data's disappearance brings us back
        if state.exists and not state.deleted:
            try:
                await self._templates.send(template_id, cmd.ReleaseIndex(now=self._clock(), claim=name))
            except DomainError as refusal:
                log.warning("index release refused", claim=f"{namespace}/{name}", reason=str(refusal))
        await self._kube.set_finalizer(CLAIMS, obj, CLAIM_FINALIZER, present=False)
        return DONE
