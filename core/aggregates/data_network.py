"""Rendering a template's ``networkData`` into OpenStack's network_data.json shape.

The result is ``{"links": [...], "networks": [...], "services": [...]}`` with the keys and
orderings CAPM3 writes, because cloud-init (and Ignition's OpenStack provider) on the host reads
it, and a template moved from CAPM3 must configure the same interfaces:

- links: bonds first, then ethernets, then VLANs; MACs must look like ``aa:bb:cc:dd:ee:ff``
  (or with ``-``); a bond parameter ``p`` becomes ``bond_p`` and may not replace a structured
  field (``mode``, ``links``, ``xmit_hash_policy``);
- networks: static ``ipv4``, static ``ipv6``, ``ipv4_dhcp``, ``ipv6_dhcp``, ``ipv6_slaac``, each
  with its routes; netmasks are written out (``255.255.255.0``, ``ffff:ffff:ffff:ffff::``), an
  address without a prefix renders an empty netmask and a route without one renders prefix 0;
- services: literal DNS servers, then the pool's.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Final

from core.aggregates.data_inputs import PoolAddress, RenderingInput, RenderingInputMissing, TemplateInvalid
from core.events.data_template_values import (
    FromAnnotation,
    Gateway,
    Links,
    MacAddress,
    NetworkData,
    Networks,
    Route,
    RouteServices,
    Services,
    StaticNetwork,
)

_BASE = "spec.networkData"
MAC_PATTERN: Final = re.compile(r"([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}")


def render_network_data(network_data: NetworkData, inputs: RenderingInput) -> dict[str, list[Any]]:
    """The network_data.json document for one machine; raises ``DataRenderingError`` naming the field."""
    return {
        "links": _links(network_data.links, inputs) if network_data.links is not None else [],
        "networks": _networks(network_data.networks, inputs) if network_data.networks is not None else [],
        "services": _services(network_data.services, inputs) if network_data.services is not None else [],
    }


def netmask(prefix: int | None, *, ipv4: bool, field: str) -> str:
    """A prefix length written as a mask; None gives an empty string, as CAPM3 renders it."""
    if prefix is None:
        return ""
    bits = 32 if ipv4 else 128
    if not 0 <= prefix <= bits:
        family = "IPv4" if ipv4 else "IPv6"
        detail = f"prefix {prefix} is not a valid {family} prefix (0-{bits})"
        raise TemplateInvalid(field=field, detail=detail)
    if ipv4:
        return str(ipaddress.IPv4Network((0, prefix)).netmask)
    return str(ipaddress.IPv6Network((0, prefix)).netmask)


# --- links --------------------------------------------------------------------------------------------


def _mac(mac: MacAddress, inputs: RenderingInput, field: str) -> str:
    if mac.string:
        value, source = mac.string, f"{field}.string"
    elif mac.from_host_interface:
        source = f"{field}.fromHostInterface"
        value = inputs.nic_mac(mac.from_host_interface, field=source)
    elif mac.from_annotation is not None:
        source = f"{field}.fromAnnotation"
        value = inputs.annotation(mac.from_annotation.object, mac.from_annotation.annotation)
        if not value:
            raise RenderingInputMissing(field=source, detail=_no_annotation(mac.from_annotation, "a MAC"))
    else:
        value, source = "", field
    if not MAC_PATTERN.fullmatch(value):
        raise TemplateInvalid(field=source, detail=f"bad MAC address {value!r}: expected aa:bb:cc:dd:ee:ff")
    return value


def _no_annotation(ref: FromAnnotation, what: str) -> str:
    return f"annotation {ref.annotation!r} on the {ref.object} is missing or empty; it must hold {what}"


def _links(links: Links, inputs: RenderingInput) -> list[Any]:
    data: list[Any] = []
    for i, bond in enumerate(links.bonds):
        field = f"{_BASE}.links.bonds[{i}]"
        entry: dict[str, Any] = {
            "type": "bond",
            "id": bond.id,
            "mtu": bond.mtu,
            "bond_mode": bond.bond_mode,
            "bond_xmit_hash_policy": bond.bond_xmit_hash_policy,
            "bond_links": None if bond.bond_links is None else list(bond.bond_links),
        }
        if bond.name:
            entry["name"] = bond.name
        if bond.mac_address is not None:
            entry["ethernet_mac_address"] = _mac(bond.mac_address, inputs, f"{field}.macAddress")
        illegal = [p.name for p in bond.parameters if f"bond_{p.name}" in entry]
        if illegal:
            names = ", ".join(repr(name) for name in illegal)
            raise TemplateInvalid(
                field=f"{field}.parameters",
                detail=f"parameters {names} would replace structured bond fields of link {bond.id!r}; "
                "use bondMode, bondLinks and bondXmitHashPolicy instead",
            )
        for parameter in bond.parameters:
            entry[f"bond_{parameter.name}"] = parameter.value
        data.append(entry)
    for i, ethernet in enumerate(links.ethernets):
        entry = {"type": ethernet.type, "id": ethernet.id, "mtu": ethernet.mtu}
        if ethernet.name:
            entry["name"] = ethernet.name
        if ethernet.mac_address is not None:
            field = f"{_BASE}.links.ethernets[{i}].macAddress"
            entry["ethernet_mac_address"] = _mac(ethernet.mac_address, inputs, field)
        data.append(entry)
    for i, vlan in enumerate(links.vlans):
        entry = {
            "type": "vlan",
            "id": vlan.id,
            "mtu": vlan.mtu,
            "vlan_link": vlan.vlan_link,
            "vlan_id": vlan.vlan_id,
        }
        if vlan.name:
            entry["name"] = vlan.name
        if vlan.mac_address is not None:
            field = f"{_BASE}.links.vlans[{i}].macAddress"
            entry["vlan_mac_address"] = _mac(vlan.mac_address, inputs, field)
        data.append(entry)
    return data


# --- networks -----------------------------------------------------------------------------------------


def _pool_of(network: StaticNetwork, inputs: RenderingInput, field: str) -> PoolAddress:
    if network.from_pool_annotation is not None:
        ref = network.from_pool_annotation
        name = inputs.annotation(ref.object, ref.annotation)
        if not name:
            raise RenderingInputMissing(
                field=f"{field}.fromPoolAnnotation", detail=_no_annotation(ref, "the IP pool name")
            )
        return inputs.pool(name, field=f"{field}.fromPoolAnnotation")
    if network.from_pool_ref is not None and network.from_pool_ref.name:
        return inputs.pool(network.from_pool_ref.name, field=f"{field}.fromPoolRef.name")
    if network.ip_address_from_ip_pool:
        return inputs.pool(network.ip_address_from_ip_pool, field=f"{field}.ipAddressFromIPPool")
    raise TemplateInvalid(
        field=f"{field}.ipAddressFromIPPool",
        detail="a static network needs an IP pool: "
        "set ipAddressFromIPPool, fromPoolRef or fromPoolAnnotation",
    )


def _gateway(gateway: Gateway, inputs: RenderingInput, field: str) -> str:
    if gateway.string is not None:
        return gateway.string
    if gateway.from_pool_annotation is not None:
        ref = gateway.from_pool_annotation
        name = inputs.annotation(ref.object, ref.annotation)
        if not name:
            raise RenderingInputMissing(
                field=f"{field}.fromPoolAnnotation", detail=_no_annotation(ref, "the IP pool name")
            )
        return inputs.pool(name, field=f"{field}.fromPoolAnnotation").gateway
    if gateway.from_pool_ref is not None and gateway.from_pool_ref.name:
        return inputs.pool(gateway.from_pool_ref.name, field=f"{field}.fromPoolRef.name").gateway
    if gateway.from_ip_pool:
        return inputs.pool(gateway.from_ip_pool, field=f"{field}.fromIPPool").gateway
    return ""


def _dns(services: RouteServices | Services, inputs: RenderingInput, field: str) -> list[Any]:
    servers = list(services.dns)
    if services.dns_from_ip_pool:
        servers += inputs.pool(services.dns_from_ip_pool, field=f"{field}.dnsFromIPPool").dns_servers
    return [{"type": "dns", "address": server} for server in servers]


def _routes(routes: tuple[Route, ...], inputs: RenderingInput, field: str, *, ipv4: bool) -> list[Any]:
    rendered: list[Any] = []
    for i, route in enumerate(routes):
        here = f"{field}.routes[{i}]"
        services = [] if route.services is None else _dns(route.services, inputs, f"{here}.services")
        rendered.append(
            {
                "network": route.network,
                "netmask": netmask(route.prefix or 0, ipv4=ipv4, field=f"{here}.prefix"),
                "gateway": _gateway(route.gateway, inputs, f"{here}.gateway"),
                "services": services,
            }
        )
    return rendered


def _networks(networks: Networks, inputs: RenderingInput) -> list[Any]:
    data: list[Any] = []
    for family, statics in (("ipv4", networks.ipv4), ("ipv6", networks.ipv6)):
        ipv4 = family == "ipv4"
        for i, network in enumerate(statics):
            field = f"{_BASE}.networks.{family}[{i}]"
            pool = _pool_of(network, inputs, field)
            mask = netmask(pool.prefix, ipv4=ipv4, field=f"{field} (prefix of the pool's address)")
            data.append(
                {
                    "type": family,
                    "id": network.id,
                    "link": network.link,
                    "netmask": mask,
                    "ip_address": pool.address,
                    "routes": _routes(network.routes, inputs, field, ipv4=ipv4),
                }
            )
    dynamic = (
        ("ipv4_dhcp", "ipv4DHCP", networks.ipv4_dhcp, True),
        ("ipv6_dhcp", "ipv6DHCP", networks.ipv6_dhcp, False),
        ("ipv6_slaac", "ipv6SLAAC", networks.ipv6_slaac, False),
    )
    for kind, name, entries, ipv4 in dynamic:
        for i, dhcp in enumerate(entries):
            field = f"{_BASE}.networks.{name}[{i}]"
            data.append(
                {
                    "type": kind,
                    "id": dhcp.id,
                    "link": dhcp.link,
                    "routes": _routes(dhcp.routes, inputs, field, ipv4=ipv4),
                }
            )
    return data


def _services(services: Services, inputs: RenderingInput) -> list[Any]:
    return _dns(services, inputs, f"{_BASE}.services")
