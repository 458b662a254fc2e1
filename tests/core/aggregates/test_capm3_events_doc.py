"""docs/events.md lists every data template, machine and remediation event type.

``python -m tests.core.aggregates.test_capm3_events_doc`` prints the three tables, to paste
between their markers in docs/events.md after adding an event type.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import msgspec
import pytest

from core.events.base import Event
from core.events.data_templates import DATA_TEMPLATE_EVENT_CLASSES
from core.events.machines import MACHINE_EVENT_CLASSES
from core.events.remediations import REMEDIATION_EVENT_CLASSES

DOC = Path(__file__).parents[3] / "docs" / "events.md"
SECTIONS: dict[str, tuple[type[Event], ...]] = {
    "datatemplate": DATA_TEMPLATE_EVENT_CLASSES,
    "machine": MACHINE_EVENT_CLASSES,
    "remediation": REMEDIATION_EVENT_CLASSES,
}


def _tag(cls: type[msgspec.Struct]) -> str:
    tag = cls.__struct_config__.tag
    assert isinstance(tag, str)
    return tag


def render(classes: tuple[type[Event], ...]) -> str:
    lines = ["| `type` | class | meaning |", "| --- | --- | --- |"]
    for cls in classes:
        summary = " ".join((inspect.getdoc(cls) or "").split("\n\n")[0].split())
        meaning = summary.replace("``", "`").replace("|", "\\|")
        lines.append(f"| `{_tag(cls)}` | `{cls.__name__}` | {meaning} |")
    return "\n".join(lines) + "\n"


def _documented_rows(section: str) -> list[tuple[str, str]]:
    pattern = re.compile(rf"<!-- {section}-events:start -->\n(.*?)<!-- {section}-events:end -->", re.DOTALL)
    found = pattern.search(DOC.read_text())
    assert found is not None, f"{DOC.name} has no {section}-events section"
    return re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", found.group(1), re.MULTILINE)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_every_event_type_is_documented_under_its_aggregate(section: str) -> None:
    expected = [(_tag(cls), cls.__name__) for cls in SECTIONS[section]]
    assert _documented_rows(section) == expected, (
        f"{DOC.name}'s {section} table is out of date; regenerate it with "
        "`python -m tests.core.aggregates.test_capm3_events_doc`"
    )


if __name__ == "__main__":
    for name, event_classes in SECTIONS.items():
        print(f"<!-- {name}-events:start -->\n{render(event_classes)}<!-- {name}-events:end -->\n")
