"""The IP address manager's kinds, group ``ipam.metal3.io``, version ``v1alpha1``.

An IPPool hands out addresses from its ``pools`` ranges; an IPClaim asks for one; the IPAddress
(named ``<namePrefix>-<address with dashes>``) records the lease, so a second lease of the same
address collides on the name. Addresses, gateways, DNS servers and subnets are pattern-checked
strings (see ``addresses``). As CEL rules: a pool range needs a start, an end or a subnet;
``namePrefix`` and ``allocationStrategy`` cannot change (they name and order every lease); a
claim's pool and an address's pool, claim and address cannot change.

Left to the adapter: addresses inside their range or subnet, start not after end, duplicate
pre-allocations, ranges that ``random`` allocation cannot size, and the ``ipAddress``
annotation of a claim (annotations are invisible to CEL).
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.addresses import ip_address, ip_subnet
from adapters.k8s.crds.common import OBJECT_REF
from adapters.k8s.crds.declaring import AGE, CLUSTER_LABEL, CrdDeclaration, ServedVersion
from adapters.k8s.crds.schema import Rule, array, enum, integer, map_of, obj, string, timestamp
from adapters.k8s.resources import Resource

GROUP: Final = "ipam.metal3.io"
_VERSION: Final = "v1alpha1"


def _unchanged(field: str, message: str) -> Rule:
    return Rule(f"self.{field} == oldSelf.{field}", message, field_path=f".{field}")


_PREFIX: Final = integer(minimum=0, maximum=128, description="The prefix length of the network.")

_RANGE: Final = obj(
    {
        "start": ip_address(description="The first address handed out."),
        "end": ip_address(description="The last address handed out."),
        "subnet": ip_subnet(description="The network, in CIDR notation; bounds the range."),
        "prefix": _PREFIX,
        "gateway": ip_address(),
        "dnsServers": array(ip_address()),
    },
    rules=(
        Rule(
            "has(self.start) || has(self.end) || has(self.subnet)",
            "a pool needs at least one of start, end or subnet",
            reason="FieldValueRequired",
        ),
    ),
)

IPPOOL: Final = CrdDeclaration(
    resource=Resource(group=GROUP, version=_VERSION, plural="ippools", kind="IPPool"),
    singular="ippool",
    short_names=(
        "ipp",
        "ippool",
        "m3ipp",
        "m3ippool",
        "m3ippools",
        "metal3ipp",
        "metal3ippool",
        "metal3ippools",
    ),
    categories=("cluster-api",),
    spec=obj(
        {
            "clusterName": string(description="The Cluster API cluster owning this pool."),
            "pools": array(_RANGE, description="Address ranges, used in order."),
            "allocationStrategy": enum("sequential", "random", default="sequential"),
            "preAllocations": map_of(
                ip_address(), description="Addresses reserved for claims, by claim name."
            ),
            "prefix": _PREFIX,
            "gateway": ip_address(),
            "dnsServers": array(ip_address()),
            "namePrefix": string(
                min_length=1, description="The IPAddress objects are named <namePrefix>-<ip>."
            ),
        },
        required=("namePrefix",),
        rules=(
            _unchanged("namePrefix", "namePrefix cannot be changed: it names every address of the pool"),
            _unchanged("allocationStrategy", "allocationStrategy cannot be changed after creation"),
        ),
    ),
    status=obj(
        {
            "lastUpdated": timestamp(),
            "indexes": map_of(ip_address(), description="Allocated addresses, by claim name."),
        }
    ),
    versions=(ServedVersion(_VERSION, storage=True, columns=(CLUSTER_LABEL, AGE)),),
    description="A pool of IP addresses that IPClaims lease from.",
)

_POOL_NAMED: Final = Rule(
    "has(self.pool.name) && self.pool.name != ''", "pool.name is required", field_path=".pool.name"
)
# ``namespace`` is a CEL reserved word: the API server exposes the field as ``__namespace__``.
_POOL_UNCHANGED: Final = Rule(
    "self.pool.name == oldSelf.pool.name"
    " && (has(self.pool.__namespace__) ? self.pool.__namespace__ : '')"
    " == (has(oldSelf.pool.__namespace__) ? oldSelf.pool.__namespace__ : '')"
    " && (has(self.pool.kind) ? self.pool.kind : '') == (has(oldSelf.pool.kind) ? oldSelf.pool.kind : '')",
    "pool cannot be changed",
    field_path=".pool",
)

IPCLAIM: Final = CrdDeclaration(
    resource=Resource(group=GROUP, version=_VERSION, plural="ipclaims", kind="IPClaim"),
    singular="ipclaim",
    short_names=(
        "ipc",
        "ipclaim",
        "m3ipc",
        "m3ipclaim",
        "m3ipclaims",
        "metal3ipc",
        "metal3ipclaim",
        "metal3ipclaims",
    ),
    categories=("cluster-api",),
    spec=obj({"pool": OBJECT_REF}, required=("pool",), rules=(_POOL_NAMED, _POOL_UNCHANGED)),
    status=obj({"address": OBJECT_REF, "errorMessage": string()}),
    versions=(ServedVersion(_VERSION, storage=True, columns=(AGE,)),),
    description="A request for one address from an IPPool.",
)

IPADDRESS: Final = CrdDeclaration(
    resource=Resource(group=GROUP, version=_VERSION, plural="ipaddresses", kind="IPAddress"),
    singular="ipaddress",
    short_names=(
        "ipa",
        "ipaddress",
        "m3ipa",
        "m3ipaddress",
        "m3ipaddresses",
        "metal3ipa",
        "metal3ipaddress",
        "metal3ipaddresses",
    ),
    categories=("metal3",),
    spec=obj(
        {
            "claim": OBJECT_REF,
            "pool": OBJECT_REF,
            "address": ip_address(),
            "prefix": _PREFIX,
            "gateway": ip_address(),
            "dnsServers": array(ip_address()),
        },
        required=("address", "pool", "claim"),
        rules=(
            _POOL_NAMED,
            Rule(
                "has(self.claim.name) && self.claim.name != ''",
                "claim.name is required",
                field_path=".claim.name",
            ),
            _unchanged("address", "address cannot be changed"),
            Rule("self.pool.name == oldSelf.pool.name", "pool cannot be changed", field_path=".pool"),
            Rule("self.claim.name == oldSelf.claim.name", "claim cannot be changed", field_path=".claim"),
        ),
    ),
    status=None,
    status_subresource=False,
    versions=(ServedVersion(_VERSION, storage=True, columns=(AGE,)),),
    description="One leased address: which pool it came from and which claim holds it.",
)

DECLARATIONS: Final[tuple[CrdDeclaration, ...]] = (IPPOOL, IPCLAIM, IPADDRESS)
