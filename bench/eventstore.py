"""Event-store benchmark: the JetStream store against raw nats-py doing the same wire work.

Run ``python -m bench.eventstore`` (``--quick`` for a short run). One ``nats-server`` is started
in a temporary directory; every figure and its raw baseline are measured in the same run, so the
ratios hold on whatever machine runs it, even though absolute numbers vary a lot (on the shared
2-core dev machine, by a factor of two between runs).

Sections, each a function taking the ``Bench`` context and returning result rows:

- concurrent appends: many aggregates appended concurrently against ``js.publish_async`` of the
  same subjects, payloads and headers (prepared before the clock starts);
- sequential appends: one aggregate, each append awaited, against awaited ``js.publish``;
- replay: ``read_all`` over the whole log against a raw nats-py ordered consumer that only counts;
- load: loading a 10-event aggregate, by the store's batched Direct Get and by an ordered
  consumer (the alternative ``load`` could use), and one whose events are spread over the whole
  replay log (the server then scans past other subjects' messages).

More sections are added by appending to ``SECTIONS``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nats
import nats.js.api
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from adapters.nats import headers as hdr
from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from core.events.base import Event, EventMetadata, NewEvent
from core.events.codec import EventCodec, encode
from core.ids import AggregateKey
from core.ports import NEW
from metalstream.devstack.nats import NatsServer


class MachineCreated(Event, tag="benchmachine.created", frozen=True, kw_only=True):
    name: str
    rack: str
    cpus: int


class MachinePowered(Event, tag="benchmachine.powered", frozen=True, kw_only=True):
    on: bool
    reason: str


CODECS = {"benchmachine": EventCodec("benchmachine", [MachineCreated, MachinePowered])}


@dataclass(frozen=True)
class Sizes:
    """How much work each section does."""

    concurrent_appends: int
    concurrency: int
    sequential_appends: int
    replay_events: int
    loads: int


QUICK = Sizes(
    concurrent_appends=3_000, concurrency=128, sequential_appends=500, replay_events=20_000, loads=200
)
FULL = Sizes(
    concurrent_appends=20_000, concurrency=256, sequential_appends=3_000, replay_events=200_000, loads=1_000
)


@dataclass(frozen=True)
class Row:
    """One printed figure, with its baseline and target when it has them."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    target_ratio: float | None = None
    target_value: float | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline

    def verdict(self) -> str:
        if self.target_ratio is not None and self.ratio is not None:
            return "ok" if self.ratio >= self.target_ratio else f"BELOW target {self.target_ratio:g}"
        if self.target_value is not None:
            return "ok" if self.value >= self.target_value else f"BELOW target {self.target_value:,.0f}"
        return ""


@dataclass
class Bench:
    """What every section gets: the connection, a store, and the sizes."""

    nc: Client
    js: JetStreamContext
    store: JetStreamEventStore
    sizes: Sizes


Section = Callable[[Bench], Awaitable[list[Row]]]


def machine(name: str) -> AggregateKey:
    return AggregateKey(type="benchmachine", id=f"bench/{name}")


def new_event(number: int) -> NewEvent:
    event: Event = (
        MachineCreated(name=f"machine-{number}", rack=f"rack-{number % 40}", cpus=64)
        if number % 5 == 0
        else MachinePowered(on=number % 2 == 0, reason="scheduled maintenance window")
    )
    return NewEvent(
        event=event,
        meta=EventMetadata(
            event_id=uuid.uuid4().hex,
            occurred_at=datetime.now(UTC),
            actor="bench:eventstore",
            correlation_id=uuid.uuid4().hex,
        ),
    )


def raw_message(
    key: AggregateKey, new: NewEvent, version: int, expected: int
) -> tuple[bytes, dict[str, str]]:
    """The bytes and headers the store would send, for the raw baselines."""
    headers = hdr.HeaderEncoder(key, {type(new.event): (_tag(new.event), "1")}).encode(new, version)
    headers[hdr.EXPECTED_LAST_SUBJECT_SEQUENCE] = str(expected)
    return encode(new.event), headers


def _tag(event: Event) -> str:
    tag = type(event).__struct_config__.tag
    return tag if isinstance(tag, str) else ""


ROUNDS = 4
"""Baseline and store alternate in this many rounds, so load from other processes hits both alike."""


async def measure_concurrent_appends(bench: Bench) -> list[Row]:
    count, workers = bench.sizes.concurrent_appends, bench.sizes.concurrency
    per_round = count // ROUNDS
    raw_time = store_time = 0.0
    for round_number in range(ROUNDS):
        names = [f"{round_number}-{i}" for i in range(per_round)]
        raw_time += await _raw_concurrent(bench, names)
        store_time += await _store_concurrent(bench, names, workers)
    done = per_round * ROUNDS
    return [
        Row(
            f"(a) concurrent appends, {done:,} aggregates, {workers} at a time",
            done / store_time,
            "appends/s",
            baseline=done / raw_time,
            target_ratio=0.7,
        )
    ]


async def _raw_concurrent(bench: Bench, names: list[str]) -> float:
    keys = [machine(f"raw-{name}") for name in names]
    raw = [raw_message(key, new_event(i), 1, 0) for i, key in enumerate(keys)]
    subjects = [bench.store.layout.aggregate(key) for key in keys]
    started = time.perf_counter()
    pending = [
        await bench.js.publish_async(subject, payload, headers=headers)
        for subject, (payload, headers) in zip(subjects, raw, strict=True)
    ]
    await asyncio.gather(*pending)
    return time.perf_counter() - started


async def _store_concurrent(bench: Bench, names: list[str], workers: int) -> float:
    keys = [machine(f"store-{name}") for name in names]
    events = [new_event(i) for i in range(len(keys))]

    async def worker(first: int) -> None:
        for i in range(first, len(keys), workers):
            await bench.store.append(keys[i], [events[i]], expected=NEW)

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for number in range(workers):
            group.create_task(worker(number), name=f"appender-{number}")
    return time.perf_counter() - started


SEQUENTIAL_ROUNDS = 20
"""Sequential appends are pure round-trip latency, the most sensitive to neighbours: alternate often."""


async def measure_sequential_appends(bench: Bench) -> list[Row]:
    per_round = bench.sizes.sequential_appends // SEQUENTIAL_ROUNDS
    raw_key, store_key = machine("sequential-raw"), machine("sequential-store")
    raw_subject = bench.store.layout.aggregate(raw_key)
    raw_last, revision = 0, NEW
    raw_time = store_time = 0.0
    for _ in range(SEQUENTIAL_ROUNDS):
        raw = [raw_message(raw_key, new_event(i), i + 1, 0) for i in range(per_round)]
        started = time.perf_counter()
        for payload, headers in raw:
            headers[hdr.EXPECTED_LAST_SUBJECT_SEQUENCE] = str(raw_last)
            raw_last = (await bench.js.publish(raw_subject, payload, headers=headers)).seq
        raw_time += time.perf_counter() - started

        events = [new_event(i) for i in range(per_round)]
        started = time.perf_counter()
        for new in events:
            revision = await bench.store.append(store_key, [new], expected=revision)
        store_time += time.perf_counter() - started
    done = per_round * SEQUENTIAL_ROUNDS
    return [
        Row(
            f"(b) sequential appends to one aggregate, {done:,}",
            done / store_time,
            "appends/s",
            baseline=done / raw_time,
            target_ratio=0.85,
        )
    ]


async def populate(bench: Bench, count: int) -> None:
    """Write ``count`` events over 1,000 aggregates as fast as nats-py can (not measured)."""
    versions: dict[int, int] = {}
    window: list[asyncio.Future[nats.js.api.PubAck]] = []
    for i in range(count):
        owner = i % 1_000
        versions[owner] = versions.get(owner, 0) + 1
        key = machine(f"replay-{owner}")
        payload, headers = raw_message(key, new_event(i), versions[owner], 0)
        del headers[hdr.EXPECTED_LAST_SUBJECT_SEQUENCE]
        window.append(
            await bench.js.publish_async(bench.store.layout.aggregate(key), payload, headers=headers)
        )
        if len(window) >= 2_000:
            await asyncio.gather(*window)
            window.clear()
    await asyncio.gather(*window)


async def measure_replay(bench: Bench) -> list[Row]:
    await populate(bench, bench.sizes.replay_events)
    total = await bench.store.last_position()

    received = 0
    done = asyncio.Event()

    async def count_message(msg: Msg) -> None:
        nonlocal received
        received += 1
        if received >= total:
            done.set()

    started = time.perf_counter()
    subscription = await bench.js.subscribe(
        bench.store.layout.all_events,
        stream=bench.store.settings.stream,
        cb=count_message,
        ordered_consumer=True,
    )
    async with asyncio.timeout(600):
        await done.wait()
    baseline = total / (time.perf_counter() - started)
    await subscription.unsubscribe()

    read = 0
    started = time.perf_counter()
    async for _ in bench.store.read_all():
        read += 1
    value = read / (time.perf_counter() - started)
    if read != total:
        msg = f"read_all returned {read} events, the log has {total}"
        raise AssertionError(msg)
    return [
        Row(f"(c) replay via read_all, {total:,} events", value, "events/s", target_value=100_000),
        Row("    same, as a share of a raw ordered consumer that only counts", value, "events/s", baseline),
    ]


async def measure_load(bench: Bench) -> list[Row]:
    dense = machine("load-10")
    revision = (await bench.store.load(dense)).revision
    for i in range(10 - revision.version):
        revision = await bench.store.append(dense, [new_event(i + 1)], expected=revision)
    direct = [await _timed(bench.store.load(dense)) for _ in range(bench.sizes.loads)]
    subject = bench.store.layout.aggregate(dense)
    ordered = [
        await _timed(_ordered_consumer_load(bench, subject, 10)) for _ in range(bench.sizes.loads // 4)
    ]
    rows = [
        Row("load of a 10-event aggregate, Direct Get, p50", _p(direct, 50), "ms"),
        Row("load of a 10-event aggregate, Direct Get, p99", _p(direct, 99), "ms"),
        Row("load of a 10-event aggregate, ordered consumer, p50", _p(ordered, 50), "ms"),
    ]
    sparse = machine("replay-7")  # written by the replay section: its events are spread over the log
    events = len((await bench.store.load(sparse)).events)
    if events:
        spread = [await _timed(bench.store.load(sparse)) for _ in range(20)]
        total = await bench.store.last_position()
        name = f"load of a {events}-event aggregate spread over {total:,} events, p50"
        rows.append(Row(name, _p(spread, 50), "ms"))
    return rows


async def _ordered_consumer_load(bench: Bench, subject: str, expected: int) -> None:
    seen = 0
    done = asyncio.Event()

    async def count_message(msg: Msg) -> None:
        nonlocal seen
        seen += 1
        if seen >= expected:
            done.set()

    subscription = await bench.js.subscribe(
        subject, stream=bench.store.settings.stream, cb=count_message, ordered_consumer=True
    )
    async with asyncio.timeout(10):
        await done.wait()
    await subscription.unsubscribe()


async def _timed(operation: Awaitable[object]) -> float:
    started = time.perf_counter()
    await operation
    return (time.perf_counter() - started) * 1_000


def _p(samples: list[float], percentile: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[percentile - 1]


SECTIONS: list[Section] = [
    measure_concurrent_appends,
    measure_sequential_appends,
    measure_replay,
    measure_load,
]
"""Run in order against one server; a new section is one more function here."""


def print_rows(rows: list[Row]) -> None:
    for row in rows:
        line = f"{row.name:<68} {row.value:>12,.2f} {row.unit}"
        if row.baseline:
            line += f"  (raw nats-py {row.baseline:,.0f}, ratio {row.ratio:.2f})"
        verdict = row.verdict()
        print(f"{line}  {verdict}" if verdict else line, flush=True)


async def run(sizes: Sizes, sections: list[Section], *, fsync_always: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="metalstream-bench-") as workdir:
        async with NatsServer(Path(workdir) / "nats", sync_always=fsync_always) as server:
            nc = await nats.connect(server.url, max_reconnect_attempts=1)
            try:
                store = await JetStreamEventStore.connect(
                    nc, CODECS, settings=StoreSettings(request_timeout=30)
                )
                bench = Bench(nc=nc, js=nc.jetstream(timeout=30), store=store, sizes=sizes)
                fsync = "every acked message (sync_interval: always)" if fsync_always else "server default"
                print(
                    f"nats-server {server.url}; fsync: {fsync}; python {sys.version.split()[0]}", flush=True
                )
                for section in sections:
                    print_rows(await section(bench))
                await store.close()
            finally:
                await nc.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--appends", type=int, help="concurrent appends (a)")
    parser.add_argument("--concurrency", type=int, help="appends in flight at once (a)")
    parser.add_argument("--sequential", type=int, help="sequential appends (b)")
    parser.add_argument("--replay", type=int, help="events to replay (c)")
    parser.add_argument("--only", help="run only the sections whose function name contains this")
    parser.add_argument(
        "--fsync-always", action="store_true", help="fsync every message, as the dev stack does (disk-bound)"
    )
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        concurrent_appends=args.appends or base.concurrent_appends,
        concurrency=args.concurrency or base.concurrency,
        sequential_appends=args.sequential or base.sequential_appends,
        replay_events=args.replay or base.replay_events,
        loads=base.loads,
    )
    sections = [s for s in SECTIONS if args.only is None or args.only in s.__name__]
    asyncio.run(run(sizes, sections, fsync_always=args.fsync_always))


if __name__ == "__main__":
    main()
