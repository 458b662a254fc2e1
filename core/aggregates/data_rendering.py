"""Metal3DataTemplate rendering: the pools a machine must claim first, then its two secrets.

The Metal3Data process manager calls, in order:

1. ``referenced_pools(spec, objects)``: every IP pool the template refers to for this machine
   (pool names may come from annotations, so they depend on the machine). It claims one address
   from each and waits for the allocations.
2. ``render(spec, inputs)``: the metaData map and the networkData document, written once into
   ``<metal3machine>-metadata`` and ``<metal3machine>-networkdata`` and never rewritten, so a
   re-provisioned host gets exactly what it had.

Both are pure and follow CAPM3 (``baremetal/metal3data_manager.go``) field for field; the
``data_metadata`` and ``data_network`` modules document the ordering rules;
``data_template_validation`` holds the checks CAPM3 makes in its admission webhook.
"""

from __future__ import annotations

from typing import Any

import msgspec

from core.aggregates.data_inputs import (
    DataRenderingError,
    MachineObjects,
    ObjectFacts,
    PoolAddress,
    RenderingInput,
    RenderingInputMissing,
    TemplateInvalid,
    nics_by_name,
)
from core.aggregates.data_metadata import render_meta_data
from core.aggregates.data_network import render_network_data
from core.events.data_template_values import (
    IPAM_GROUP,
    IPPOOL_KIND,
    DataTemplateSpec,
    FromAnnotation,
    Gateway,
    IPPoolReference,
    Route,
)

META_DATA_SECRET_SUFFIX = "-metadata"  # noqa: S105 - a Secret's name, not a password
NETWORK_DATA_SECRET_SUFFIX = "-networkdata"  # noqa: S105 - a Secret's name, not a password


class RenderedData(msgspec.Struct, frozen=True, kw_only=True):
    """The two documents of one machine; None where the template has no such section (no secret)."""

    meta_data: dict[str, str] | None
    network_data: dict[str, list[Any]] | None


def render(spec: DataTemplateSpec, inputs: RenderingInput) -> RenderedData:
    """Render both sections for one machine, or raise ``DataRenderingError`` naming the field."""
    return RenderedData(
        meta_data=None if spec.meta_data is None else render_meta_data(spec.meta_data, inputs),
        network_data=None if spec.network_data is None else render_network_data(spec.network_data, inputs),
    )


def secret_names(spec: DataTemplateSpec, metal3machine: str) -> tuple[str | None, str | None]:
    """The metaData and networkData Secret names CAPM3 uses, None for a section the template lacks."""
    meta = None if spec.meta_data is None else metal3machine + META_DATA_SECRET_SUFFIX
    network = None if spec.network_data is None else metal3machine + NETWORK_DATA_SECRET_SUFFIX
    return meta, network


# --- pools ------------------------------------------------------------------------------------------------


class _Pools:
    """Pool references by name; one name may not mean two kinds of pool."""

    def __init__(self, objects: MachineObjects) -> None:
        self.refs: dict[str, IPPoolReference] = {}
        self._objects = objects

    def add(self, ref: IPPoolReference, field: str) -> None:
        kind, group = ref.kind or IPPOOL_KIND, ref.api_group or IPAM_GROUP
        ref = IPPoolReference(name=ref.name, kind=kind, api_group=group)
        known = self.refs.setdefault(ref.name, ref)
        if (known.kind, known.api_group) != (ref.kind, ref.api_group):
            raise TemplateInvalid(
                field=field,
                detail=f"IP pool {ref.name!r} is referred to as both {known.kind}.{known.api_group} "
                f"and {ref.kind}.{ref.api_group}; pool names must be unique across kinds",
            )

    def name(self, name: str, field: str) -> None:
        if name:
            self.add(IPPoolReference(name=name), field)

    def annotation(self, ref: FromAnnotation | None, field: str) -> None:
        if ref is None:
            return
        name = self._objects.of(ref.object).annotations.get(ref.annotation, "")
        if not name:
            raise RenderingInputMissing(
                field=field,
                detail=f"annotation {ref.annotation!r} on the {ref.object} is missing or empty; "
                "it must hold the IP pool name",
            )
        self.add(IPPoolReference(name=name), field)

    def gateway(self, gateway: Gateway, field: str) -> None:
        self.annotation(gateway.from_pool_annotation, f"{field}.fromPoolAnnotation")
        if gateway.from_pool_ref is not None and gateway.from_pool_ref.name:
            self.add(gateway.from_pool_ref, f"{field}.fromPoolRef")
        else:
            self.name(gateway.from_ip_pool, f"{field}.fromIPPool")

    def routes(self, routes: tuple[Route, ...], field: str) -> None:
        for i, route in enumerate(routes):
            here = f"{field}.routes[{i}]"
            self.gateway(route.gateway, f"{here}.gateway")
            if route.services is not None:
                self.name(route.services.dns_from_ip_pool, f"{here}.services.dnsFromIPPool")


def referenced_pools(spec: DataTemplateSpec, objects: MachineObjects) -> dict[str, IPPoolReference]:
    """Every IP pool the template needs an address from for this machine, by pool name.

    Annotation-based references are resolved against ``objects``; a missing annotation raises
    ``RenderingInputMissing``. Metadata pool entries always mean Metal3 ``IPPool``s, as in CAPM3.
    """
    pools = _Pools(objects)
    meta = spec.meta_data
    if meta is not None:
        sources = (
            ("ipAddressesFromPool", meta.ip_addresses_from_pool),
            ("prefixesFromPool", meta.prefixes_from_pool),
            ("gatewaysFromPool", meta.gateways_from_pool),
            ("dnsServersFromPool", meta.dns_servers_from_pool),
        )
        for name, entries in sources:
            for i, entry in enumerate(entries):
                pools.add(IPPoolReference(name=entry.name), f"spec.metaData.{name}[{i}].name")
    network = spec.network_data
    if network is not None and network.networks is not None:
        networks = network.networks
        for family, statics in (("ipv4", networks.ipv4), ("ipv6", networks.ipv6)):
            for i, static in enumerate(statics):
                field = f"spec.networkData.networks.{family}[{i}]"
                pools.annotation(static.from_pool_annotation, f"{field}.fromPoolAnnotation")
                if static.from_pool_ref is not None and static.from_pool_ref.name:
                    pools.add(static.from_pool_ref, f"{field}.fromPoolRef")
                else:
                    pools.name(static.ip_address_from_ip_pool, f"{field}.ipAddressFromIPPool")
                pools.routes(static.routes, field)
        dynamic = (
            ("ipv4DHCP", networks.ipv4_dhcp),
            ("ipv6DHCP", networks.ipv6_dhcp),
            ("ipv6SLAAC", networks.ipv6_slaac),
        )
        for name, dhcps in dynamic:
            for i, dhcp in enumerate(dhcps):
                pools.routes(dhcp.routes, f"spec.networkData.networks.{name}[{i}]")
    if network is not None and network.services is not None:
        pools.name(network.services.dns_from_ip_pool, "spec.networkData.services.dnsFromIPPool")
    return pools.refs


__all__ = [
    "DataRenderingError",
    "MachineObjects",
    "ObjectFacts",
    "PoolAddress",
    "RenderedData",
    "RenderingInput",
    "RenderingInputMissing",
    "TemplateInvalid",
    "nics_by_name",
    "referenced_pools",
    "render",
    "secret_names",
]
