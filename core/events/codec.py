"""Encoding and decoding of event payloads, with upcasting of older schema versions.

One codec per aggregate type holds one reusable msgspec decoder for that type's union (style
rule 6). Decoding never raises for data problems: an unknown tag becomes ``UnknownEvent`` and
anything else that fails becomes ``UndecodableEvent``, so a reader can record it and move on.

Upcasting: when a payload's shape changes incompatibly, its class bumps ``schema_version`` and
registers a function that maps the previous version's JSON object to the next. Stored events
keep their original bytes; the mapping is applied on every read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

import msgspec

from core.events.base import Event, UndecodableEvent, UnknownEvent, event_type_of

Upcaster: TypeAlias = Callable[[dict[str, Any]], dict[str, Any]]
"""Maps the JSON object of version N of one event type to version N + 1."""

_ENCODER = msgspec.json.Encoder()


class _TagOnly(msgspec.Struct):
    type: str


_TAG_DECODER = msgspec.json.Decoder(_TagOnly)
_OBJECT_DECODER = msgspec.json.Decoder(dict[str, Any])


def encode(event: Event) -> bytes:
    """Serialise a payload to its JSON wire form (tag included)."""
    return _ENCODER.encode(event)


class EventCodec:
    """Decoder for the events of one aggregate type."""

    def __init__(
        self,
        aggregate_type: str,
        classes: Iterable[type[Event]],
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
    ) -> None:
        self.aggregate_type = aggregate_type
        self._classes: dict[str, type[Event]] = {}
        for cls in classes:
            tag = cls.__struct_config__.tag
            if not isinstance(tag, str) or not tag.startswith(f"{aggregate_type}."):
                msg = f"{cls.__name__}: tag must be a string starting with '{aggregate_type}.'"
                raise TypeError(msg)
            self._classes[tag] = cls
        union: Any = tuple(self._classes.values())
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
            union[0] if len(union) == 1 else _union_of(union)
        )
        self._upcasters = dict(upcasters or {})
        for tag, version in self._upcasters:
            if tag not in self._classes:
                msg = f"upcaster registered for unknown event type {tag!r}"
                raise ValueError(msg)
            if version >= self._classes[tag].schema_version:
                msg = f"upcaster for {tag!r} v{version} is not older than the current version"
                raise ValueError(msg)

    @property
    def event_types(self) -> frozenset[str]:
        """Every tag this codec understands."""
        return frozenset(self._classes)

    def current_version(self, event_type: str) -> int:
        """The schema version this build writes for an event type."""
        return self._classes[event_type].schema_version

    def version_of(self, event: Event) -> int:
        """The schema version a payload instance is written with."""
        return type(event).schema_version

    def decode(
        self, data: bytes, *, schema_version: int | None = None
    ) -> Event | UnknownEvent | UndecodableEvent:
        """Decode stored bytes written with ``schema_version`` (None means current)."""
        try:
            tag = _TAG_DECODER.decode(data).type
        except msgspec.DecodeError as exc:
            return UndecodableEvent(reason=f"no event type tag: {exc}", data=data)
        cls = self._classes.get(tag)
        if cls is None:
            return UnknownEvent(type=tag, data=data)
        version = cls.schema_version if schema_version is None else schema_version
        try:
            if version == cls.schema_version:
                decoded: Event = self._decoder.decode(data)
                return decoded
            if version > cls.schema_version:
                # Written by a newer build with an incompatible shape: treat as unknown, keep bytes.
                return UnknownEvent(type=f"{tag}@v{version}", data=data)
            obj = _OBJECT_DECODER.decode(data)
            for step in range(version, cls.schema_version):
                upcast = self._upcasters.get((tag, step))
                if upcast is None:
                    return UndecodableEvent(reason=f"{tag} v{step} has no upcaster to v{step + 1}", data=data)
                try:
                    obj = upcast(obj)
                except (KeyError, TypeError, ValueError) as exc:
                    # Old bytes that do not have the shape the upcaster expects are bad data too.
                    return UndecodableEvent(reason=f"{tag} v{step} upcaster failed: {exc!r}", data=data)
            obj["type"] = tag
            converted: Event = msgspec.convert(obj, cls)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return UndecodableEvent(reason=f"{tag}: {exc}", data=data)
        else:
            return converted

    def knows(self, event: Event) -> bool:
        """Whether this codec decodes the payload's type."""
        return event_type_of(event) in self._classes


def _union_of(classes: tuple[type[Event], ...]) -> Any:
    union: Any = classes[0]
    for cls in classes[1:]:
        union = union | cls
    return union
