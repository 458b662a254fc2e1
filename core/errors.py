"""The domain's error tree.

Each layer has one root exception (style rule 13). ``DomainError`` is what a rejected command
raises; it always names the rule that was broken and the state the aggregate was in, because the
person reading it is usually looking at ``kubectl describe`` and needs to know what to change.
"""

from __future__ import annotations


class DomainError(Exception):
    """Root of every error raised by pure domain code."""


class CommandRejected(DomainError):
    """A command broke an invariant of its aggregate; nothing was recorded."""

    def __init__(self, *, rule: str, state: str, detail: str) -> None:
        self.rule = rule
        self.state = state
        self.detail = detail
        super().__init__(f"{detail} (rule: {rule}; current state: {state})")


class AggregateNotFound(DomainError):
    """A command needs an aggregate that has no events yet."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"{key} does not exist: create it first")


class ConcurrencyConflict(DomainError):
    """Another writer appended to the aggregate after we read it (optimistic concurrency)."""

    def __init__(self, key: str, *, expected: int, actual: int | None) -> None:
        self.key = key
        self.expected = expected
        self.actual = actual
        shown = "unknown" if actual is None else str(actual)
        super().__init__(f"{key}: expected last position {expected}, store has {shown}; reload and retry")


class StoreUnavailable(DomainError):
    """The event store could not be reached in time; the append may or may not have happened."""
