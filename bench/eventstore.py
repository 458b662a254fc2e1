"""Event-store benchmark: the JetStream store against raw nats-py doing the same wire work.

Run ``python -m bench.eventstore`` (``--quick`` for a short run). One ``nats-server`` is started
in a temporary directory; every figure and its raw baseline are measured in the same run, so the
ratios hold on whatever machine runs it, even though absolute numbers vary a lot (on the shared
2-core dev machine, by a factor of two between runs).

Sections, each a function taking the ``Bench`` context and returning result rows:

- concurrent appends: many aggregates appended concurrently against ``js.publish_async`` of the
  same subjects, payloads and headers (prepared before the clock starts);
- sequential appends: one aggregate, each append awaited, against awaited ``js.publish``;
- replay: ``read_all`` over the whole log (200,000 events; 20,000 with ``--quick``) against a raw
  nats-py ordered consumer that only counts, alternating, and once through nats-py (the path
  ``read_all`` falls back to for clients it cannot reproduce, see ``adapters.nats.rawconn``);
- load: loading a 10-event aggregate, by the store's batched Direct Get and by an ordered
  consumer (the alternative ``load`` could use), and one whose events are spread over the whole
  replay log (the server then scans past other subjects' messages);
- cached aggregate load: ``CommandHandler.load`` of hosts it has just created through
  ``CommandHandler.handle(ApplySpec)`` (served from its cache), and the same loads by a fresh
  handler (each one a Direct Get).

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
from typing import Any

import msgspec
import nats
import nats.js.api
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

from adapters.nats import wire
from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from core.aggregates import hosts
from core.aggregates.host_commands import ApplySpec, HostCommand
from core.aggregates.host_state import HostState
from core.events.base import Event, EventMetadata, NewEvent
from core.events.codec import EventCodec
from core.events.host_values import BMCDetails, HostSpec
from core.ids import AggregateKey
from core.ports import NEW
from metalstream import registry
from metalstream.commanding import CommandContext, CommandHandler
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
    hosts: int


QUICK = Sizes(
    concurrent_appends=3_000,
    concurrency=128,
    sequential_appends=500,
    replay_events=20_000,
    loads=200,
    hosts=200,
)
FULL = Sizes(
    concurrent_appends=20_000,
    concurrency=256,
    sequential_appends=3_000,
    replay_events=200_000,
    loads=1_000,
    hosts=1_000,
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
    target_max: float | None = None
    """For latencies: the value must not exceed this."""
    baseline_label: str | None = None
    """What the baseline is, when it is not the section's usual one."""

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline

    def verdict(self) -> str:
        if self.target_ratio is not None and self.ratio is not None:
            return "ok" if self.ratio >= self.target_ratio else f"BELOW target {self.target_ratio:g}"
        if self.target_value is not None:
            return "ok" if self.value >= self.target_value else f"BELOW target {self.target_value:,.0f}"
        if self.target_max is not None:
            return "ok" if self.value <= self.target_max else f"ABOVE target {self.target_max:g}"
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
    body, headers = wire.DocumentEncoder(key, {type(new.event): (_tag(new.event), 1)}).encode(new, version)
    headers[wire.EXPECTED_LAST_SUBJECT_SEQUENCE] = str(expected)
    return body, headers


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
            headers[wire.EXPECTED_LAST_SUBJECT_SEQUENCE] = str(raw_last)
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
        del headers[wire.EXPECTED_LAST_SUBJECT_SEQUENCE]
        window.append(
            await bench.js.publish_async(bench.store.layout.aggregate(key), payload, headers=headers)
        )
        if len(window) >= 2_000:
            await asyncio.gather(*window)
            window.clear()
    await asyncio.gather(*window)


REPLAY_ROUNDS = 2
"""The raw consumer and ``read_all`` alternate this many times over the whole log."""


async def measure_replay(bench: Bench) -> list[Row]:
    # Earlier sections' appends count towards the log that is replayed.
    await populate(bench, max(0, bench.sizes.replay_events - await bench.store.last_position()))
    total = await bench.store.last_position()
    raw_time = store_time = 0.0
    for _ in range(REPLAY_ROUNDS):
        raw_time += await _raw_replay(bench, total)
        store_time += await _timed_replay(bench.store, total)
    through_nats_py = await _timed_replay(_store_like(bench, fast_replay=False), total)
    return [
        Row(
            f"(c) replay via read_all, {total:,} events",
            total * REPLAY_ROUNDS / store_time,
            "events/s",
            baseline=total * REPLAY_ROUNDS / raw_time,
            target_value=100_000,
        ),
        Row(
            "    same, read_all through nats-py (no raw connection: nkeys, creds)",
            total / through_nats_py,
            "events/s",
            baseline=total * REPLAY_ROUNDS / raw_time,
        ),
    ]


async def _raw_replay(bench: Bench, total: int) -> float:
    """Seconds a raw nats-py ordered consumer takes to receive (and only count) the whole log."""
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
    elapsed = time.perf_counter() - started
    await subscription.unsubscribe()
    return elapsed


async def _timed_replay(store: JetStreamEventStore, total: int) -> float:
    """Seconds ``read_all`` takes over the whole log (checking it returns every event)."""
    read = 0
    started = time.perf_counter()
    async for _ in store.read_all():
        read += 1
    elapsed = time.perf_counter() - started
    if read != total:
        msg = f"read_all returned {read} events, the log has {total}"
        raise AssertionError(msg)
    return elapsed


def _store_like(bench: Bench, **changes: Any) -> JetStreamEventStore:
    settings = msgspec.structs.replace(bench.store.settings, **changes)
    return JetStreamEventStore(bench.nc, CODECS, settings=settings)


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


async def measure_cached_load(bench: Bench) -> list[Row]:
    store = await JetStreamEventStore.connect(bench.nc, registry.CODECS, settings=bench.store.settings)
    try:
        handler: CommandHandler[HostState, HostCommand] = CommandHandler(store, hosts.DEFINITION)
        ids = [f"bench/host-{number}" for number in range(bench.sizes.hosts)]
        started = time.perf_counter()
        await _create_hosts(handler, ids)
        created = len(ids) / (time.perf_counter() - started)
        cached = [await _timed(handler.load(host)) for host in ids for _ in range(3)]
        fresh: CommandHandler[HostState, HostCommand] = CommandHandler(store, hosts.DEFINITION)
        cold = [await _timed(fresh.load(host)) for host in ids]
    finally:
        await store.close()
    return [
        Row(f"(d) hosts created by CommandHandler.handle(ApplySpec), {len(ids):,}", created, "hosts/s"),
        Row("    CommandHandler.load of a cached host, p50", _p(cached, 50), "ms", target_max=0.1),
        Row("    CommandHandler.load of a cached host, p99", _p(cached, 99), "ms"),
        Row("    CommandHandler.load by a fresh handler (a Direct Get), p50", _p(cold, 50), "ms"),
        Row("    CommandHandler.load by a fresh handler (a Direct Get), p99", _p(cold, 99), "ms"),
    ]


async def _create_hosts(handler: CommandHandler[HostState, HostCommand], ids: list[str]) -> None:
    now = datetime.now(UTC)
    context = CommandContext(actor="bench")

    async def create(first: int) -> None:
        for index in range(first, len(ids), 32):
            namespace, name = ids[index].split("/")
            spec = HostSpec(
                bmc=BMCDetails(address=f"redfish://192.0.2.{index % 250}/redfish/v1/Systems/1"),
                online=True,
                boot_mac_address=f"52:54:00:00:{index // 256 % 256:02x}:{index % 256:02x}",
            )
            command = ApplySpec(now=now, namespace=namespace, name=name, uid=name, generation=1, spec=spec)
            await handler.handle(ids[index], command, context)

    async with asyncio.TaskGroup() as group:
        for first in range(32):
            group.create_task(create(first), name=f"creator-{first}")


SECTIONS: list[Section] = [
    measure_concurrent_appends,
    measure_sequential_appends,
    measure_replay,
    measure_load,
    measure_cached_load,
]
"""Run in order against one server; a new section is one more function here."""


def print_rows(rows: list[Row]) -> None:
    for row in rows:
        figure = f"{row.value:>12,.4f}" if row.unit == "ms" and row.value < 1 else f"{row.value:>12,.2f}"
        line = f"{row.name:<68} {figure} {row.unit}"
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
    parser.add_argument("--hosts", type=int, help="hosts to create and load (d)")
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
        hosts=args.hosts or base.hosts,
    )
    sections = [s for s in SECTIONS if args.only is None or args.only in s.__name__]
    asyncio.run(run(sizes, sections, fsync_always=args.fsync_always))


if __name__ == "__main__":
    main()
