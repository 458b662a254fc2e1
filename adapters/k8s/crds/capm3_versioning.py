"""How CAPM3's two served versions, v1beta1 and v1beta2, share one schema without a conversion webhook.

CAPM3 serves ``v1beta1`` (deprecated) and ``v1beta2`` (stored) and converts between them in a
webhook. metalstream runs no webhook, so the CRDs use conversion strategy ``None``: the API
server relabels ``apiVersion`` and keeps the fields as written. That is only lossless if the one
schema both versions share declares every field of either, so each CAPM3 kind here has a
**superset** schema, built by these rules:

* every field of either version is declared: v1beta1's ``status.ready``/``phase``/
  ``failureReason``, ``image.format`` and ``metaData.*FromIPPool`` next to v1beta2's
  ``status.initialization``/``deprecated.v1beta1``, ``image.diskFormat``, ``*FromPool``;
  references are the union of ``ObjectReference`` (v1beta1) and ``{name, namespace}`` (v1beta2);
* where the versions disagree on a field's *type* (``failureDomains``: a map in v1beta1, a list
  in v1beta2; Metal3DataTemplate ``status.indexes``; bond ``parameters``), the field is kept
  as any JSON (``x-kubernetes-preserve-unknown-fields``) and its shape is checked by the adapter;
* enums, patterns, upper bounds, numeric ranges and defaults are v1beta2's; a lower bound on a
  length or a count (``minLength``, ``minItems``, ``minProperties``), list-map uniqueness and a
  field only v1beta2 requires are dropped where v1beta1 allowed less, so an object v1beta1
  accepted applies unchanged;
* rules CAPM3's webhooks enforce for every version (they run after conversion) are CEL rules
  for both: image or customDeploy, image checksums, ``retryLimit >= 1``, ``timeoutSeconds >= 100``,
  a control-plane host, immutable data templates and claims.

Consequence for readers: an object carries whichever version's fields its writer used, and
the adapter reads both (``status.ready`` or ``status.initialization.provisioned``). metalstream
itself writes the v1beta2 (storage) shape.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.declaring import PrinterColumn, ServedVersion
from adapters.k8s.crds.schema import Schema, map_of, obj, string

GROUP: Final = "infrastructure.cluster.x-k8s.io"
STORAGE: Final = "v1beta2"
CATEGORIES: Final = ("cluster-api",)
CONTRACT_LABELS: Final = (("cluster.x-k8s.io/v1beta1", "v1beta1"), ("cluster.x-k8s.io/v1beta2", "v1beta2"))
"""Cluster API finds the provider version matching its contract through these CRD labels."""

_DEPRECATION: Final = "infrastructure.cluster.x-k8s.io/v1beta1 is deprecated; use v1beta2"


def served_versions(
    columns: tuple[PrinterColumn, ...], *, v1beta1_columns: tuple[PrinterColumn, ...] | None = None
) -> tuple[ServedVersion, ...]:
    """v1beta1 (served, deprecated) and v1beta2 (served, stored); v1beta1's columns when they differ."""
    return (
        ServedVersion(
            "v1beta1",
            storage=False,
            columns=columns if v1beta1_columns is None else v1beta1_columns,
            deprecation_warning=_DEPRECATION,
        ),
        ServedVersion(STORAGE, storage=True, columns=columns),
    )


def object_ref(*, description: str | None = None) -> Schema:
    """v1beta2's ``{name, namespace}`` reference united with v1beta1's ``ObjectReference``."""
    return obj(
        {
            "name": string(max_length=253),
            "namespace": string(max_length=253),
            "apiVersion": string(),
            "kind": string(),
            "uid": string(),
            "resourceVersion": string(),
            "fieldPath": string(),
        },
        atomic=True,
        description=description,
    )


def template_metadata() -> Schema:
    """``ObjectMeta`` of a template (v1beta2): labels and annotations copied onto created objects."""
    return obj({"labels": map_of(string()), "annotations": map_of(string())})
