"""Reconciles one Metal3Data: claim addresses through IPAM's API, render, write the two Secrets.

Addresses come the way CAPM3 gets them: for every pool the template refers to, an IPClaim
``<data>-<pool>`` (owned by the Metal3Data, finalizer ``metal3data...``, labelled with the data and
pool names) is created, and the IPAM controller answers in its ``status.address`` with an
IPAddress. Nothing here calls the IP pool aggregate: IPAM may run anywhere, as in Metal3.

Once every address is there, the template (as recorded on its aggregate) is rendered with the
core's pure rendering, and the results are written to ``<machine>-metadata`` and
``<machine>-networkdata``, each created only if missing and never overwritten, so a host
re-provisioned from the same Metal3Data gets exactly what it had. The Metal3Data then points at
them and reports ``ready``. A rendering problem is reported in ``status.errorMessage`` naming
the template field. Deleting a Metal3Data deletes its IPClaims (the addresses go back to the
pool) and the Secrets it owns.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
import yaml

from adapters.k8s.capm3.manifests import ObjectMeta, meta_of, read_machine, ref_name
from adapters.k8s.capm3.names import (
    CLAIMS,
    CLUSTER_LABEL,
    DATA_FINALIZER,
    DATA_NAME_LABEL,
    DATAS,
    HOSTS,
    IPADDRESSES,
    IPCLAIMS,
    MACHINES,
    POOL_NAME_LABEL,
)
from adapters.k8s.capm3.ports import DONE, Cache, Commands, Kube, Result
from adapters.k8s.resources import SECRETS
from core.aggregates import data_template_commands as tcmd
from core.aggregates import host_commands as hcmd
from core.aggregates.data_rendering import (
    DataRenderingError,
    MachineObjects,
    ObjectFacts,
    PoolAddress,
    RenderingInput,
    nics_by_name,
    referenced_pools,
    render,
    secret_names,
)
from core.aggregates.data_template_state import DataTemplateState
from core.aggregates.host_state import HostState
from core.events.data_template_values import IPAM_GROUP, IPPOOL_KIND

log = structlog.get_logger("metalstream.k8s.capm3.datas")


def _facts(obj: Mapping[str, Any]) -> ObjectFacts:
    meta = meta_of(obj)
    return ObjectFacts(name=meta.name, labels=dict(meta.labels), annotations=dict(meta.annotations))


def _owner(obj: Mapping[str, Any]) -> dict[str, Any]:
    metadata = obj["metadata"]
    return {
        "apiVersion": obj.get("apiVersion") or DATAS.api_version,
        "kind": DATAS.kind,
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
    }


def _pool_address(ipaddress: Mapping[str, Any]) -> PoolAddress:
    spec = ipaddress.get("spec") or {}
    prefix = spec.get("prefix")
    return PoolAddress(
        address=str(spec.get("address") or ""),
        prefix=int(prefix) if prefix is not None else None,
        gateway=str(spec.get("gateway") or ""),
        dns_servers=tuple(spec.get("dnsServers") or ()),
    )


class DataController:
    """Reconciles Metal3Data objects."""

    def __init__(
        self,
        templates: Commands[DataTemplateState, tcmd.DataTemplateCommand],
        hosts: Commands[HostState, hcmd.HostCommand],
        kube: Kube,
        cache: Cache,
    ) -> None:
        self._templates = templates
        self._hosts = hosts
        self._kube = kube
        self._cache = cache
        self._reported: dict[str, str] = {}

    async def reconcile(self, obj: Mapping[str, Any] | None, key: str) -> Result:
        if obj is None:
            self._reported.pop(key, None)
            return DONE
        meta = meta_of(obj)
        if meta.deleting:
            return await self._delete(obj, meta)
        if DATA_FINALIZER not in meta.finalizers:
            await self._kube.set_finalizer(DATAS, obj, DATA_FINALIZER, present=True)
        if (obj.get("status") or {}).get("ready"):
            return DONE
        problem = await self._render(obj, meta)
        if problem is not None:
            await self._status(obj, ready=False, error=problem)
        return DONE

    async def _status(self, obj: Mapping[str, Any], *, ready: bool, error: str = "") -> None:
        status: dict[str, Any] = {"ready": ready}
        if error:
            status["errorMessage"] = error[:512]
        await self._kube.write_status(DATAS, obj, status)

    async def _render(self, obj: Mapping[str, Any], meta: ObjectMeta) -> str | None:
        """Render when everything is there; what is missing (a status message), or None when done."""
        template = ref_name(obj, "spec", "template")
        state = await self._templates.state(f"{meta.namespace}/{template}")
        if not state.exists:
            return f"waiting for Metal3DataTemplate {template}"
        claim = self._cache.get(CLAIMS, f"{meta.namespace}/{ref_name(obj, 'spec', 'claim')}")
        owner = next(
            (
                o
                for o in ((claim or {}).get("metadata") or {}).get("ownerReferences") or []
                if o.get("kind") == MACHINES.kind
            ),
            None,
        )
        machine_obj = self._cache.get(MACHINES, f"{meta.namespace}/{owner['name']}") if owner else None
        if machine_obj is None:
            return "waiting for the Metal3DataClaim's Metal3Machine"
        machine = read_machine(machine_obj)
        if machine.host is None:
            return f"waiting for Metal3Machine {machine.meta.name} to be associated with a host"
        host_obj = self._cache.get(HOSTS, str(machine.host))
        if host_obj is None:
            return f"waiting for BareMetalHost {machine.host}"
        host = await self._hosts.state(str(machine.host))
        objects = MachineObjects(
            machine=ObjectFacts(name=machine.owner_machine),
            metal3machine=_facts(machine_obj),
            host=_facts(host_obj),
        )
        spec = state.spec
        try:
            pools = referenced_pools(spec, objects)
            addresses, waiting = await self._addresses(obj, meta, pools)
            if waiting:
                return waiting
            inputs = RenderingInput(
                namespace=meta.namespace,
                index=int((obj.get("spec") or {}).get("index") or 0),
                objects=objects,
                host_nics=nics_by_name(host.hardware.nics) if host.hardware is not None else None,
                boot_mac_address=str((host_obj.get("spec") or {}).get("bootMACAddress") or ""),
                pool_addresses=addresses,
            )
            rendered = render(spec, inputs)
        except DataRenderingError as error:
            message = f"Metal3DataTemplate {template}: {error}"
            if self._reported.get(meta.key) != message:
                self._reported[meta.key] = message
                await self._kube.record(obj, "Warning", "RenderingFailed", message)
            return message
        meta_name, network_name = secret_names(spec, machine.meta.name)
        refs: dict[str, Any] = {}
        for name, key, document in (
            (meta_name, "metaData", rendered.meta_data),
            (network_name, "networkData", rendered.network_data),
        ):
            if name is None or document is None:
                continue
            await self._kube.create(SECRETS, self._secret(obj, meta, name, key, document))
            refs[key] = {"name": name, "namespace": meta.namespace}
        current = obj.get("spec") or {}
        if any(current.get(k) != v for k, v in refs.items()):
            await self._kube.patch(DATAS, obj, {"spec": refs})
        await self._status(obj, ready=True)
        await self._kube.record(obj, "Normal", "Rendered", f"rendered for Metal3Machine {machine.meta.name}")
        return None

    def _secret(
        self, obj: Mapping[str, Any], meta: ObjectMeta, name: str, key: str, document: Any
    ) -> dict[str, Any]:
        labels = {CLUSTER_LABEL: meta.labels[CLUSTER_LABEL]} if CLUSTER_LABEL in meta.labels else {}
        return {
            "metadata": {
                "name": name,
                "namespace": meta.namespace,
                "labels": labels,
                "ownerReferences": [_owner(obj)],
            },
            "type": "Opaque",
            "stringData": {key: yaml.safe_dump(document, sort_keys=False)},
        }

    async def _addresses(
        self, obj: Mapping[str, Any], meta: ObjectMeta, pools: Mapping[str, Any]
    ) -> tuple[dict[str, PoolAddress], str]:
        found: dict[str, PoolAddress] = {}
        missing: list[str] = []
        for pool_name, ref in pools.items():
            if (ref.kind, ref.api_group) != (IPPOOL_KIND, IPAM_GROUP):
                raise DataRenderingError(
                    field=f"pool {pool_name}",
                    detail=f"only {IPPOOL_KIND}.{IPAM_GROUP} pools are supported, "
                    f"not {ref.kind}.{ref.api_group}",
                )
            claim_name = f"{meta.name}-{pool_name}"
            claim = self._cache.get(IPCLAIMS, f"{meta.namespace}/{claim_name}")
            if claim is None:
                await self._kube.create(IPCLAIMS, self._ipclaim(obj, meta, claim_name, pool_name))
                missing.append(pool_name)
                continue
            status = claim.get("status") or {}
            address_name = (status.get("address") or {}).get("name")
            address = (
                self._cache.get(IPADDRESSES, f"{meta.namespace}/{address_name}") if address_name else None
            )
            if address is None:
                if status.get("errorMessage"):
                    return found, f"IPClaim {claim_name}: {status['errorMessage']}"
                missing.append(pool_name)
                continue
            found[pool_name] = _pool_address(address)
        waiting = f"waiting for addresses from IP pool(s) {', '.join(missing)}" if missing else ""
        return found, waiting

    def _ipclaim(self, obj: Mapping[str, Any], meta: ObjectMeta, name: str, pool: str) -> dict[str, Any]:
        labels = {DATA_NAME_LABEL: meta.name, POOL_NAME_LABEL: pool}
        if CLUSTER_LABEL in meta.labels:
            labels[CLUSTER_LABEL] = meta.labels[CLUSTER_LABEL]
        return {
            "metadata": {
                "name": name,
                "namespace": meta.namespace,
                "labels": labels,
                "ownerReferences": [_owner(obj)],
                "finalizers": [DATA_FINALIZER],
            },
            "spec": {"pool": {"name": pool, "namespace": meta.namespace, "kind": IPPOOL_KIND}},
        }

    async def _delete(self, obj: Mapping[str, Any], meta: ObjectMeta) -> Result:
        for claim in self._cache.list(IPCLAIMS, meta.namespace):
            if meta_of(claim).labels.get(DATA_NAME_LABEL) != meta.name:
                continue
            await self._kube.delete(IPCLAIMS, meta.namespace, claim["metadata"]["name"])
            await self._kube.set_finalizer(IPCLAIMS, claim, DATA_FINALIZER, present=False)
        spec = obj.get("spec") or {}
        for field in ("metaData", "networkData"):
            name = (spec.get(field) or {}).get("name")
            if not name:
                continue
            secret = await self._kube.get(SECRETS, meta.namespace, name)
            owners = ((secret or {}).get("metadata") or {}).get("ownerReferences") or []
            if any(o.get("uid") == meta.uid for o in owners):
                await self._kube.delete(SECRETS, meta.namespace, name)
        await self._kube.set_finalizer(DATAS, obj, DATA_FINALIZER, present=False)
        self._reported.pop(meta.key, None)
        return DONE
