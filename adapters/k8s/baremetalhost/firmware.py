"""HostFirmwareSettings + HostFirmwareComponents -> the host's ``ApplyFirmwareConfig`` declaration.

Metal3 keeps BIOS settings and firmware updates out of the BareMetalHost: two objects named like
the host hold them, and the host prepares again when either asks for something not yet applied.
Here both objects become one declaration on the host aggregate, which owns the "changed since
last prepared" decision; this module only reads them. Each object's ``metadata.generation``
travels with it so the aggregate never records an older read over a newer one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from adapters.k8s.baremetalhost.ports import FirmwareObjects
from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState
from core.aggregates.host_validation import validate_firmware
from core.errors import CommandRejected
from core.events.host_values import FirmwareUpdate


class FirmwareProblem(ValueError):
    """An object the CRD schema let through but that cannot be read (names the field)."""


def generation(obj: Mapping[str, Any] | None) -> int:
    """The object's ``metadata.generation``; 0 when it does not exist."""
    if obj is None:
        return 0
    return int((obj.get("metadata") or {}).get("generation") or 0)


def _settings(obj: Mapping[str, Any] | None) -> dict[str, str]:
    if obj is None:
        return {}
    raw = (obj.get("spec") or {}).get("settings") or {}
    if not isinstance(raw, Mapping):
        msg = "HostFirmwareSettings spec.settings must be a map of setting name to value"
        raise FirmwareProblem(msg)
    settings: dict[str, str] = {}
    for name, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            msg = f"HostFirmwareSettings spec.settings.{name} must be a string or an integer"
            raise FirmwareProblem(msg)
        settings[str(name)] = str(value)
    return settings


def _updates(obj: Mapping[str, Any] | None) -> tuple[FirmwareUpdate, ...]:
    if obj is None:
        return ()
    raw = (obj.get("spec") or {}).get("updates") or []
    updates: list[FirmwareUpdate] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            msg = f"HostFirmwareComponents spec.updates[{index}] must be an object with component and url"
            raise FirmwareProblem(msg)
        updates.append(
            FirmwareUpdate(component=str(entry.get("component", "")), url=str(entry.get("url", "")))
        )
    return tuple(updates)


def declaration(found: FirmwareObjects, now: datetime) -> cmd.ApplyFirmwareConfig:
    """What the two objects declare; ``FirmwareProblem`` if either cannot be read."""
    return cmd.ApplyFirmwareConfig(
        now=now,
        settings=_settings(found.settings),
        updates=_updates(found.components),
        settings_generation=generation(found.settings),
        updates_generation=generation(found.components),
    )


def settings_problem(obj: Mapping[str, Any]) -> str | None:
    """Why a HostFirmwareSettings object cannot be applied (its ``Valid`` condition), or None."""
    try:
        validate_firmware(_settings(obj), (), HostState())
    except (FirmwareProblem, CommandRejected) as problem:
        return str(problem)
    return None


def _stamp(now: datetime) -> str:
    return now.isoformat(timespec="seconds").replace("+00:00", "Z")


def _condition(
    obj: Mapping[str, Any], kind: str, status: str, reason: str, message: str, now: datetime
) -> dict[str, Any]:
    before = {c.get("type"): c for c in ((obj.get("status") or {}).get("conditions") or [])}
    old = before.get(kind)
    same = old is not None and old.get("status") == status
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation(obj),
        "lastTransitionTime": str(old.get("lastTransitionTime")) if old and same else _stamp(now),
    }


def settings_status(obj: Mapping[str, Any], state: HostState, now: datetime) -> dict[str, Any]:
    """HostFirmwareSettings ``status``: the settings applied and Metal3's two conditions.

    ``settings`` are those the last preparation applied (Metal3 shows every setting Ironic
    reports; metalstream knows the ones it set). ``ChangeDetected`` is True while the spec asks
    for a value not yet applied; ``Valid`` is False, with the reason, when the spec is refused.
    """
    problem = settings_problem(obj)
    applied = dict(state.prepared_firmware_settings)
    wanted = {} if problem else _settings(obj)
    changed = any(applied.get(name) != value for name, value in wanted.items())
    return {
        "settings": applied,
        "lastUpdated": _stamp(now),
        "conditions": [
            _condition(obj, "ChangeDetected", "True" if changed else "False", "Success", "", now),
            _condition(
                obj,
                "Valid",
                "False" if problem else "True",
                "ConfigurationError" if problem else "Success",
                problem or "",
                now,
            ),
        ],
    }
