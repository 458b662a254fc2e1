"""In-memory checkpoint store for unit tests of projections."""

from __future__ import annotations

from core.ports import Checkpoint


class MemoryCheckpointStore:
    """``core.ports.CheckpointStore`` in a dict."""

    def __init__(self) -> None:
        self.saved: dict[str, Checkpoint] = {}
        self.saves = 0

    async def load(self, name: str) -> Checkpoint | None:
        return self.saved.get(name)

    async def save(self, name: str, checkpoint: Checkpoint) -> None:
        self.saved[name] = checkpoint
        self.saves += 1
