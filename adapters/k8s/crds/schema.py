"""A tiny builder language for the OpenAPI v3 fragments inside a CustomResourceDefinition.

Why not YAML files: the Metal3 kinds share many fragments (an image, root device hints, a
condition, a Secret reference, an IP address) and a shared fragment written once in Python cannot
drift between the kinds that embed it. Why not generate from the msgspec Structs of the domain:
the wire schema is Metal3's (capitalised ``ID``, deprecated fields, v1beta1 leftovers) and must not
bend when the domain model changes.

Every builder returns a fresh JSON-shaped ``dict``; callers treat fragments as values and never
mutate them (``CrdDeclaration.manifest`` deep-copies before handing a manifest out). The builders
check what the API server would otherwise only report at install time, as a one-line message at
import: a ``required`` name that is not a property, a list-map key that is neither required nor
defaulted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TypeAlias

Schema: TypeAlias = dict[str, object]
"""One OpenAPI v3 schema node, shaped as JSON (what ``openAPIV3Schema`` holds)."""

ListType: TypeAlias = Literal["atomic", "set", "map"]
Reason: TypeAlias = Literal[
    "FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"
]


class SchemaError(ValueError):
    """A fragment that the API server would refuse; raised while the declarations are built."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``x-kubernetes-validations`` entry: a CEL ``expression`` that must hold for ``self``.

    ``message`` is what the user reads; ``field_path`` (relative, e.g. ``.online``) makes the API
    server name that field in the error. A rule that mentions ``oldSelf`` is a transition rule:
    it runs on updates only, when the old value exists.
    """

    expression: str
    message: str
    field_path: str | None = None
    reason: Reason | None = None

    def manifest(self) -> Schema:
        rendered: Schema = {"rule": self.expression, "message": self.message}
        if self.field_path is not None:
            rendered["fieldPath"] = self.field_path
        if self.reason is not None:
            rendered["reason"] = self.reason
        return rendered


def _with(schema: Schema, description: str | None, rules: Iterable[Rule]) -> Schema:
    if description:
        schema["description"] = description
    rendered = [rule.manifest() for rule in rules]
    if rendered:
        schema["x-kubernetes-validations"] = rendered
    return schema


def string(
    *,
    pattern: str | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    fmt: str | None = None,
    default: str | None = None,
    nullable: bool = False,
    description: str | None = None,
    rules: Iterable[Rule] = (),
) -> Schema:
    schema: Schema = {"type": "string"}
    if pattern is not None:
        schema["pattern"] = pattern
    if min_length is not None:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    if fmt is not None:
        schema["format"] = fmt
    if default is not None:
        schema["default"] = default
    if nullable:
        schema["nullable"] = True
    return _with(schema, description, rules)


def enum(*values: str, default: str | None = None, description: str | None = None) -> Schema:
    """A string limited to ``values``; a ``default`` must be one of them."""
    if default is not None and default not in values:
        msg = f"default {default!r} is not one of the enum values {values}"
        raise SchemaError(msg)
    schema = string(default=default, description=description)
    schema["enum"] = list(values)
    return schema


def timestamp(*, nullable: bool = False, description: str | None = None) -> Schema:
    """An RFC 3339 time, as ``metav1.Time`` is written."""
    return string(fmt="date-time", nullable=nullable, description=description)


def integer(
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    default: int | None = None,
    fmt: Literal["int32", "int64"] | None = None,
    description: str | None = None,
    rules: Iterable[Rule] = (),
) -> Schema:
    schema: Schema = {"type": "integer"}
    if fmt is not None:
        schema["format"] = fmt
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    if default is not None:
        if (minimum is not None and default < minimum) or (maximum is not None and default > maximum):
            msg = f"default {default} is outside [{minimum}, {maximum}]"
            raise SchemaError(msg)
        schema["default"] = default
    return _with(schema, description, rules)


def number(*, description: str | None = None) -> Schema:
    return _with({"type": "number", "format": "double"}, description, ())


def boolean(*, default: bool | None = None, description: str | None = None) -> Schema:
    schema: Schema = {"type": "boolean"}
    if default is not None:
        schema["default"] = default
    return _with(schema, description, ())


def int_or_string(*, description: str | None = None) -> Schema:
    """``intstr.IntOrString``: either JSON type is kept as written."""
    schema: Schema = {
        "x-kubernetes-int-or-string": True,
        "anyOf": [{"type": "integer"}, {"type": "string"}],
    }
    return _with(schema, description, ())


def obj(
    properties: Mapping[str, Schema] | None = None,
    *,
    required: Iterable[str] = (),
    atomic: bool = False,
    min_properties: int | None = None,
    description: str | None = None,
    rules: Iterable[Rule] = (),
) -> Schema:
    """An object with named ``properties``; unknown fields are pruned, as for any typed object.

    ``atomic`` marks a reference-like object that server-side apply replaces as a whole
    (``x-kubernetes-map-type: atomic``), as Kubernetes does for ``ObjectReference``.
    """
    props = dict(properties or {})
    needed = list(required)
    missing = [name for name in needed if name not in props]
    if missing:
        msg = f"required {missing} not among the properties {sorted(props)}"
        raise SchemaError(msg)
    schema: Schema = {"type": "object"}
    if props:
        schema["properties"] = props
    if needed:
        schema["required"] = needed
    if atomic:
        schema["x-kubernetes-map-type"] = "atomic"
    if min_properties is not None:
        schema["minProperties"] = min_properties
    return _with(schema, description, rules)


def map_of(values: Schema, *, description: str | None = None, rules: Iterable[Rule] = ()) -> Schema:
    """A string-keyed map (Go ``map[string]T``) whose values all follow ``values``."""
    return _with({"type": "object", "additionalProperties": values}, description, rules)


def array(
    items: Schema,
    *,
    min_items: int | None = None,
    max_items: int | None = None,
    list_type: ListType | None = None,
    map_keys: Iterable[str] = (),
    nullable: bool = False,
    description: str | None = None,
    rules: Iterable[Rule] = (),
) -> Schema:
    """A list of ``items``. ``list_type="map"`` needs ``map_keys`` that every item has."""
    keys = list(map_keys)
    if (list_type == "map") != bool(keys):
        msg = "map_keys go with list_type='map' and only with it"
        raise SchemaError(msg)
    if keys:
        props = items.get("properties")
        needed = items.get("required")
        for key in keys:
            prop = props.get(key) if isinstance(props, dict) else None
            if not isinstance(prop, dict):
                msg = f"list-map key {key!r} is not a property of the items"
                raise SchemaError(msg)
            if key not in (needed if isinstance(needed, list) else []) and "default" not in prop:
                msg = f"list-map key {key!r} must be required or defaulted"
                raise SchemaError(msg)
    schema: Schema = {"type": "array", "items": items}
    if min_items is not None:
        schema["minItems"] = min_items
    if max_items is not None:
        schema["maxItems"] = max_items
    if list_type is not None:
        schema["x-kubernetes-list-type"] = list_type
    if keys:
        schema["x-kubernetes-list-map-keys"] = keys
    if nullable:
        schema["nullable"] = True
    return _with(schema, description, rules)


def any_json(*, description: str) -> Schema:
    """Any JSON value kept as written: for a field whose two served versions disagree on its type."""
    return {"x-kubernetes-preserve-unknown-fields": True, "description": description}
