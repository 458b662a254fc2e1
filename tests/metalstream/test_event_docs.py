"""docs/events.md and docs/events/schemas/ match the code, and real encoded events match the schemas.

Three promises are checked. The committed schemas and tables are what ``metalstream.eventdocs``
generates now. Every registered event type is listed under its aggregate type, with its class
and schema version, and nothing else is. And every event type, encoded by the real wire encoder
with every field set, fits the committed schema of its aggregate type: ``jsonschema`` is not a
dependency, so ``_violations`` checks the subset of JSON Schema msgspec emits, and is stricter
than JSON Schema about one thing: every encoded property must be declared (an undocumented
field is what the schemas exist to prevent).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest

from adapters.nats.settings import StoreSettings
from adapters.nats.subjects import SubjectLayout
from adapters.nats.wire import DocumentEncoder, RecordDecoder
from core.events.base import Event, EventMetadata, NewEvent
from core.events.data_templates import DATA_TEMPLATE_EVENT_CLASSES
from core.events.hosts import HOST_EVENT_CLASSES, HostCreated
from core.events.ippools import IPAM_EVENT_CLASSES
from core.events.machines import MACHINE_EVENT_CLASSES
from core.events.remediations import REMEDIATION_EVENT_CLASSES
from core.ids import AggregateKey
from metalstream import eventdocs, registry

DOC = eventdocs.DOC
SCHEMAS = eventdocs.SCHEMAS
AGGREGATES = eventdocs.registered()
ALL_EVENTS = [(name, cls) for name, classes in AGGREGATES.items() for cls in classes]
_ROW = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \| (\d+) \|", re.MULTILINE)


# --- generated files are up to date -------------------------------------------------------------


def test_the_committed_schemas_and_tables_are_what_the_generator_writes() -> None:
    files = eventdocs.generated(DOC.read_text())
    assert eventdocs.stale(files) == [], "regenerate with `python -m metalstream.eventdocs` (make docs)"
    assert eventdocs.orphans() == []
    assert {path.name for path in files} == {
        "events.md",
        "envelope.json",
        *(f"{t}.json" for t in registry.CODECS),
    }


def test_check_mode_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert eventdocs.main(["--check"]) == 0
    assert capsys.readouterr().err == ""


def test_check_names_stale_files_and_a_run_regenerates_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc, schemas = tmp_path / "docs" / "events.md", tmp_path / "docs" / "events" / "schemas"
    schemas.mkdir(parents=True)
    doc.write_text(DOC.read_text().replace("| `HostCreated` | 1 |", "| `Renamed` | 1 |"))
    (schemas / "widget.json").write_text("{}\n")
    monkeypatch.setattr(eventdocs, "ROOT", tmp_path)
    monkeypatch.setattr(eventdocs, "DOC", doc)
    monkeypatch.setattr(eventdocs, "SCHEMAS", schemas)

    assert eventdocs.main(["--check"]) == 1
    report = capsys.readouterr().err
    assert "stale: docs/events.md" in report
    assert "stale: docs/events/schemas/host.json" in report
    assert "not generated (remove it): docs/events/schemas/widget.json" in report

    assert eventdocs.main([]) == 0
    assert eventdocs.main(["--check"]) == 0
    assert doc.read_text() == DOC.read_text()
    assert (schemas / "host.json").read_text() == (SCHEMAS / "host.json").read_text()
    assert not (schemas / "widget.json").exists()


def test_stale_names_files_that_differ_or_are_missing(tmp_path: Path) -> None:
    same, different, missing = tmp_path / "same.json", tmp_path / "different.json", tmp_path / "missing.json"
    same.write_text("{}\n")
    different.write_text("{}\n")
    assert eventdocs.stale({same: "{}\n", different: "[]\n", missing: "{}\n"}) == [different, missing]


def test_schema_text_is_deterministic() -> None:
    schema = eventdocs.aggregate_schema("host", AGGREGATES["host"])
    text = eventdocs.schema_text(schema)
    assert text.endswith("}\n")
    assert text == eventdocs.schema_text(json.loads(text))  # keys already sorted, nothing lost


def test_a_registered_type_without_a_doc_section_is_named_with_the_markers_to_add() -> None:
    start, end = eventdocs.section_markers("machine")
    text = re.sub(rf"{start}.*?{end}", "", DOC.read_text(), flags=re.DOTALL)
    with pytest.raises(ValueError, match=r"\['machine'\].*<!-- machine-events:start -->"):
        eventdocs.render_doc(text, AGGREGATES)


def test_a_doc_section_for_an_unregistered_type_is_refused() -> None:
    text = DOC.read_text() + "\n<!-- gadget-events:start -->\n<!-- gadget-events:end -->\n"
    with pytest.raises(ValueError, match=r"unregistered aggregate types \['gadget'\]"):
        eventdocs.render_doc(text, AGGREGATES)


# --- the tables list every registered event type --------------------------------------------------


def documented(aggregate_type: str) -> tuple[str, list[tuple[str, str, int]]]:
    """The generated block of a section in docs/events.md and its (tag, class, version) rows."""
    start, end = eventdocs.section_markers(aggregate_type)
    found = re.search(rf"{start}\n(.*?){end}", DOC.read_text(), re.DOTALL)
    assert found is not None, f"{DOC.name} has no {aggregate_type}-events section"
    rows = [(tag, name, int(version)) for tag, name, version in _ROW.findall(found.group(1))]
    return found.group(1), rows


@pytest.mark.parametrize("aggregate_type", sorted(registry.CODECS))
def test_every_registered_event_type_is_documented_and_nothing_else(aggregate_type: str) -> None:
    codec = registry.CODECS[aggregate_type]
    block, rows = documented(aggregate_type)
    tags = [tag for tag, _, _ in rows]
    assert sorted(tags) == sorted(codec.event_types), "regenerate with `python -m metalstream.eventdocs`"
    assert len(tags) == len(set(tags))
    for tag, name, version in rows:
        cls = next(cls for cls in AGGREGATES[aggregate_type] if eventdocs.tag_of(cls) == tag)
        assert (name, version) == (cls.__name__, codec.current_version(tag))
    subject = f"`metalstream.{aggregate_type}.<namespace>.<name>`"
    link = f"[`events/schemas/{aggregate_type}.json`](events/schemas/{aggregate_type}.json)"
    assert subject in block
    assert link in block
    assert (SCHEMAS / f"{aggregate_type}.json").is_file()


def test_the_tables_keep_the_lifecycle_order_of_the_event_unions() -> None:
    unions = {
        "host": HOST_EVENT_CLASSES,
        "datatemplate": DATA_TEMPLATE_EVENT_CLASSES,
        "machine": MACHINE_EVENT_CLASSES,
        "remediation": REMEDIATION_EVENT_CLASSES,
        "ippool": IPAM_EVENT_CLASSES,
    }
    assert set(unions) == set(registry.CODECS)
    for name, classes in unions.items():
        assert [row[1] for row in documented(name)[1]] == [cls.__name__ for cls in classes], name


def test_the_envelope_row_names_every_aggregate_type() -> None:
    row = next(line for line in DOC.read_text().splitlines() if line.startswith("| `aggregateType` |"))
    assert sorted(re.findall(r"`([a-z]+)`", row.split("|")[3])) == sorted(registry.CODECS)


# --- the schemas describe what is encoded ---------------------------------------------------------


def committed(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / f"{name}.json").read_text())
    return schema


@pytest.mark.parametrize("aggregate_type", sorted(registry.CODECS))
def test_each_schema_names_every_tag_of_its_aggregate_type(aggregate_type: str) -> None:
    schema = committed(aggregate_type)
    tags = sorted(registry.CODECS[aggregate_type].event_types)
    union = schema["properties"]["event"]
    assert sorted(union["discriminator"]["mapping"]) == tags
    for tag, ref in union["discriminator"]["mapping"].items():
        assert _resolve(schema, ref)["properties"]["type"] == {"enum": [tag]}
    assert schema["properties"]["envelope"]["properties"]["aggregateType"] == {"const": aggregate_type}
    assert sorted(schema["properties"]["envelope"]["properties"]["eventType"]["enum"]) == tags
    assert schema["x-schemaVersions"] == {
        tag: registry.CODECS[aggregate_type].current_version(tag) for tag in tags
    }


@pytest.mark.parametrize(
    ("aggregate_type", "cls"), ALL_EVENTS, ids=[eventdocs.tag_of(c) for _, c in ALL_EVENTS]
)
def test_an_encoded_event_of_every_type_fits_its_schema_and_decodes_back(
    aggregate_type: str, cls: type[Event]
) -> None:
    event = sample(mi.type_info(cls))
    assert isinstance(event, cls)
    new = NewEvent(event=event, meta=META)
    key = AggregateKey(type=aggregate_type, id="metal3/worker-0")
    tags = {cls: (eventdocs.tag_of(cls), cls.schema_version)}
    body, _ = DocumentEncoder(key, tags).encode(new, 3)

    document = msgspec.json.decode(body)
    assert _violations(committed(aggregate_type), document) == []
    assert _violations(committed("envelope"), document["envelope"]) == []
    assert list(_unset(mi.type_info(cls), document["event"], "$.event")) == [], "the sample misses fields"

    layout = SubjectLayout(StoreSettings())
    record = RecordDecoder(registry.CODECS, layout).decode(layout.aggregate(key), 42, body)
    assert record.event == event
    assert (record.envelope.event_type, record.envelope.version) == (eventdocs.tag_of(cls), 3)


def test_the_example_message_in_the_doc_fits_the_host_schema_and_decodes() -> None:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert len(blocks) == 1
    document = json.loads(blocks[0])
    assert _violations(committed("host"), document) == []
    layout = SubjectLayout(StoreSettings())
    record = RecordDecoder(registry.CODECS, layout).decode(
        "metalstream.host.metal3.worker-0", 1, blocks[0].encode()
    )
    assert isinstance(record.event, HostCreated)


@pytest.mark.parametrize(
    ("instance", "problem"),
    [
        ({"type": "remediation.failed"}, "$.event: missing reason"),
        ({"type": "remediation.failed", "reason": 3}, "$.event.reason: 3 is not string"),
        ({"type": "remediation.failed", "reason": "x", "secret": "y"}, "$.event: undeclared property secret"),
        ({"type": "remediation.exploded"}, "$.event: no schema for tag 'remediation.exploded'"),
    ],
)
def test_the_validator_reports_what_does_not_fit(instance: dict[str, Any], problem: str) -> None:
    document = {"envelope": _envelope("remediation", "remediation.failed"), "event": instance}
    assert problem in _violations(committed("remediation"), document)


def test_the_validator_checks_the_envelope_pinned_to_the_aggregate_type() -> None:
    envelope = {**_envelope("host", "host.created"), "occurredAt": "2026-11-23T21:17:29"}
    problems = _violations(
        committed("remediation"), {"envelope": envelope, "event": {"type": "remediation.deleted"}}
    )
    assert "$.envelope.aggregateType: 'host' is not 'remediation'" in problems
    assert any(p.startswith("$.envelope.eventType: 'host.created' is not one of") for p in problems)
    assert "$.envelope.occurredAt: '2026-11-23T21:17:29' is no RFC 3339 date-time" in problems


# --- helpers: samples built from the msgspec types, and a validator for msgspec's schema subset ---

META = EventMetadata(
    event_id="0193a4c2e1f07d3b8e2f6a9c4b5d0000",
    occurred_at=datetime(2026, 11, 23, 21, 17, 29, 784848, tzinfo=UTC),
    actor="test",
    correlation_id="c",
    causation_id="e",
)


def _envelope(aggregate_type: str, event_type: str) -> dict[str, Any]:
    return {
        "eventId": "e",
        "aggregateType": aggregate_type,
        "aggregateId": "metal3/x",
        "version": 1,
        "eventType": event_type,
        "schemaVersion": 1,
        "occurredAt": "2026-11-23T21:17:29.784848Z",
        "actor": "test",
        "correlationId": "c",
    }


def sample(info: mi.Type, variant: int = 0, depth: int = 0) -> Any:
    """A value of the type ``info`` describes; structs get every field, set away from its default."""
    if isinstance(info, mi.StructType):
        values = {}
        for field in info.fields:
            if not field.required and depth > _DEPTH:
                continue  # keeps a recursive value type finite (none is recursive yet)
            value = sample(field.type, 0, depth + 1)
            if not field.required and _same(value, field):
                value = sample(field.type, 1, depth + 1)
            values[field.name] = value
        return info.cls(**values)
    if isinstance(info, mi.UnionType):
        options = [t for t in info.types if not isinstance(t, mi.NoneType)]
        return sample(options[variant % len(options)], variant, depth) if options else None
    if isinstance(info, mi.StrType):
        return ("sample", "other")[variant]
    if isinstance(info, mi.BoolType):
        return variant == 0
    if isinstance(info, mi.IntType):
        low = info.ge if info.ge is not None else (info.gt + 1 if info.gt is not None else 0)
        return low + 7 + variant
    if isinstance(info, mi.FloatType):
        return 1.5 + variant
    if isinstance(info, mi.LiteralType):
        return info.values[variant % len(info.values)]
    if isinstance(info, mi.EnumType):
        members = list(info.cls)
        return members[variant % len(members)]
    if isinstance(info, mi.DateTimeType):
        return datetime(2026, 1, 2, 3, 4, 5 + variant, tzinfo=None if info.tz is False else UTC)
    if isinstance(info, mi.VarTupleType | mi.ListType | mi.SetType | mi.FrozenSetType):
        container = {mi.VarTupleType: tuple, mi.ListType: list, mi.SetType: set, mi.FrozenSetType: frozenset}
        return container[type(info)]([sample(info.item_type, variant, depth + 1)])
    if isinstance(info, mi.TupleType):
        return tuple(sample(item, variant, depth + 1) for item in info.item_types)
    if isinstance(info, mi.DictType):
        return {sample(info.key_type, variant, depth + 1): sample(info.value_type, variant, depth + 1)}
    if isinstance(info, mi.AnyType):
        return {"any": ["json", variant]}
    if isinstance(info, mi.BytesType):
        return b"sample"
    if isinstance(info, mi.Metadata):
        return sample(info.type, variant, depth)
    msg = f"no sample for {info!r}: teach tests/metalstream/test_event_docs.py::sample this type"
    raise TypeError(msg)


_DEPTH = 20


def _same(value: Any, field: mi.Field) -> bool:
    if field.default is not msgspec.NODEFAULT:
        return bool(value == field.default)
    if field.default_factory is not msgspec.NODEFAULT:
        return bool(value == field.default_factory())
    return False


def _unset(info: mi.Type, value: Any, path: str) -> Iterator[str]:
    """Fields of ``info`` that ``value`` (its encoded form) leaves out, so the schema check misses."""
    if isinstance(info, mi.Metadata):
        yield from _unset(info.type, value, path)
    elif isinstance(info, mi.UnionType):
        kinds: dict[type, tuple[type, ...]] = {
            dict: (mi.StructType, mi.DictType),
            list: (mi.VarTupleType, mi.ListType, mi.SetType, mi.FrozenSetType),
        }
        matching = [t for t in info.types if isinstance(t, kinds.get(type(value), ()))]
        if matching:
            yield from _unset(matching[0], value, path)
    elif isinstance(info, mi.StructType):
        for field in info.fields:
            if isinstance(field.type, mi.LiteralType) and len(field.type.values) == 1 and not field.required:
                continue  # its one value is its default: omitted by omit_defaults, nothing to check
            if field.encode_name in value:
                yield from _unset(field.type, value[field.encode_name], f"{path}.{field.encode_name}")
            else:
                yield f"{path}.{field.encode_name}"
    elif isinstance(info, mi.VarTupleType | mi.ListType | mi.SetType | mi.FrozenSetType):
        for item in value:
            yield from _unset(info.item_type, item, f"{path}[]")
    elif isinstance(info, mi.DictType):
        for item in value.values():
            yield from _unset(info.value_type, item, f"{path}{{}}")


def _resolve(root: Mapping[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/$defs/"), ref
    found: dict[str, Any] = root["$defs"][ref.removeprefix("#/$defs/")]
    return found


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list,),
    "object": (dict,),
}


def _is(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in {"integer", "number"}:
        return False
    return isinstance(value, _TYPES[name])


def _violations(root: Mapping[str, Any], instance: Any) -> list[str]:
    """What in ``instance`` does not fit ``root`` (empty when it fits)."""
    return list(_check(root, root, instance, "$"))


def _check(root: Mapping[str, Any], schema: Mapping[str, Any], value: Any, path: str) -> Iterator[str]:
    if "$ref" in schema:
        yield from _check(root, _resolve(root, schema["$ref"]), value, path)
    for part in schema.get("allOf", ()):
        yield from _check(root, part, value, path)
    if "anyOf" in schema:
        yield from _check_any(root, schema, value, path)
    if "const" in schema and value != schema["const"]:
        yield f"{path}: {value!r} is not {schema['const']!r}"
    if "enum" in schema and value not in schema["enum"]:
        yield f"{path}: {value!r} is not one of {schema['enum']!r}"
    kind = schema.get("type")
    if kind is not None and not _is(value, kind):
        yield f"{path}: {value!r} is not {kind}"
        return
    if "minimum" in schema and value < schema["minimum"]:
        yield f"{path}: {value!r} is below {schema['minimum']}"
    if schema.get("format") == "date-time":
        try:
            zone = datetime.fromisoformat(value).tzinfo
        except ValueError:
            zone = None
        if zone is None:
            yield f"{path}: {value!r} is no RFC 3339 date-time"
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _check(root, schema["items"], item, f"{path}[{index}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                yield f"{path}: missing {name}"
        for name, item in value.items():
            if name in properties:
                yield from _check(root, properties[name], item, f"{path}.{name}")
            elif kind == "object" and "properties" in schema:
                yield f"{path}: undeclared property {name}"
            elif isinstance(schema.get("additionalProperties"), dict):
                yield from _check(root, schema["additionalProperties"], item, f"{path}.{name}")


def _check_any(root: Mapping[str, Any], schema: Mapping[str, Any], value: Any, path: str) -> Iterator[str]:
    discriminator = schema.get("discriminator")
    if discriminator is not None and isinstance(value, dict):
        tag = value.get(discriminator["propertyName"])
        ref = discriminator["mapping"].get(tag)
        if ref is None:
            yield f"{path}: no schema for tag {tag!r}"
            return
        yield from _check(root, {"$ref": ref}, value, path)
        return
    attempts: list[list[str]] = [list(_check(root, option, value, path)) for option in schema["anyOf"]]
    if all(attempts):
        closest = min(attempts, key=len)
        yield f"{path}: fits no option ({'; '.join(closest)})"
