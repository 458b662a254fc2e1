"""What a reconcile returns and the timing it is computed from.

Kept apart from the provisioner so the scheduling loop (which only needs ``ReconcileResult``) and
the phase helpers can share these without importing the provisioner's state machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class ProvisionerSettings:
    """Timing and limits. The defaults are Metal3's; tests shrink the intervals."""

    short_requeue: float = 3.0
    """Seconds before looking again after a quick step (manage, provide, power, locked node)."""
    long_requeue: float = 10.0
    """Seconds between polls of a long step (inspect, clean, deploy)."""
    steady_requeue: float = 60.0
    """Seconds between power checks of a host at rest."""
    jitter: float = 0.25
    """Up to this fraction is added to every requeue, so a fleet does not poll in step."""
    transient_backoff_max: float = 120.0
    """Cap of the growing delay while Ironic is unreachable."""
    provisioning_limit: int = 20
    """Metal3's PROVISIONING_LIMIT: hosts busy in Ironic at once (0: no limit)."""
    capacity_recount: float = 10.0
    """Seconds between listings of every node while the limit is reached (nodes made busy by
    others); our own nodes are counted as they are read. Without reaching it, every 6x that."""
    soft_power_off_timeout: int = 180


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """When to reconcile the host again (None: only when its state changes)."""

    requeue_after: float | None


DONE: Final = ReconcileResult(None)


class Requeue:
    """Builds jittered requeue results from the settings' intervals."""

    def __init__(self, settings: ProvisionerSettings, rng: Callable[[], float]) -> None:
        self._settings = settings
        self._rng = rng

    def after(self, seconds: float) -> ReconcileResult:
        return ReconcileResult(seconds * (1 + self._settings.jitter * self._rng()))

    def short(self) -> ReconcileResult:
        return self.after(self._settings.short_requeue)

    def long(self) -> ReconcileResult:
        return self.after(self._settings.long_requeue)

    def steady(self) -> ReconcileResult:
        return self.after(self._settings.steady_requeue)
