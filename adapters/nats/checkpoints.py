"""Projection checkpoints in a JetStream object store.

A checkpoint is a projection's snapshot plus the log position it covers. Snapshots of a large
fleet exceed NATS's 1 MiB message limit, so they go to an object store (chunked) rather than a
KV bucket. Losing a checkpoint is harmless: the projection rebuilds from the log, only slower.
"""

from __future__ import annotations

import asyncio

import msgspec
import nats.errors
import nats.js.errors
from nats.js.api import ObjectStoreConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.object_store import ObjectStore

from core.errors import StoreUnavailable
from core.ports import Checkpoint

DEFAULT_BUCKET = "METALSTREAM_CHECKPOINTS"

_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Checkpoint)


class JetStreamCheckpointStore:
    """``core.ports.CheckpointStore`` on a JetStream object store bucket."""

    def __init__(self, js: JetStreamContext, *, bucket: str = DEFAULT_BUCKET, timeout: float = 10.0) -> None:
        self._js = js
        self._bucket = bucket
        self._timeout = timeout
        self._store: ObjectStore | None = None

    async def _bucket_handle(self) -> ObjectStore:
        if self._store is None:
            try:
                self._store = await self._js.object_store(self._bucket)
            except nats.js.errors.BucketNotFoundError:
                config = ObjectStoreConfig(bucket=self._bucket, storage=StorageType.FILE)
                self._store = await self._js.create_object_store(bucket=self._bucket, config=config)
        return self._store

    async def load(self, name: str) -> Checkpoint | None:
        try:
            async with asyncio.timeout(self._timeout):
                store = await self._bucket_handle()
                result = await store.get(name)
        except (nats.js.errors.ObjectNotFoundError, nats.js.errors.ObjectDeletedError):
            return None
        except (TimeoutError, nats.errors.Error) as exc:
            msg = f"cannot read checkpoint {name!r} from {self._bucket}: {type(exc).__name__}"
            raise StoreUnavailable(msg) from exc
        if not result.data:
            return None
        try:
            return _DECODER.decode(result.data)
        except msgspec.DecodeError:
            return None  # a corrupt checkpoint only costs a rebuild from the log

    async def save(self, name: str, checkpoint: Checkpoint) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                store = await self._bucket_handle()
                await store.put(name, _ENCODER.encode(checkpoint))
        except (TimeoutError, nats.errors.Error) as exc:
            msg = f"cannot save checkpoint {name!r} to {self._bucket}: {type(exc).__name__}"
            raise StoreUnavailable(msg) from exc
