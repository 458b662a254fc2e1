"""Fragments that Kubernetes itself defines and all three Metal3 groups embed.

References (``SecretReference``, ``ObjectReference``), ``metav1.Condition`` lists and the older
Cluster API v1beta1 conditions. They follow the upstream Go types' JSON, so a status written by
Metal3 (for instance restored from the ``baremetalhost.metal3.io/status`` annotation after a
``clusterctl move``) validates here unchanged.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.schema import Schema, array, enum, integer, obj, string, timestamp

SECRET_REF: Final = obj(
    {"name": string(description="Name of the Secret."), "namespace": string()},
    atomic=True,
    description="A Secret by name; Metal3 refuses a namespace other than the object's own.",
)

OBJECT_REF: Final = obj(
    {
        "apiVersion": string(max_length=317),
        "fieldPath": string(),
        "kind": string(max_length=253),
        "name": string(max_length=253),
        "namespace": string(max_length=63),
        "resourceVersion": string(),
        "uid": string(),
    },
    atomic=True,
    description="A reference to another object (Kubernetes' ObjectReference; lengths bounded for CEL rules).",
)

_CONDITION_TYPE: Final = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"  # optional DNS prefix
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
_CONDITION_REASON: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
MAX_CONDITIONS: Final = 32


def _condition(*, capi_v1beta1: bool) -> Schema:
    """One condition item. ``capi_v1beta1`` is the union of ``metav1.Condition`` and CAPI v1beta1's
    (``severity``, optional ``reason``/``message``) for the CAPM3 kinds, whose two served versions
    put either shape under ``status.conditions``."""
    properties: dict[str, Schema] = {
        "type": string(max_length=316, pattern=None if capi_v1beta1 else _CONDITION_TYPE, min_length=1),
        "status": enum("True", "False", "Unknown"),
        "observedGeneration": integer(minimum=0, fmt="int64"),
        "lastTransitionTime": timestamp(),
        "reason": string(max_length=1024, min_length=1, pattern=None if capi_v1beta1 else _CONDITION_REASON),
        "message": string(max_length=32768),
    }
    if capi_v1beta1:
        properties["severity"] = string(max_length=32)
        return obj(properties, required=("type", "status", "lastTransitionTime"))
    return obj(properties, required=("type", "status", "lastTransitionTime", "reason", "message"))


def conditions(*, description: str | None = None) -> Schema:
    """``[]metav1.Condition``, one per ``type`` (a list-map), at most 32."""
    return array(
        _condition(capi_v1beta1=False),
        max_items=MAX_CONDITIONS,
        list_type="map",
        map_keys=("type",),
        description=description,
    )


def capi_conditions(*, description: str | None = None) -> Schema:
    """``status.conditions`` of a CAPM3 kind: v1beta2 writes ``metav1.Condition``, v1beta1 CAPI's own."""
    return array(
        _condition(capi_v1beta1=True),
        max_items=MAX_CONDITIONS,
        list_type="map",
        map_keys=("type",),
        description=description,
    )


def capi_v1beta1_conditions() -> Schema:
    """CAPI v1beta1 conditions where v1beta2 keeps them (``status.deprecated.v1beta1.conditions``)."""
    condition = obj(
        {
            "type": string(min_length=1, max_length=256),
            "status": string(),
            "severity": string(max_length=32),
            "lastTransitionTime": timestamp(),
            "reason": string(min_length=1, max_length=256),
            "message": string(min_length=1, max_length=10240),
        },
        required=("type", "status", "lastTransitionTime"),
    )
    return array(condition)
