"""Metal3DataTemplate, Metal3DataClaim and Metal3Data: per-machine metadata and network data.

A Metal3Machine with a ``dataTemplate`` files a Metal3DataClaim; the template's controller gives
the claim the lowest free index and creates ``<template>-<index>``, a Metal3Data, which renders
the two Secrets. As CEL rules, following CAPM3's webhooks: a template's ``metaData`` and
``networkData`` cannot change (rendered data of existing machines would silently disagree); a
claim needs a template and keeps it; a Metal3Data keeps its index, template and claim and is
named ``<template>-<index>``. A claim's template in another namespace is the adapter's to refuse.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.capm3_metadata import metadata_sources
from adapters.k8s.crds.capm3_networkdata import network_data
from adapters.k8s.crds.capm3_versioning import (
    CATEGORIES,
    CONTRACT_LABELS,
    GROUP,
    STORAGE,
    object_ref,
    served_versions,
)
from adapters.k8s.crds.common import SECRET_REF
from adapters.k8s.crds.declaring import AGE, CLUSTER_LABEL, CrdDeclaration
from adapters.k8s.crds.schema import Rule, any_json, boolean, integer, obj, string, timestamp
from adapters.k8s.resources import Resource


def _unchanged(field: str) -> Rule:
    """``field`` keeps its value, including staying absent or present."""
    return Rule(
        f"has(self.{field}) == has(oldSelf.{field})"
        f" && (!has(self.{field}) || self.{field} == oldSelf.{field})",
        f"{field} cannot be changed",
        field_path=f".{field}",
    )


def _same_ref(field: str) -> Rule:
    """The reference ``field`` keeps its name and namespace (other reference fields may be filled in)."""
    name = f"(has(self.{field}) && has(self.{field}.name) ? self.{field}.name : '')"
    old_name = f"(has(oldSelf.{field}) && has(oldSelf.{field}.name) ? oldSelf.{field}.name : '')"
    # ``namespace`` is a CEL reserved word: the API server exposes the field as ``__namespace__``.
    namespace = f"(has(self.{field}) && has(self.{field}.__namespace__) ? self.{field}.__namespace__ : '')"
    old_namespace = (
        f"(has(oldSelf.{field}) && has(oldSelf.{field}.__namespace__) ? oldSelf.{field}.__namespace__ : '')"
    )
    return Rule(
        f"{name} == {old_name} && {namespace} == {old_namespace}",
        f"{field} cannot be changed",
        field_path=f".{field}",
    )


METAL3DATATEMPLATE: Final = CrdDeclaration(
    resource=Resource(group=GROUP, version=STORAGE, plural="metal3datatemplates", kind="Metal3DataTemplate"),
    singular="metal3datatemplate",
    short_names=("m3dt", "m3datatemplate", "m3datatemplates", "metal3dt", "metal3datatemplate"),
    categories=CATEGORIES,
    labels=CONTRACT_LABELS,
    spec=obj(
        {
            "clusterName": string(max_length=512, description="Deprecated and unused."),
            "templateReference": string(description="v1beta1: a template this one replaces."),
            "metaData": metadata_sources(),
            "networkData": network_data(),
        },
        rules=(_unchanged("metaData"), _unchanged("networkData")),
    ),
    status=obj(
        {
            "lastUpdated": timestamp(),
            "indexes": any_json(
                description="Claimed indexes: map claim->index (v1beta1) or list of {name, index} (v1beta2).",
            ),
        }
    ),
    versions=served_versions((CLUSTER_LABEL, AGE)),
    description="How to render the metadata and network data of the machines that use it.",
)

METAL3DATACLAIM: Final = CrdDeclaration(
    resource=Resource(group=GROUP, version=STORAGE, plural="metal3dataclaims", kind="Metal3DataClaim"),
    singular="metal3dataclaim",
    short_names=("m3dc", "m3dataclaim", "m3dataclaims", "metal3dc", "metal3dataclaim"),
    categories=CATEGORIES,
    labels=CONTRACT_LABELS,
    spec=obj(
        {"template": object_ref(description="The Metal3DataTemplate to render from.")},
        rules=(
            Rule(
                "has(self.template) && has(self.template.name) && self.template.name != ''",
                "template.name is required",
                field_path=".template",
                reason="FieldValueRequired",
            ),
            _same_ref("template"),
        ),
    ),
    status=obj(
        {
            "renderedData": object_ref(description="The Metal3Data rendered for this claim."),
            "errorMessage": string(max_length=512),
        }
    ),
    versions=served_versions((AGE,)),
    description="A machine's request for an index and rendered data from a Metal3DataTemplate.",
)

METAL3DATA: Final = CrdDeclaration(
    resource=Resource(group=GROUP, version=STORAGE, plural="metal3datas", kind="Metal3Data"),
    singular="metal3data",
    short_names=("m3d", "m3data", "m3datas", "metal3d", "metal3data"),
    categories=CATEGORIES,
    labels=CONTRACT_LABELS,
    spec=obj(
        {
            "index": integer(minimum=0, fmt="int32"),
            "templateReference": string(description="v1beta1."),
            "metaData": SECRET_REF,
            "networkData": SECRET_REF,
            "claim": object_ref(),
            "template": object_ref(),
        },
        rules=(_unchanged("index"), _same_ref("template"), _same_ref("claim")),
    ),
    status=obj({"ready": boolean(), "errorMessage": string(max_length=512)}),
    rules=(
        Rule(
            "!has(self.spec) || !has(self.spec.index)"
            " || !has(self.spec.template) || !has(self.spec.template.name)"
            " || self.metadata.name == '%s-%d'.format([self.spec.template.name, self.spec.index])",
            "metadata.name must be <spec.template.name>-<spec.index>",
            field_path=".metadata",
        ),
    ),
    versions=served_versions((AGE,)),
    description="The rendered metadata and network data Secrets of one machine.",
)
