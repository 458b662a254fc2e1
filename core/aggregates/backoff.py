"""Retry timing after a recorded host failure.

Metal3 requeues a failed host after 2^n minutes (n = consecutive errors, capped at 9) minus up to
half of that as jitter, so a fleet that failed together does not retry together. Here the same
rule is exposed as a point in time ("retry not before") recorded in the failure event, and the
jitter is an input so the decision stays reproducible.
"""

from __future__ import annotations

from datetime import datetime, timedelta

MAX_EXPONENT = 9
"""2^9 = 512 minutes is the longest wait (between 256 and 512 minutes after jitter)."""


def retry_delay(error_count: int, jitter: float) -> timedelta:
    """Wait after the ``error_count``-th consecutive failure; ``jitter`` in [0, 1) removes up to 50%."""
    if error_count < 1:
        msg = f"error_count must be at least 1, got {error_count}"
        raise ValueError(msg)
    if not 0.0 <= jitter < 1.0:
        msg = f"jitter must be in [0, 1), got {jitter}"
        raise ValueError(msg)
    base = timedelta(minutes=2 ** min(error_count, MAX_EXPONENT))
    return base - base * (jitter / 2)


def retry_not_before(now: datetime, error_count: int, jitter: float) -> datetime:
    """The earliest time a failed operation may be tried again."""
    return now + retry_delay(error_count, jitter)
