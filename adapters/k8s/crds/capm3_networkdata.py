"""``Metal3DataTemplate.spec.networkData``: the OpenStack ``network_data.json`` a machine gets.

Links (ethernets, bonds, VLANs), networks (static from an IP pool, DHCP, SLAAC) and services
(DNS), with every value either literal or a reference resolved at render time (a pool, an
annotation, an inspected NIC). Literal addresses are pattern-checked per family. A static
network must say which pool its address comes from, as CAPM3's webhook requires. Bond
``parameters`` are any JSON: v1beta1 wrote a map, v1beta2 a list of ``{name, value}``.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.addresses import ip_address, ipv4_address, ipv6_address
from adapters.k8s.crds.capm3_metadata import OBJECT_KINDS
from adapters.k8s.crds.schema import Rule, Schema, any_json, array, enum, integer, obj, string

_MAX: Final = 512
_ID: Final = string(max_length=512)
_DNS_LABEL: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

_FROM_ANNOTATION: Final = obj(
    {"object": enum(*OBJECT_KINDS), "annotation": string(max_length=512)},
    required=("object", "annotation"),
)

_POOL_REF: Final = obj(
    {
        "name": string(max_length=253, pattern=_DNS_LABEL),
        "kind": string(max_length=63, pattern=r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$", default="IPPool"),
        "apiGroup": string(max_length=253, pattern=_DNS_LABEL, default="ipam.metal3.io"),
    },
    required=("name",),
)

_MAC: Final = obj(
    {
        "string": string(max_length=512),
        "fromHostInterface": string(
            max_length=512, description="A NIC name from the host's inspection data."
        ),
        "fromAnnotation": _FROM_ANNOTATION,
    },
    description="The link's MAC: literal, from an inspected NIC, or from an annotation.",
)

_MTU: Final = integer(minimum=1280, maximum=9000, default=1500, fmt="int32")
_LINK_NAME: Final = string(max_length=15, pattern=r"^[a-zA-Z][a-zA-Z0-9._-]*$")


def _links() -> Schema:
    ethernet = obj(
        {
            "type": enum("bridge", "dvs", "hw_veb", "hyperv", "ovs", "tap", "vhostuser", "vif", "phy"),
            "id": _ID,
            "name": _LINK_NAME,
            "mtu": _MTU,
            "macAddress": _MAC,
        },
        required=("type", "id", "macAddress"),
    )
    bond = obj(
        {
            "bondMode": enum(
                "balance-rr",
                "active-backup",
                "balance-xor",
                "broadcast",
                "balance-tlb",
                "balance-alb",
                "802.3ad",
            ),
            "bondXmitHashPolicy": enum("layer2", "layer3+4", "layer2+3"),
            "id": _ID,
            "name": _LINK_NAME,
            "mtu": _MTU,
            "macAddress": _MAC,
            "parameters": any_json(
                description="Bond options: a map (v1beta1) or a list of {name, value} (v1beta2)."
            ),
            "bondLinks": array(string(max_length=512), max_items=_MAX),
        },
        required=("bondMode", "id", "macAddress"),
    )
    vlan = obj(
        {
            "vlanID": integer(minimum=0, maximum=4096, fmt="int32"),
            "id": _ID,
            "name": _LINK_NAME,
            "mtu": _MTU,
            "macAddress": _MAC,
            "vlanLink": string(max_length=512),
        },
        required=("vlanID", "id", "macAddress", "vlanLink"),
    )
    return obj(
        {
            "ethernets": array(ethernet, max_items=32),
            "bonds": array(bond, max_items=_MAX),
            "vlans": array(vlan, max_items=_MAX),
        }
    )


def _routes(*, v6: bool) -> Schema:
    address = ipv6_address() if v6 else ipv4_address()
    route = obj(
        {
            "network": address,
            "prefix": integer(minimum=0, maximum=128 if v6 else 32, fmt="int32"),
            "gateway": obj(
                {
                    "string": address,
                    "fromIPPool": string(max_length=512),
                    "fromPoolRef": _POOL_REF,
                    "fromPoolAnnotation": _FROM_ANNOTATION,
                }
            ),
            "services": obj({"dns": array(address, max_items=_MAX), "dnsFromIPPool": string(max_length=512)}),
        },
        required=("network", "gateway"),
    )
    return array(route, max_items=_MAX)


def _static(*, v6: bool) -> Schema:
    family = "ipv6" if v6 else "ipv4"
    network = obj(
        {
            "id": _ID,
            "link": string(max_length=512),
            "ipAddressFromIPPool": string(max_length=512, description="Deprecated: use fromPoolRef."),
            "fromPoolRef": _POOL_REF,
            "fromPoolAnnotation": _FROM_ANNOTATION,
            "routes": _routes(v6=v6),
        },
        required=("id", "link"),
        rules=(
            Rule(
                "(has(self.fromPoolRef) && self.fromPoolRef.name != '')"
                " || (has(self.ipAddressFromIPPool) && self.ipAddressFromIPPool != '')"
                " || (has(self.fromPoolAnnotation) && self.fromPoolAnnotation.object != '')",
                f"an {family} network needs fromPoolRef (or ipAddressFromIPPool or fromPoolAnnotation)",
                field_path=".fromPoolRef",
                reason="FieldValueRequired",
            ),
        ),
    )
    return array(network, max_items=_MAX)


def _dynamic(*, v6: bool) -> Schema:
    network = obj(
        {"id": _ID, "link": string(max_length=512), "routes": _routes(v6=v6)}, required=("id", "link")
    )
    return array(network, max_items=_MAX)


def network_data() -> Schema:
    """``NetworkData``: links, networks and services of the rendered ``network_data.json``."""
    return obj(
        {
            "links": _links(),
            "networks": obj(
                {
                    "ipv4": _static(v6=False),
                    "ipv6": _static(v6=True),
                    "ipv4DHCP": _dynamic(v6=False),
                    "ipv6DHCP": _dynamic(v6=True),
                    "ipv6SLAAC": _dynamic(v6=True),
                }
            ),
            "services": obj(
                {"dns": array(ip_address(), max_items=_MAX), "dnsFromIPPool": string(max_length=512)}
            ),
        },
        description="The network configuration rendered for each machine.",
    )
