"""``CrdDeclaration``: one Metal3 kind as a value, and the CustomResourceDefinition it renders to.

A declaration holds what a CRD says about a kind (its ``Resource``, names, served versions,
printer columns, spec and status schemas, root-level CEL rules) and nothing about how it gets to
a cluster: ``manifest()`` is a pure function to a JSON-shaped dict, which the installer applies
and the generator writes under ``deploy/crds``.

Every served version of a kind shares one schema. The API server converts between versions of
a CRD without a webhook only by relabelling ``apiVersion`` (conversion strategy ``None``), and it
prunes whatever the schema of the version at hand does not declare, so two different schemas
would silently drop fields on the way through storage. One schema that is a superset of both
versions keeps every field of either (see ``capm3`` for how CAPM3's v1beta1 and v1beta2 meet).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Final, Literal

from adapters.k8s.crds.schema import Rule, Schema, SchemaError, obj, string
from adapters.k8s.resources import Resource

CRD_API_VERSION: Final = "apiextensions.k8s.io/v1"
PART_OF: Final = "app.kubernetes.io/part-of"


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry: a ``kubectl get`` column; priority 1 shows with ``-o wide``."""

    name: str
    json_path: str
    type: Literal["string", "integer", "number", "boolean", "date"] = "string"
    priority: int = 0
    description: str | None = None

    def manifest(self) -> Schema:
        rendered: Schema = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.priority:
            rendered["priority"] = self.priority
        if self.description:
            rendered["description"] = self.description
        return rendered


AGE: Final = PrinterColumn("Age", ".metadata.creationTimestamp", "date")
CLUSTER_LABEL: Final = PrinterColumn(
    "Cluster",
    r".metadata.labels.cluster\.x-k8s\.io/cluster-name",
    description="The Cluster API cluster this object belongs to.",
)


@dataclass(frozen=True, slots=True)
class ServedVersion:
    """One entry of ``spec.versions``. Exactly one version of a kind is the ``storage`` version."""

    name: str
    storage: bool
    columns: tuple[PrinterColumn, ...] = ()
    deprecation_warning: str | None = None
    """Set for a deprecated version; ``kubectl`` prints it on every request to that version."""


@dataclass(frozen=True, slots=True)
class CrdDeclaration:
    """A namespaced Metal3 kind: its names, versions, schema and ``kubectl get`` columns.

    ``resource.version`` is the storage version, the one metalstream reads and writes.
    ``spec``/``status`` are the schemas of those two fields (``None``: the kind has no such
    field). ``rules`` are CEL rules on the whole object, for checks that need ``metadata.name``
    or both spec and status.
    """

    resource: Resource
    singular: str
    spec: Schema | None
    status: Schema | None
    versions: tuple[ServedVersion, ...]
    description: str
    status_subresource: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    """Extra labels on the CRD, e.g. Cluster API's contract labels that map its API to ours."""

    def __post_init__(self) -> None:
        storage = [version.name for version in self.versions if version.storage]
        if storage != [self.resource.version]:
            msg = f"{self.name}: the storage version must be exactly {self.resource.version!r}, got {storage}"
            raise SchemaError(msg)
        if not self.resource.namespaced:
            msg = f"{self.name}: Metal3 kinds are namespaced"
            raise SchemaError(msg)
        if self.status_subresource and self.status is None:
            msg = f"{self.name}: a status subresource needs a status schema"
            raise SchemaError(msg)

    @property
    def name(self) -> str:
        """The CRD's own name, ``<plural>.<group>``."""
        return f"{self.resource.plural}.{self.resource.group}"

    @property
    def kind(self) -> str:
        return self.resource.kind

    @property
    def group(self) -> str:
        return self.resource.group

    def schema(self) -> Schema:
        """The ``openAPIV3Schema`` of every served version."""
        properties: dict[str, Schema] = {
            "apiVersion": string(description="The versioned schema of this representation of an object."),
            "kind": string(description="The REST resource this object represents."),
            "metadata": {"type": "object"},
        }
        if self.spec is not None:
            properties["spec"] = self.spec
        if self.status is not None:
            properties["status"] = self.status
        return obj(properties, required=self.required, description=self.description, rules=self.rules)

    def manifest(self) -> Schema:
        """The CustomResourceDefinition, ready for server-side apply or ``kubectl apply``."""
        schema = self.schema()
        versions: list[Schema] = []
        for version in self.versions:
            rendered: Schema = {
                "name": version.name,
                "served": True,
                "storage": version.storage,
                "schema": {"openAPIV3Schema": copy.deepcopy(schema)},
            }
            if version.deprecation_warning is not None:
                rendered["deprecated"] = True
                rendered["deprecationWarning"] = version.deprecation_warning
            if self.status_subresource:
                rendered["subresources"] = {"status": {}}
            if version.columns:
                rendered["additionalPrinterColumns"] = [column.manifest() for column in version.columns]
            versions.append(rendered)
        names: Schema = {
            "kind": self.kind,
            "listKind": f"{self.kind}List",
            "plural": self.resource.plural,
            "singular": self.singular,
        }
        if self.short_names:
            names["shortNames"] = list(self.short_names)
        if self.categories:
            names["categories"] = list(self.categories)
        spec: Schema = {"group": self.group, "names": names, "scope": "Namespaced", "versions": versions}
        if len(versions) > 1:
            spec["conversion"] = {"strategy": "None"}
        return {
            "apiVersion": CRD_API_VERSION,
            "kind": "CustomResourceDefinition",
            "metadata": {"name": self.name, "labels": {PART_OF: "metalstream", **dict(self.labels)}},
            "spec": spec,
        }
