"""Checks a Metal3DataTemplate spec must pass before it is recorded.

CAPM3 makes these checks in its admission webhook and in the CRD schema; here nothing sits in
front of the aggregate, so it makes them itself. Only what can be known from the template alone
is checked. Whether a NIC, an annotation or a pool address exists depends on the machine and is
found out when rendering (``data_rendering``).
"""

from __future__ import annotations

from collections.abc import Iterator

from core.aggregates.data_inputs import TemplateInvalid
from core.aggregates.data_network import MAC_PATTERN
from core.events.data_template_values import (
    BondLink,
    DataTemplateSpec,
    EthernetLink,
    MacAddress,
    MetaData,
    Networks,
    Route,
    VlanLink,
)

MTU_RANGE = (1280, 9000)
VLAN_RANGE = (0, 4096)
_STRUCTURED_BOND_FIELDS = frozenset({"mode", "links", "xmit_hash_policy"})

Problem = tuple[str, str]
"""(field path, what is wrong and how to fix it)."""


def validate_template(spec: DataTemplateSpec) -> None:
    """Raise ``TemplateInvalid`` for the first problem found, naming its field."""
    for field, detail in problems(spec):
        raise TemplateInvalid(field=field, detail=detail)


def problems(spec: DataTemplateSpec) -> Iterator[Problem]:
    """Every problem of ``spec``, in field order."""
    if spec.meta_data is not None:
        yield from _meta_data(spec.meta_data)
    network = spec.network_data
    if network is not None and network.links is not None:
        links = network.links
        for i, bond in enumerate(links.bonds):
            yield from _link(bond, f"spec.networkData.links.bonds[{i}]")
        for i, ethernet in enumerate(links.ethernets):
            yield from _link(ethernet, f"spec.networkData.links.ethernets[{i}]")
        for i, vlan in enumerate(links.vlans):
            yield from _link(vlan, f"spec.networkData.links.vlans[{i}]")
    if network is not None and network.networks is not None:
        yield from _networks(network.networks)


def _meta_data(meta: MetaData) -> Iterator[Problem]:
    for i, entry in enumerate(meta.from_host_interfaces):
        field = f"spec.metaData.fromHostInterfaces[{i}]"
        if entry.from_boot_mac and entry.interface:
            yield f"{field}.interface", "must be empty when fromBootMAC is true"
        if not entry.from_boot_mac and not entry.interface:
            yield f"{field}.interface", "name the host interface, or set fromBootMAC: true"
    for i, index in enumerate(meta.indexes):
        if index.step < 1:
            yield f"spec.metaData.indexes[{i}].step", f"must be at least 1, got {index.step}"
        if index.offset < 0:
            yield f"spec.metaData.indexes[{i}].offset", f"must not be negative, got {index.offset}"


def _mac(mac: MacAddress | None, field: str) -> Iterator[Problem]:
    if mac is None:
        return
    if mac.string and not MAC_PATTERN.fullmatch(mac.string):
        yield f"{field}.macAddress.string", f"bad MAC address {mac.string!r}: expected aa:bb:cc:dd:ee:ff"
    if not (mac.string or mac.from_host_interface or mac.from_annotation is not None):
        yield f"{field}.macAddress", "set one of string, fromHostInterface or fromAnnotation"


def _link(link: BondLink | EthernetLink | VlanLink, field: str) -> Iterator[Problem]:
    low, high = MTU_RANGE
    if not low <= link.mtu <= high:
        yield f"{field}.mtu", f"must be between {low} and {high}, got {link.mtu}"
    yield from _mac(link.mac_address, field)
    if isinstance(link, VlanLink) and not VLAN_RANGE[0] <= link.vlan_id <= VLAN_RANGE[1]:
        yield f"{field}.vlanID", f"must be between {VLAN_RANGE[0]} and {VLAN_RANGE[1]}, got {link.vlan_id}"
    if isinstance(link, BondLink):
        clashing = sorted(p.name for p in link.parameters if p.name in _STRUCTURED_BOND_FIELDS)
        if clashing:
            yield (
                f"{field}.parameters",
                f"{', '.join(clashing)} would replace structured fields; "
                "use bondMode, bondLinks and bondXmitHashPolicy instead",
            )


def _routes(routes: tuple[Route, ...], field: str, *, bits: int) -> Iterator[Problem]:
    for i, route in enumerate(routes):
        if route.prefix is not None and not 0 <= route.prefix <= bits:
            yield f"{field}.routes[{i}].prefix", f"must be between 0 and {bits}, got {route.prefix}"


def _networks(networks: Networks) -> Iterator[Problem]:
    for family, statics, bits in (("ipv4", networks.ipv4, 32), ("ipv6", networks.ipv6, 128)):
        for i, static in enumerate(statics):
            field = f"spec.networkData.networks.{family}[{i}]"
            has_ref = static.from_pool_ref is not None and static.from_pool_ref.name
            if not (has_ref or static.ip_address_from_ip_pool or static.from_pool_annotation is not None):
                yield (
                    f"{field}.ipAddressFromIPPool",
                    "a static network needs an IP pool: set ipAddressFromIPPool, fromPoolRef or "
                    "fromPoolAnnotation",
                )
            yield from _routes(static.routes, field, bits=bits)
    dynamic = (
        ("ipv4DHCP", networks.ipv4_dhcp, 32),
        ("ipv6DHCP", networks.ipv6_dhcp, 128),
        ("ipv6SLAAC", networks.ipv6_slaac, 128),
    )
    for name, entries, bits in dynamic:
        for i, entry in enumerate(entries):
            yield from _routes(entry.routes, f"spec.networkData.networks.{name}[{i}]", bits=bits)
