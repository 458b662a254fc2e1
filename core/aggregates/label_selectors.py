"""Kubernetes label selectors, as a Metal3Machine's ``hostSelector`` uses them.

CAPM3 turns ``matchLabels`` into equality requirements and passes each ``matchExpressions``
operator, lower-cased, to Kubernetes' label selector parser. So the operators are the parser's:
``in``, ``notin``, ``exists``, ``!`` (does not exist), ``=``, ``==``, ``!=``, ``gt`` and ``lt``,
where ``gt``/``lt`` take one integer and match hosts whose label is an integer above/below it.
``DoesNotExist`` (the LabelSelector spelling) lower-cases to a word the parser does not know, so
CAPM3 rejects it; this module accepts it as a synonym of ``!`` because users write it.

Keys and values are checked like Kubernetes checks them, so a selector CAPM3 refuses is refused
here with the field that is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final, Literal, cast

import msgspec

from core.errors import DomainError
from core.events.machine_values import HostSelector

Operator = Literal["in", "notin", "exists", "!", "=", "==", "!=", "gt", "lt"]

_NAME: Final = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN: Final = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_INTEGER: Final = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(2**63), 2**63 - 1)
_SYNONYMS: Final[dict[str, Operator]] = {"doesnotexist": "!"}
_OPERATORS: Final[frozenset[str]] = frozenset({"in", "notin", "exists", "!", "=", "==", "!=", "gt", "lt"})


class SelectorInvalid(DomainError):
    """A host selector that Kubernetes' label selector parser would refuse."""

    def __init__(self, *, field: str, detail: str) -> None:
        self.field = field
        self.detail = detail
        super().__init__(f"{field}: {detail}")


class Requirement(msgspec.Struct, frozen=True, kw_only=True):
    """One parsed requirement on one label."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        match self.operator:
            case "in" | "=" | "==":
                return has and labels[self.key] in self.values
            case "notin" | "!=":
                return not has or labels[self.key] not in self.values
            case "exists":
                return has
            case "!":
                return not has
            case "gt" | "lt":
                value = _as_int64(labels.get(self.key)) if has else None
                if value is None:
                    return False
                bound = int(self.values[0])
                return value > bound if self.operator == "gt" else value < bound


def _as_int64(text: str | None) -> int | None:
    if text is None or not _INTEGER.fullmatch(text):
        return None
    value = int(text)
    return value if _INT64[0] <= value <= _INT64[1] else None


def _check_key(key: str, field: str) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.fullmatch(prefix)):
        raise SelectorInvalid(
            field=field, detail=f"label key {key!r} has an invalid prefix: use a DNS subdomain"
        )
    if not name or len(name) > 63 or not _NAME.fullmatch(name):
        raise SelectorInvalid(
            field=field,
            detail=f"label key {key!r}: the name must be 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit",
        )


def _check_value(value: str, field: str) -> None:
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        raise SelectorInvalid(
            field=field,
            detail=f"label value {value!r} must be empty or 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit",
        )


def _requirement(key: str, raw_operator: str, values: tuple[str, ...], field: str) -> Requirement:
    _check_key(key, f"{field}.key")
    lowered = raw_operator.lower()
    operator = _SYNONYMS.get(lowered, lowered)
    if operator not in _OPERATORS:
        raise SelectorInvalid(
            field=f"{field}.operator",
            detail=f"operator {raw_operator!r} is not recognised: "
            "use In, NotIn, Exists, DoesNotExist (or !), =, ==, !=, Gt or Lt",
        )
    count = len(values)
    if operator in ("in", "notin") and count == 0:
        raise SelectorInvalid(field=f"{field}.values", detail=f"{raw_operator} needs at least one value")
    if operator in ("=", "==", "!=", "gt", "lt") and count != 1:
        raise SelectorInvalid(field=f"{field}.values", detail=f"{raw_operator} needs exactly one value")
    if operator in ("exists", "!") and count:
        raise SelectorInvalid(field=f"{field}.values", detail=f"{raw_operator} takes no values")
    for i, value in enumerate(values):
        if operator in ("gt", "lt"):
            if _as_int64(value) is None:
                raise SelectorInvalid(field=f"{field}.values[{i}]", detail=f"{value!r} is not an integer")
        else:
            _check_value(value, f"{field}.values[{i}]")
    return Requirement(key=key, operator=cast(Operator, operator), values=values)


def compile_selector(selector: HostSelector | None) -> tuple[Requirement, ...]:
    """The requirements of ``selector`` (all must match); no selector matches every host."""
    if selector is None:
        return ()
    requirements = [
        _requirement(key, "=", (value,), f"spec.hostSelector.matchLabels[{key}]")
        for key, value in sorted(selector.match_labels.items())
    ]
    requirements += [
        _requirement(e.key, e.operator, e.values, f"spec.hostSelector.matchExpressions[{i}]")
        for i, e in enumerate(selector.match_expressions)
    ]
    return tuple(requirements)


def matches(requirements: tuple[Requirement, ...], labels: Mapping[str, str]) -> bool:
    """Whether ``labels`` satisfy every requirement."""
    return all(r.matches(labels) for r in requirements)
