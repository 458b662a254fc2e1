"""Metal3DataTemplate event payloads: the template's spec and the indexes it hands out.

A template numbers the machines rendered from it. Each Metal3DataClaim gets the lowest free
index, keeps it until released, and the index names its Metal3Data (``<template>-<index>``) and
feeds ``indexes`` metadata (host names, addresses computed from the index). Recording every
claim and release as an event makes "no index is handed out twice" an invariant of one
aggregate, checked by optimistic concurrency, instead of a property of one controller's cache.
"""

from __future__ import annotations

from typing import TypeAlias

from core.events.base import Event
from core.events.codec import EventCodec
from core.events.data_template_values import DataTemplateSpec

AGGREGATE_TYPE = "datatemplate"


class DataTemplateCreated(Event, tag="datatemplate.created", frozen=True, kw_only=True):
    """A Metal3DataTemplate object was seen for the first time (or re-created after deletion)."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: DataTemplateSpec


class DataTemplateSpecChanged(Event, tag="datatemplate.spec_changed", frozen=True, kw_only=True):
    """A new spec generation was applied (only fields other than metaData and networkData may change)."""

    generation: int
    spec: DataTemplateSpec


class IndexClaimed(Event, tag="datatemplate.index_claimed", frozen=True, kw_only=True):
    """The Metal3DataClaim ``claim`` holds ``index`` until it releases it."""

    claim: str
    index: int


class IndexReleased(Event, tag="datatemplate.index_released", frozen=True, kw_only=True):
    """``claim`` gave ``index`` back; the next claim may get it."""

    claim: str
    index: int


class DataTemplateDeletionRequested(Event, tag="datatemplate.deletion_requested", frozen=True, kw_only=True):
    """The template got a deletionTimestamp; it is deleted once no index is held."""


class DataTemplateDeleted(Event, tag="datatemplate.deleted", frozen=True, kw_only=True):
    """No index is held any more; the template's finalizer may be removed."""


DataTemplateEvent: TypeAlias = (
    DataTemplateCreated
    | DataTemplateSpecChanged
    | IndexClaimed
    | IndexReleased
    | DataTemplateDeletionRequested
    | DataTemplateDeleted
)

DATA_TEMPLATE_EVENT_CLASSES: tuple[type[Event], ...] = DataTemplateEvent.__args__

CODEC = EventCodec(AGGREGATE_TYPE, DATA_TEMPLATE_EVENT_CLASSES)
"""The one decoder for data template events."""
