"""Metal3's host annotations as commands, and which annotations have been consumed.

Annotations are level-triggered like the spec: the controller compares what the object says with
what the host's state already records, and sends only the difference, so a resync or a restart
sends nothing new. Two kinds of annotation exist:

* held ones (``paused``, ``detached``, keyed ``reboot.metal3.io/<key>``) mean "while present":
  their removal is itself a command (resume, reattach, complete that reboot);
* one-shot ones (``reboot.metal3.io``, ``inspect.metal3.io`` empty, ``inspect.metal3.io/
  hardwaredetails``, ``baremetalhost.metal3.io/status``) are requests: once the request is in the
  log the controller removes the annotation. Metal3 removes the keyless reboot annotation only
  when power is back; here the request is durable in the log as soon as it is recorded, so
  removing it then loses nothing and a user re-adding it asks for a second reboot, as expected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import msgspec

from core.aggregates import host_commands as cmd
from core.aggregates.host_state import HostState
from core.events.host_values import HardwareDetails

PAUSED: Final = "baremetalhost.metal3.io/paused"
DETACHED: Final = "baremetalhost.metal3.io/detached"
STATUS: Final = "baremetalhost.metal3.io/status"
REBOOT: Final = "reboot.metal3.io"
REBOOT_PREFIX: Final = "reboot.metal3.io/"
INSPECT: Final = "inspect.metal3.io"
HARDWARE_DETAILS: Final = "inspect.metal3.io/hardwaredetails"


class AnnotationProblem(ValueError):
    """An annotation's value cannot be used; the annotation is left alone and reported."""

    def __init__(self, annotation: str, message: str) -> None:
        super().__init__(f"annotation {annotation}: {message}")
        self.annotation = annotation
        self.message = message


@dataclass(frozen=True, slots=True)
class AnnotationPlan:
    """Commands to send (in order) and one-shot annotations to remove once they are recorded."""

    commands: tuple[cmd.HostCommand, ...]
    consumed: tuple[str, ...]
    problems: tuple[AnnotationProblem, ...]


def _json_object(annotation: str, value: str) -> Mapping[str, Any]:
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise AnnotationProblem(
            annotation, f'is not JSON ({error.msg}); use e.g. {{"mode": "hard"}}'
        ) from None
    if not isinstance(parsed, dict):
        raise AnnotationProblem(annotation, "must be a JSON object")
    return parsed


def _reboot(annotation: str, value: str, key: str, now: datetime) -> cmd.RequestReboot:
    body = _json_object(annotation, value)
    mode = body.get("mode", "soft") or "soft"
    if mode not in ("soft", "hard"):
        raise AnnotationProblem(annotation, f'mode {mode!r} is not "soft" or "hard"')
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise AnnotationProblem(annotation, "force must be true or false")
    resolved: Literal["soft", "hard"] = "hard" if mode == "hard" else "soft"
    return cmd.RequestReboot(now=now, key=key, mode=resolved, force=force)


def _detach(value: str, now: datetime) -> cmd.Detach:
    body = _json_object(DETACHED, value)
    action = body.get("deleteAction", "delete") or "delete"
    if action not in ("delete", "delay"):
        raise AnnotationProblem(DETACHED, f'deleteAction {action!r} is not "delete" or "delay"')
    force = body.get("force", False)
    if not isinstance(force, bool):
        raise AnnotationProblem(DETACHED, "force must be true or false")
    return cmd.Detach(now=now, delete_action="delay" if action == "delay" else "delete", force=force)


def hardware_details(value: str) -> HardwareDetails:
    """The ``inspect.metal3.io/hardwaredetails`` value as Metal3's HardwareDetails."""
    try:
        return msgspec.json.decode(value.encode(), type=HardwareDetails, strict=False)
    except msgspec.DecodeError as error:
        raise AnnotationProblem(HARDWARE_DETAILS, f"is not HardwareDetails JSON: {error}") from None


def plan(annotations: Mapping[str, str], state: HostState, now: datetime) -> AnnotationPlan:
    """What ``annotations`` ask of a host that is in ``state``."""
    commands: list[cmd.HostCommand] = []
    consumed: list[str] = []
    problems: list[AnnotationProblem] = []

    if PAUSED in annotations and not state.paused:
        commands.append(cmd.Pause(now=now))
    elif PAUSED not in annotations and state.paused:
        commands.append(cmd.Resume(now=now))

    if DETACHED in annotations:
        try:
            detach = _detach(annotations[DETACHED], now)
        except AnnotationProblem as problem:
            problems.append(problem)
        else:
            current = state.detach
            if current is None or (current.delete_action, current.force) != (
                detach.delete_action,
                detach.force,
            ):
                commands.append(detach)
    elif state.detach is not None:
        commands.append(cmd.Reattach(now=now))

    requested = {key for key, _ in state.reboot_requests}
    keyed: set[str] = set()
    for annotation, value in annotations.items():
        if annotation != REBOOT and not annotation.startswith(REBOOT_PREFIX):
            continue
        key = annotation.removeprefix(REBOOT_PREFIX) if annotation != REBOOT else ""
        try:
            request = _reboot(annotation, value, key, now)
        except AnnotationProblem as problem:
            problems.append(problem)
            continue
        if key:
            keyed.add(key)
            if (key, request.mode) not in state.reboot_requests:
                commands.append(request)
        else:
            # One-shot: asked again only after it was consumed (removed) by us.
            if "" not in requested:
                commands.append(request)
            consumed.append(annotation)
    commands.extend(cmd.CompleteReboot(now=now, key=key) for key in sorted(requested - keyed - {""}))

    inspect = annotations.get(INSPECT)
    if inspect is not None and inspect != "disabled":
        if inspect.strip():
            problems.append(AnnotationProblem(INSPECT, 'must be empty (re-inspect) or "disabled"'))
        else:
            commands.append(cmd.RequestInspection(now=now))
            consumed.append(INSPECT)

    if HARDWARE_DETAILS in annotations:
        try:
            commands.append(
                cmd.ProvideHardwareDetails(now=now, hardware=hardware_details(annotations[HARDWARE_DETAILS]))
            )
        except AnnotationProblem as problem:
            problems.append(problem)
        else:
            consumed.append(HARDWARE_DETAILS)

    if STATUS in annotations and state.exists:
        consumed.append(STATUS)  # only used when the host is created (ApplySpec.restored_status)

    return AnnotationPlan(commands=tuple(commands), consumed=tuple(consumed), problems=tuple(problems))
