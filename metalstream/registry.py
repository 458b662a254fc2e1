"""Every aggregate type this build knows, with its codec: the one place to add a new one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.aggregates import data_templates, hosts, ippools, machines, remediations
from core.aggregates.base import AggregateDefinition
from core.events.codec import EventCodec

DEFINITIONS: Mapping[str, AggregateDefinition[Any, Any]] = {
    hosts.DEFINITION.type: hosts.DEFINITION,
    ippools.DEFINITION.type: ippools.DEFINITION,
    data_templates.DEFINITION.type: data_templates.DEFINITION,
    machines.DEFINITION.type: machines.DEFINITION,
    remediations.DEFINITION.type: remediations.DEFINITION,
}

CODECS: Mapping[str, EventCodec] = {name: d.codec for name, d in DEFINITIONS.items()}
