"""Metal3DataTemplate spec values: how a machine's metaData and networkData are to be rendered.

Shaped like CAPM3's ``infrastructure.cluster.x-k8s.io/v1beta2`` types, JSON names included, so the
spec read from Kubernetes decodes straight into these structs and an event that records a spec
reads the same as ``kubectl get m3dt -o yaml``. Many CAPM3 names are not plain camelCase
(``ipv4DHCP``, ``vlanID``, ``fromIPPool``, ``fromBootMAC``); those fields name themselves.

The values are structured references ("the address allocated from pool X", "the MAC of NIC
eth0"), not a text templating language: rendering resolves them against one machine's facts
(``core.aggregates.data_rendering``). Defaults are the CRD's defaults (``mtu: 1500``, ``step: 1``,
pool kind ``IPPool`` in ``ipam.metal3.io``), so a spec that left them out renders like CAPM3's.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

ObjectKind = Literal["machine", "metal3machine", "baremetalhost"]
"""Which object a label, annotation or name is read from: the CAPI Machine, the Metal3Machine or the host."""

EthernetType = Literal["bridge", "dvs", "hw_veb", "hyperv", "ovs", "tap", "vhostuser", "vif", "phy"]
BondMode = Literal[
    "balance-rr", "active-backup", "balance-xor", "broadcast", "balance-tlb", "balance-alb", "802.3ad"
]
BondXmitHashPolicy = Literal["", "layer2", "layer3+4", "layer2+3"]

IPAM_GROUP = "ipam.metal3.io"
IPPOOL_KIND = "IPPool"
DEFAULT_MTU = 1500


class _Value(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """Base of the template values: immutable, CAPM3's JSON names, defaults left out."""


# --- metaData ---------------------------------------------------------------------------------------


class MetaDataString(_Value, frozen=True, kw_only=True):
    key: str
    value: str


class MetaDataObjectName(_Value, frozen=True, kw_only=True):
    key: str
    object: ObjectKind


class MetaDataIndex(_Value, frozen=True, kw_only=True):
    """Renders ``prefix + (offset + index * step) + suffix``."""

    key: str
    offset: int = 0
    step: int = 1
    prefix: str = ""
    suffix: str = ""


class MetaDataNamespace(_Value, frozen=True, kw_only=True):
    key: str


class FromPool(_Value, frozen=True, kw_only=True):
    """A metadata value taken from the address allocated to the machine from pool ``name``."""

    key: str
    name: str
    api_group: str = IPAM_GROUP
    kind: str = IPPOOL_KIND


class MetaDataHostInterface(_Value, frozen=True, kw_only=True):
    """The MAC of host NIC ``interface`` (from inspection), or of the boot NIC with ``fromBootMAC``."""

    key: str
    interface: str = ""
    from_boot_mac: bool = msgspec.field(default=False, name="fromBootMAC")


class MetaDataFromLabel(_Value, frozen=True, kw_only=True):
    key: str
    object: ObjectKind
    label: str


class MetaDataFromAnnotation(_Value, frozen=True, kw_only=True):
    key: str
    object: ObjectKind
    annotation: str


class MetaData(_Value, frozen=True, kw_only=True):
    """``spec.metaData``: every source of a flat string-to-string metadata map."""

    strings: tuple[MetaDataString, ...] = ()
    object_names: tuple[MetaDataObjectName, ...] = ()
    indexes: tuple[MetaDataIndex, ...] = ()
    namespaces: tuple[MetaDataNamespace, ...] = ()
    ip_addresses_from_pool: tuple[FromPool, ...] = ()
    prefixes_from_pool: tuple[FromPool, ...] = ()
    gateways_from_pool: tuple[FromPool, ...] = ()
    dns_servers_from_pool: tuple[FromPool, ...] = ()
    from_host_interfaces: tuple[MetaDataHostInterface, ...] = ()
    from_labels: tuple[MetaDataFromLabel, ...] = ()
    from_annotations: tuple[MetaDataFromAnnotation, ...] = ()


# --- networkData: references shared by links and networks ---------------------------------------------


class FromAnnotation(_Value, frozen=True, kw_only=True):
    """A value (a MAC, a pool name) read from an annotation of one of the machine's objects."""

    object: ObjectKind
    annotation: str


class IPPoolReference(_Value, frozen=True, kw_only=True):
    name: str
    kind: str = IPPOOL_KIND
    api_group: str = IPAM_GROUP


class MacAddress(_Value, frozen=True, kw_only=True):
    """A link's MAC: given literally, from a host NIC by name, or from an annotation (first set wins)."""

    string: str = ""
    from_host_interface: str = ""
    from_annotation: FromAnnotation | None = None


# --- networkData: links -------------------------------------------------------------------------------


class EthernetLink(_Value, frozen=True, kw_only=True):
    type: EthernetType
    id: str
    name: str = ""
    mtu: int = DEFAULT_MTU
    mac_address: MacAddress | None = None


class BondParameter(_Value, frozen=True, kw_only=True):
    """One extra bond setting, rendered as ``bond_<name>`` with its JSON value untouched."""

    name: str
    value: Any = None


class BondLink(_Value, frozen=True, kw_only=True):
    bond_mode: BondMode
    bond_xmit_hash_policy: BondXmitHashPolicy = ""
    id: str
    name: str = ""
    mtu: int = DEFAULT_MTU
    mac_address: MacAddress | None = None
    parameters: tuple[BondParameter, ...] = ()
    bond_links: tuple[str, ...] | None = None
    """None (left out) renders as null, as CAPM3 does; an empty list renders as []."""


class VlanLink(_Value, frozen=True, kw_only=True):
    vlan_id: int = msgspec.field(name="vlanID")
    id: str
    name: str = ""
    mtu: int = DEFAULT_MTU
    mac_address: MacAddress | None = None
    vlan_link: str


class Links(_Value, frozen=True, kw_only=True):
    ethernets: tuple[EthernetLink, ...] = ()
    bonds: tuple[BondLink, ...] = ()
    vlans: tuple[VlanLink, ...] = ()


# --- networkData: networks and services ------------------------------------------------------------------


class Gateway(_Value, frozen=True, kw_only=True):
    """A route's gateway: a literal, or the gateway of the address allocated from a pool.

    Precedence as in CAPM3: ``string``, then ``fromPoolAnnotation``, then ``fromPoolRef``, then
    ``fromIPPool``; none of them renders an empty gateway.
    """

    string: str | None = None
    from_ip_pool: str = msgspec.field(default="", name="fromIPPool")
    from_pool_ref: IPPoolReference | None = None
    from_pool_annotation: FromAnnotation | None = None


class RouteServices(_Value, frozen=True, kw_only=True):
    dns: tuple[str, ...] = ()
    dns_from_ip_pool: str = msgspec.field(default="", name="dnsFromIPPool")


class Route(_Value, frozen=True, kw_only=True):
    network: str
    prefix: int | None = None
    """None renders as prefix 0 (netmask ``0.0.0.0`` or ``::``)."""
    gateway: Gateway = Gateway()
    services: RouteServices | None = None


class StaticNetwork(_Value, frozen=True, kw_only=True):
    """An ``ipv4`` or ``ipv6`` network whose address comes from a pool.

    Pool precedence as in CAPM3: ``fromPoolAnnotation``, then ``fromPoolRef``, then
    ``ipAddressFromIPPool``.
    """

    id: str
    link: str
    ip_address_from_ip_pool: str = msgspec.field(default="", name="ipAddressFromIPPool")
    from_pool_ref: IPPoolReference | None = None
    from_pool_annotation: FromAnnotation | None = None
    routes: tuple[Route, ...] = ()


class DhcpNetwork(_Value, frozen=True, kw_only=True):
    """An ``ipv4DHCP``, ``ipv6DHCP`` or ``ipv6SLAAC`` network: no address, optional static routes."""

    id: str
    link: str
    routes: tuple[Route, ...] = ()


class Networks(_Value, frozen=True, kw_only=True):
    ipv4: tuple[StaticNetwork, ...] = ()
    ipv6: tuple[StaticNetwork, ...] = ()
    ipv4_dhcp: tuple[DhcpNetwork, ...] = msgspec.field(default=(), name="ipv4DHCP")
    ipv6_dhcp: tuple[DhcpNetwork, ...] = msgspec.field(default=(), name="ipv6DHCP")
    ipv6_slaac: tuple[DhcpNetwork, ...] = msgspec.field(default=(), name="ipv6SLAAC")


class Services(_Value, frozen=True, kw_only=True):
    dns: tuple[str, ...] = ()
    dns_from_ip_pool: str = msgspec.field(default="", name="dnsFromIPPool")


class NetworkData(_Value, frozen=True, kw_only=True):
    """``spec.networkData``: rendered into OpenStack's network_data.json (links, networks, services)."""

    links: Links | None = None
    networks: Networks | None = None
    services: Services | None = None


class DataTemplateSpec(_Value, frozen=True, kw_only=True):
    """``Metal3DataTemplate.spec``. metaData and networkData are immutable once the template exists."""

    cluster_name: str = ""
    """Deprecated in CAPM3 and unused; kept so a spec round-trips."""
    meta_data: MetaData | None = None
    network_data: NetworkData | None = None
