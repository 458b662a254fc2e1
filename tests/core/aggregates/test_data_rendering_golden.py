"""Golden templates: realistic Metal3DataTemplates rendered for one machine, compared key for key.

Each ``golden/<case>.yaml`` holds a template spec exactly as ``kubectl get m3dt -o yaml`` shows
it and the machine's inputs; ``golden/<case>.expected.json`` holds the pools it must claim and
the two documents CAPM3 would write. The expected files are written by hand from CAPM3's
rendering rules, not generated, so a change in output is a change in behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from core.aggregates.data_rendering import RenderingInput, referenced_pools, render
from core.aggregates.data_template_validation import problems
from core.events.data_template_values import DataTemplateSpec, IPPoolReference

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(path.stem for path in GOLDEN.glob("*.yaml"))


def _load(case: str) -> tuple[dict[str, Any], DataTemplateSpec, RenderingInput, dict[str, Any]]:
    source = yaml.safe_load((GOLDEN / f"{case}.yaml").read_text())
    spec = msgspec.convert(source["template"], DataTemplateSpec)
    inputs = msgspec.convert(source["inputs"], RenderingInput)
    expected = json.loads((GOLDEN / f"{case}.expected.json").read_text())
    return source, spec, inputs, expected


def test_there_are_golden_cases() -> None:
    assert {"dual_stack", "bonds_and_vlans", "dhcp_and_routes", "every_metadata_source"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_template_decodes_without_losing_a_field(case: str) -> None:
    # The structs ignore unknown fields (events must); a round trip catches a misspelt key.
    source, spec, _, _ = _load(case)
    assert msgspec.json.decode(msgspec.json.encode(spec)) == source["template"]


@pytest.mark.parametrize("case", CASES)
def test_template_passes_validation(case: str) -> None:
    _, spec, _, _ = _load(case)
    assert list(problems(spec)) == []


@pytest.mark.parametrize("case", CASES)
def test_referenced_pools_match_golden(case: str) -> None:
    _, spec, inputs, expected = _load(case)
    wanted = msgspec.convert(expected["pools"], dict[str, IPPoolReference])
    assert referenced_pools(spec, inputs.objects) == wanted


@pytest.mark.parametrize("case", CASES)
def test_rendered_meta_data_matches_golden(case: str) -> None:
    _, spec, inputs, expected = _load(case)
    assert render(spec, inputs).meta_data == expected["metaData"]


@pytest.mark.parametrize("case", CASES)
def test_rendered_network_data_matches_golden(case: str) -> None:
    _, spec, inputs, expected = _load(case)
    assert render(spec, inputs).network_data == expected["networkData"]


@pytest.mark.parametrize("case", CASES)
def test_links_and_networks_keep_capm3_order(case: str) -> None:
    _, spec, inputs, expected = _load(case)
    network = render(spec, inputs).network_data
    if network is None:
        assert expected["networkData"] is None
        return
    for section in ("links", "networks"):
        ids = [entry["id"] for entry in network[section]]
        assert ids == [entry["id"] for entry in expected["networkData"][section]]
