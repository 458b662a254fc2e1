"""Live progress of the dev stack's hosts, read from the API server as a user would see it.

The numbers come from the BareMetalHosts' ``status.provisioning.state`` (what ``kubectl get bmh``
shows), through an informer (list, then watch), so the display reflects the status the control
plane wrote, not some internal view. ``summarize`` and ``render`` are pure; ``Display`` decides how
a line reaches the terminal: redrawn in place on a TTY (with the elapsed time ticking), one line
per change otherwise (logs and tests see each step once). A host with an error shows its
``errorType`` and ``errorMessage`` once, on a line of its own; they never hold secrets.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from adapters.k8s.connection import Connection
from adapters.k8s.crds import catalog
from adapters.k8s.informer import Informer

PROVISIONED: Final = "provisioned"
NO_STATUS: Final = "waiting"
"""Shown for a host the control plane has not written a status for yet."""
LIFECYCLE: Final = (
    NO_STATUS,
    "unmanaged",
    "registering",
    "inspecting",
    "match profile",
    "preparing",
    "available",
    "provisioning",
    PROVISIONED,
    "externally provisioned",
    "deprovisioning",
    "powering off before delete",
    "deleting",
    "detached",
)
"""Metal3's provisioning states in the order a host passes them (unknown ones are shown last)."""
BAR_WIDTH: Final = 30
_TICK: Final = 1.0


@dataclass(frozen=True, slots=True)
class Summary:
    """How many of the expected hosts are in each state, and which have an error."""

    total: int
    counts: Mapping[str, int]
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def provisioned(self) -> int:
        return self.counts.get(PROVISIONED, 0)

    @property
    def done(self) -> bool:
        return self.total > 0 and self.provisioned == self.total


def state_of(host: Mapping[str, Any]) -> str:
    """A BareMetalHost's provisioning state, or ``NO_STATUS``."""
    status = host.get("status") or {}
    return str((status.get("provisioning") or {}).get("state") or NO_STATUS)


def error_of(host: Mapping[str, Any]) -> str | None:
    """``errorType: errorMessage`` of a host with an error, else None."""
    status = host.get("status") or {}
    kind = status.get("errorType")
    return f"{kind}: {status.get('errorMessage') or ''}".rstrip(": ") if kind else None


def summarize(hosts: Mapping[str, Mapping[str, Any]], expected: Iterable[str]) -> Summary:
    """Tally the ``expected`` hosts (by ``namespace/name``); one not listed yet counts as waiting."""
    counts: Counter[str] = Counter()
    errors: dict[str, str] = {}
    total = 0
    for key in expected:
        total += 1
        host = hosts.get(key) or {}
        counts[state_of(host)] += 1
        if (error := error_of(host)) is not None:
            errors[key] = error
    return Summary(total=total, counts=dict(counts), errors=errors)


def _order(state: str) -> tuple[int, str]:
    return (LIFECYCLE.index(state) if state in LIFECYCLE else len(LIFECYCLE), state)


def render(summary: Summary, *, width: int = BAR_WIDTH) -> str:
    """``[#####-----] 3/8 provisioned | registering 2, inspecting 3, provisioned 3``."""
    filled = width * summary.provisioned // summary.total if summary.total else 0
    bar = "#" * filled + "-" * (width - filled)
    states = ", ".join(f"{state} {summary.counts[state]}" for state in sorted(summary.counts, key=_order))
    errors = f" | {len(summary.errors)} with errors" if summary.errors else ""
    return f"[{bar}] {summary.provisioned}/{summary.total} provisioned | {states}{errors}"


class Display:
    """Writes progress lines: in place on a TTY, one line per change otherwise."""

    def __init__(self, out: TextIO, *, tty: bool | None = None) -> None:
        self._out = out
        self._tty = out.isatty() if tty is None else tty
        self._last = ""
        self._reported: dict[str, str] = {}
        self._started = time.monotonic()

    def show(self, summary: Summary) -> None:
        for key, error in sorted(summary.errors.items()):
            if self._reported.get(key) != error:
                self._reported[key] = error
                self._line(f"  ! {key}: {error}")
        line = render(summary)
        if self._tty:
            elapsed = time.monotonic() - self._started
            self._out.write(f"\r\x1b[K{line} | {elapsed:.0f}s")
            self._out.flush()
        elif line != self._last:
            self._line(line)
        self._last = line

    def finish(self, text: str) -> None:
        self._line(text)

    def _line(self, text: str) -> None:
        prefix = "\r\x1b[K" if self._tty else ""
        self._out.write(f"{prefix}{text}\n")
        if self._tty and self._last:
            self._out.write(self._last)  # keep the live line under the message
        self._out.flush()


async def follow(
    conn: Connection, expected: Sequence[str], *, display: Display, namespace: str | None = None
) -> Summary:
    """Show progress until every ``expected`` host (``namespace/name``) is provisioned; return the tally."""
    changed = asyncio.Event()
    informer = Informer(
        conn,
        catalog.by_kind("BareMetalHost").resource,
        namespace=namespace,
        handler=lambda _key: changed.set(),
    )
    async with asyncio.TaskGroup() as group:
        watching = group.create_task(informer.run(), name="dev.progress.informer")
        try:
            while True:
                summary = summarize(informer.cache, expected)
                if informer.synced.is_set():  # before the first list every host would look new
                    display.show(summary)
                    if summary.done:
                        return summary
                changed.clear()
                try:
                    async with asyncio.timeout(_TICK):
                        await changed.wait()
                except TimeoutError:
                    pass  # redraw the elapsed time
        finally:
            watching.cancel()
