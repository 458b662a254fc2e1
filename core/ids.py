"""Typed identifiers and aggregate addressing.

An aggregate is addressed by its type and an id. Kubernetes-backed aggregates use
``<namespace>/<name>`` as id so that the audit CLI can be asked for a host by the name users know.
"""

from __future__ import annotations

import re
from typing import Final, NewType

import msgspec

EventId = NewType("EventId", str)
CorrelationId = NewType("CorrelationId", str)

# Kubernetes object names: DNS subdomain for most kinds; Metal3 also allows "_" in BMH names.
_NAME_RE: Final = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$")
_NAMESPACE_RE: Final = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


class AggregateKey(msgspec.Struct, frozen=True, kw_only=True):
    """Which aggregate an event belongs to: one consistency boundary, one event subject."""

    type: str
    """The aggregate type tag, e.g. ``host``, ``machine``, ``ippool``."""
    id: str
    """The aggregate id within its type, ``<namespace>/<name>`` for Kubernetes-backed ones."""

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"


def object_id(namespace: str, name: str) -> str:
    """Return the aggregate id of a namespaced object, refusing names Kubernetes would refuse."""
    if not _NAMESPACE_RE.match(namespace):
        msg = f"invalid namespace {namespace!r}: use a DNS label (lower-case letters, digits and '-')"
        raise ValueError(msg)
    if not _NAME_RE.match(name):
        msg = f"invalid name {name!r}: use letters, digits, '.', '_' and '-' (at most 253 characters)"
        raise ValueError(msg)
    return f"{namespace}/{name}"


def split_object_id(aggregate_id: str) -> tuple[str, str]:
    """Split ``<namespace>/<name>`` back into its parts."""
    namespace, sep, name = aggregate_id.partition("/")
    if not sep or not namespace or not name:
        msg = f"invalid object id {aggregate_id!r}: expected <namespace>/<name>"
        raise ValueError(msg)
    return namespace, name
