"""``Metal3DataTemplate.spec.metaData``: where each key of a machine's rendered metadata comes from.

Every entry is a structured reference (a fixed string, an object's name, the machine's index, a
label, an IP from a pool, a MAC from an inspected NIC), not template text, so it can be fully
typed. v1beta1 named the pool sources ``*FromIPPool`` (with explicit ``apiGroup``/``kind``),
v1beta2 ``*FromPool`` (defaulting to IPAM's IPPool); both are declared (see ``capm3_versioning``).
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.schema import Rule, Schema, array, boolean, enum, integer, obj, string

MAX_ENTRIES: Final = 512
OBJECT_KINDS: Final = ("machine", "metal3machine", "baremetalhost")
"""The objects a metadata or network value may be read from."""

_KEY: Final = string(max_length=512, description="The key in the rendered metadata.")


def _entries(item: Schema) -> Schema:
    return array(item, max_items=MAX_ENTRIES)


def _from_pool(*, v1beta1: bool) -> Schema:
    if v1beta1:
        return _entries(
            obj(
                {"key": _KEY, "name": string(), "apiGroup": string(), "kind": string()},
                required=("key", "name", "apiGroup", "kind"),
                description="v1beta1.",
            )
        )
    return _entries(
        obj(
            {
                "key": _KEY,
                "name": string(max_length=512, description="The pool's name."),
                "apiGroup": string(max_length=512, default="ipam.metal3.io"),
                "kind": string(max_length=512, default="IPPool"),
            },
            required=("key", "name"),
        )
    )


def _from_object(field: str) -> Schema:
    return _entries(
        obj(
            {"key": _KEY, "object": enum(*OBJECT_KINDS), field: string(max_length=512)},
            required=("key", "object", field),
        )
    )


_HOST_INTERFACE: Final = obj(
    {
        "key": _KEY,
        "interface": string(max_length=512, description="A NIC name from the host's inspection data."),
        "fromBootMAC": boolean(description="Use the host's bootMACAddress instead of a named NIC."),
    },
    required=("key",),
    rules=(
        Rule(
            "(has(self.fromBootMAC) && self.fromBootMAC) || (has(self.interface) && self.interface != '')",
            "interface is required unless fromBootMAC is true",
            field_path=".interface",
            reason="FieldValueRequired",
        ),
        Rule(
            "!has(self.fromBootMAC) || !self.fromBootMAC || !has(self.interface) || self.interface == ''",
            "interface must be empty when fromBootMAC is true",
            field_path=".interface",
        ),
    ),
)


def metadata_sources() -> Schema:
    """``MetaData``: one list per kind of source, each entry naming the key it fills."""
    pools = {
        f"{what}From{suffix}": _from_pool(v1beta1=suffix == "IPPool")
        for what in ("ipAddresses", "prefixes", "gateways", "dnsServers")
        for suffix in ("Pool", "IPPool")
    }
    return obj(
        {
            "strings": _entries(
                obj({"key": _KEY, "value": string(max_length=512)}, required=("key", "value"))
            ),
            "objectNames": _entries(
                obj({"key": _KEY, "object": enum(*OBJECT_KINDS)}, required=("key", "object"))
            ),
            "indexes": _entries(
                obj(
                    {
                        "key": _KEY,
                        "offset": integer(minimum=0, fmt="int32"),
                        "step": integer(minimum=1, default=1, fmt="int32"),
                        "prefix": string(max_length=512),
                        "suffix": string(max_length=512),
                    },
                    required=("key",),
                    description="prefix + (offset + index * step) + suffix.",
                )
            ),
            "namespaces": _entries(obj({"key": _KEY}, required=("key",))),
            **pools,
            "fromHostInterfaces": _entries(_HOST_INTERFACE),
            "fromLabels": _from_object("label"),
            "fromAnnotations": _from_object("annotation"),
        },
        description="Sources of the keys of the rendered metadata.",
    )
