"""IPAM benchmark: claims allocating addresses from ONE IP pool through the command handler.

Run ``python -m bench.ipam`` (``--allocations N``, default 2,000; ``--claimers``, default 16).
One ``nats-server`` is started in a temporary directory; every figure and its baseline are
measured in the same run.

Sections:

- (a) one process: ``--claimers`` tasks share one ``CommandHandler`` and allocate N addresses
  from one /16 pool (sequential). Baseline: raw nats-py publishing the same number of
  ``ippool.address_allocated`` documents (the bytes the store writes) to one subject with
  ``Nats-Expected-Last-Subject-Sequence``, by as many tasks taking turns under one lock: the
  least one consistency boundary costs, as each append needs the previous one's sequence.
  Baseline and handler alternate in rounds.
- (b) two processes: N allocations from a fresh pool by this process, and N/2 more by a worker
  process (``python -m bench.ipam --worker``, its own connection, handler and claimers) that
  starts once this process has done a quarter of its share. Printed: the combined rate, the
  concurrency conflicts both handlers met, what one costs (reading the events the other writer
  appended; baseline: reading the whole pool, as a conflict did before), and duplicates, checked
  twice: among the addresses the claims were given, and in the pool's history read back.
- (c) pure core: ``decide`` + ``evolve`` filling a whole /16 (65,535 addresses: as in Metal3, a
  subnet-only range ends at the broadcast address), sequentially and at random, and replaying
  that history. Baseline: Metal3's algorithm (rebuild the in-use set from every allocation, then
  scan the range from its start) for the same first allocations.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import msgspec
import nats
from nats.js.client import JetStreamContext

from adapters.nats import wire
from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.settings import StoreSettings
from bench.eventstore import Row
from core.aggregates import ip_ranges, ippools
from core.aggregates import ippool_commands as cmd
from core.aggregates.ippool_state import PoolState
from core.errors import ConcurrencyConflict
from core.events import ippools as ev
from core.events.base import Event, EventMetadata, NewEvent
from core.events.ippool_values import AddressRange, PoolRef, PoolSpec
from core.ids import AggregateKey
from core.ports import Revision
from metalstream import logs, registry
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.devstack.nats import NatsServer

Handler = CommandHandler[PoolState, cmd.PoolCommand]

CONTEXT: Final = CommandContext(actor="bench:ipam")
SETTINGS: Final = StoreSettings(request_timeout=30)
SLASH_16: Final = PoolSpec(name_prefix="bench", pools=(AddressRange(subnet="10.0.0.0/16"),))
ROUNDS: Final = 4
"""Baseline and handler alternate in this many rounds in (a), so neighbours' load hits both alike."""
TARGET: Final = 1_000.0
"""Allocations per second the handler should sustain on one pool."""
WORKER_TIMEOUT: Final = 900.0
REPORT_LIMIT: Final = 1 << 26
CATCH_UP: Final = 32
"""Events a writer that lost a race typically lacks: one per claimer of the other process."""
"""Bytes one line of the worker's output may have: its report lists every address it was given."""
METAL3_SCAN: Final = 3_000
"""Allocations the Metal3-style baseline makes in (c); it is quadratic."""


def show(rows: list[Row], baseline: str) -> None:
    """Print rows like ``bench.eventstore`` does, naming what the baseline is."""
    for row in rows:
        line = f"{row.name:<78} {row.value:>12,.2f} {row.unit}"
        if row.baseline:
            line += f"  ({row.baseline_label or baseline} {row.baseline:,.0f}, ratio {row.ratio:.2f})"
        verdict = row.verdict()
        print(f"{line}  {verdict}" if verdict else line, flush=True)


@dataclass(frozen=True)
class Options:
    """How much work (a) and (b) do."""

    allocations: int
    claimers: int


class WorkerReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the worker process prints as its last line."""

    addresses: dict[str, str]
    conflicts: int
    gave_up: int
    seconds: float


@dataclass
class Claimed:
    """What one process's claimers got."""

    addresses: dict[str, str] = field(default_factory=dict)
    gave_up: int = 0
    """Commands the handler gave up on after repeated conflicts (the claimer asks again)."""
    conflicts: int = 0
    seconds: float = 0.0


async def create_pool(handler: Handler, pool_id: str, spec: PoolSpec = SLASH_16) -> None:
    namespace, name = pool_id.split("/")
    command = cmd.ApplyPoolSpec(namespace=namespace, name=name, uid=uuid.uuid4().hex, generation=1, spec=spec)
    await handler.handle(pool_id, command, CONTEXT)


async def claim_all(
    handler: Handler,
    pool_id: str,
    claims: list[str],
    claimers: int,
    *,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
) -> Claimed:
    """Allocate an address to every claim, ``claimers`` at a time; a lost race is asked again."""
    result = Claimed()
    pending: Iterator[str] = iter(claims)
    before = handler.conflicts

    async def claimer(number: int) -> None:
        rng = random.Random(seed * 1_000 + number)
        for claim in pending:
            command = cmd.AllocateAddress(claim=claim, choice=rng.getrandbits(64))
            while True:
                try:
                    outcome = await handler.handle(pool_id, command, CONTEXT)
                except ConcurrencyConflict:
                    result.gave_up += 1
                    continue
                break
            held = outcome.state.allocation(claim)
            if held is None:
                msg = f"{claim} was not given an address"
                raise AssertionError(msg)
            result.addresses[claim] = held.address
            if on_progress is not None:
                on_progress(len(result.addresses))

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for number in range(claimers):
            group.create_task(claimer(number), name=f"claimer-{number}")
    result.seconds = time.perf_counter() - started
    result.conflicts = handler.conflicts - before
    return result


# --- (a) one process against raw appends ----------------------------------------------------------------


def raw_allocation(key: AggregateKey, number: int, version: int) -> tuple[bytes, dict[str, str]]:
    """The document and headers the store would write for one allocation."""
    address = ip_ranges.address_text(ip_ranges.address_key("10.0.0.1") + number)
    event: Event = ev.AddressAllocated(
        claim=f"raw-{number}",
        address=address,
        address_name=ip_ranges.address_name("bench", address),
        pool=PoolRef(namespace=key.id.split("/")[0], name=key.id.split("/")[1], uid="raw"),
        prefix=16,
    )
    new = NewEvent(
        event=event,
        meta=EventMetadata(
            event_id=uuid.uuid4().hex,
            occurred_at=datetime.now(UTC),
            actor=CONTEXT.actor,
            correlation_id=uuid.uuid4().hex,
        ),
    )
    encoder = wire.DocumentEncoder(key, {ev.AddressAllocated: ("ippool.address_allocated", 1)})
    return encoder.encode(new, version)


async def raw_appends(
    js: JetStreamContext, subject: str, messages: list[tuple[bytes, dict[str, str]]], tasks: int, last: int
) -> tuple[float, int]:
    """Seconds ``tasks`` writers take to append ``messages`` to one subject in turn; the last sequence."""
    lock = asyncio.Lock()
    pending = iter(messages)
    sequence = last

    async def writer() -> None:
        nonlocal sequence
        for body, headers in pending:
            async with lock:
                headers[wire.EXPECTED_LAST_SUBJECT_SEQUENCE] = str(sequence)
                sequence = (await js.publish(subject, body, headers=headers)).seq

    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for number in range(tasks):
            group.create_task(writer(), name=f"raw-writer-{number}")
    return time.perf_counter() - started, sequence


async def measure_one_process(
    store: JetStreamEventStore, js: JetStreamContext, options: Options
) -> list[Row]:
    handler: Handler = CommandHandler(store, ippools.DEFINITION)
    pool_id, raw_key = "bench/one-process", AggregateKey(type="ippool", id="bench/raw")
    await create_pool(handler, pool_id)
    raw_subject = store.layout.aggregate(raw_key)
    per_round = options.allocations // ROUNDS
    raw_time = handler_time = 0.0
    raw_last = conflicts = 0
    for round_number in range(ROUNDS):
        first = round_number * per_round
        messages = [raw_allocation(raw_key, first + n, first + n + 1) for n in range(per_round)]
        seconds, raw_last = await raw_appends(js, raw_subject, messages, options.claimers, raw_last)
        raw_time += seconds
        claims = [f"one-{first + n}" for n in range(per_round)]
        claimed = await claim_all(handler, pool_id, claims, options.claimers, seed=round_number)
        handler_time += claimed.seconds
        conflicts += claimed.conflicts
    done = per_round * ROUNDS
    state, _ = await handler.load(pool_id)
    duplicates = done - len(set(state.indexes.values()))
    return [
        Row(
            f"(a) one process, {options.claimers} claimers, {done:,} allocations from one pool",
            done / handler_time,
            "allocations/s",
            baseline=done / raw_time,
            target_value=TARGET,
        ),
        Row("    concurrency conflicts (one process: expected 0)", conflicts, "conflicts"),
        Row("    duplicate addresses in the pool", duplicates, "addresses", target_max=0),
    ]


# --- (b) two processes ---------------------------------------------------------------------------------


async def measure_two_processes(
    store: JetStreamEventStore, js: JetStreamContext, server_url: str, options: Options
) -> list[Row]:
    handler: Handler = CommandHandler(store, ippools.DEFINITION)
    pool_id = "bench/two-processes"
    await create_pool(handler, pool_id)
    worker_share = options.allocations // 2
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.ipam",
        "--worker",
        "--url",
        server_url,
        "--pool",
        pool_id,
        "--allocations",
        str(worker_share),
        "--claimers",
        str(options.claimers),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        limit=REPORT_LIMIT,
    )
    try:
        report, ours, wall = await _race_worker(process, handler, pool_id, options)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    key = AggregateKey(type="ippool", id=pool_id)
    history = await store.load(key)
    load_ms, fold_ms, catch_up_ms = [], [], []
    behind = history.events[-CATCH_UP - 1].envelope
    since = Revision(version=behind.version, position=behind.position)
    for _ in range(5):
        started = time.perf_counter()
        await store.load(key)
        loaded = time.perf_counter()
        ippools.DEFINITION.fold([r.event for r in history.events])
        load_ms.append((loaded - started) * 1_000)
        fold_ms.append((time.perf_counter() - loaded) * 1_000)
        started = time.perf_counter()
        await store.load(key, after=since)
        catch_up_ms.append((time.perf_counter() - started) * 1_000)
    allocations = [r.event for r in history.events if isinstance(r.event, ev.AddressAllocated)]
    given = [*ours.addresses.values(), *report.addresses.values()]
    total = len(given)
    recorded_twice = len(allocations) - len({a.claim for a in allocations})
    replayed = ippools.DEFINITION.fold([r.event for r in history.events]).indexes
    history_duplicates = len(allocations) - len({a.address for a in allocations}) + recorded_twice
    if replayed != {**ours.addresses, **report.addresses}:
        history_duplicates += 1  # the log disagrees with what the claims were told
    conflicts = ours.conflicts + report.conflicts
    last_ours = max(n for n, a in enumerate(allocations) if a.claim.startswith("main-"))
    interleaved = sum(1 for a in allocations[:last_ours] if a.claim.startswith("worker-"))
    return [
        Row(
            f"(b) two processes, {options.claimers} claimers each, {total:,} allocations from one pool",
            total / wall,
            "allocations/s",
            baseline=None,
            target_value=TARGET,
        ),
        Row(
            f"    this process alone, {len(ours.addresses):,} allocations",
            len(ours.addresses) / ours.seconds,
            "allocations/s",
        ),
        Row(
            f"    worker process alone, {len(report.addresses):,} allocations",
            len(report.addresses) / report.seconds,
            "allocations/s",
        ),
        Row("    worker allocations recorded before this process's last one", interleaved, "allocations"),
        Row(
            f"    a conflict: reading the {CATCH_UP} events another writer appended, median",
            statistics.median(catch_up_ms),
            "ms",
            baseline=statistics.median(load_ms),
            baseline_label="whole pool",
        ),
        Row(
            f"    baseline: reading the whole pool, {len(history.events):,} events, median",
            statistics.median(load_ms),
            "ms",
        ),
        Row("    ... and folding them into its state, median", statistics.median(fold_ms), "ms"),
        Row(
            "    concurrency conflicts (each one reads what the winner appended and decides again)",
            conflicts,
            "conflicts",
        ),
        Row(
            "    commands given up after 10 conflicts and asked again",
            ours.gave_up + report.gave_up,
            "retries",
        ),
        Row(
            "    duplicate addresses among those the claims were given",
            total - len(set(given)),
            "addresses",
            target_max=0,
        ),
        Row(
            "    duplicates in the pool's history read back from the store",
            history_duplicates,
            "events",
            target_max=0,
        ),
    ]


async def _race_worker(
    process: asyncio.subprocess.Process, handler: Handler, pool_id: str, options: Options
) -> tuple[WorkerReport, Claimed, float]:
    stdin, stdout = process.stdin, process.stdout
    if stdin is None or stdout is None:
        msg = "the worker has no pipes"
        raise RuntimeError(msg)
    async with asyncio.timeout(60):
        await _worker_line(stdout, lambda line: line == b"ready")
    go = asyncio.Event()
    quarter = options.allocations // 4

    def progress(done: int) -> None:
        if done >= quarter:
            go.set()

    async def start_worker() -> WorkerReport:
        await go.wait()
        stdin.write(b"go\n")
        await stdin.drain()
        async with asyncio.timeout(WORKER_TIMEOUT):
            line = await _worker_line(stdout, lambda line: line.startswith(b'{"addresses"'))
            await process.wait()
        return msgspec.json.decode(line, type=WorkerReport)

    claims = [f"main-{n}" for n in range(options.allocations)]
    started = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        worker = group.create_task(start_worker(), name="bench-worker")
        ours = await claim_all(handler, pool_id, claims, options.claimers, seed=99, on_progress=progress)
    return worker.result(), ours, time.perf_counter() - started


async def _worker_line(stdout: asyncio.StreamReader, wanted: Callable[[bytes], bool]) -> bytes:
    """The worker's next line that ``wanted`` accepts; anything else it printed (logs) goes to stderr."""
    while True:
        line = await stdout.readline()
        if not line:
            msg = "the worker exited early; see its output above"
            raise RuntimeError(msg)
        if wanted(line.strip()):
            return line.strip()
        sys.stderr.write(f"worker: {line.decode(errors='replace')}")


async def run_worker(url: str, pool_id: str, allocations: int, claimers: int) -> None:
    """Worker mode: wait for ``go`` on stdin, allocate, print a ``WorkerReport`` line."""
    nc = await nats.connect(url, max_reconnect_attempts=1)
    try:
        store = await JetStreamEventStore.connect(nc, registry.CODECS, settings=SETTINGS)
        handler: Handler = CommandHandler(store, ippools.DEFINITION)
        await handler.load(pool_id)
        print("ready", flush=True)
        line = await asyncio.to_thread(sys.stdin.readline)
        if line.strip() != "go":
            return
        claims = [f"worker-{n}" for n in range(allocations)]
        claimed = await claim_all(handler, pool_id, claims, claimers, seed=7)
        report = WorkerReport(
            addresses=claimed.addresses,
            conflicts=claimed.conflicts,
            gave_up=claimed.gave_up,
            seconds=claimed.seconds,
        )
        print(msgspec.json.encode(report).decode(), flush=True)
        await store.close()
    finally:
        await nc.close()


# --- (c) pure core ---------------------------------------------------------------------------------------


def fill(state: PoolState, count: int, rng: random.Random) -> tuple[PoolState, list[Event], float]:
    events: list[Event] = []
    started = time.perf_counter()
    for n in range(count):
        for event in ippools.decide(state, cmd.AllocateAddress(claim=f"c{n}", choice=rng.getrandbits(64))):
            state = ippools.evolve(state, event)
            events.append(event)
    return state, events, time.perf_counter() - started


def metal3_scan(count: int) -> float:
    """Seconds Metal3's algorithm takes for ``count`` allocations: in-use set rebuilt, scan from index 0."""
    network = ipaddress.ip_network("10.0.0.0/16")
    allocations: dict[str, str] = {}
    started = time.perf_counter()
    for n in range(count):
        in_use = {address: claim for claim, address in allocations.items()}
        index = 0
        while True:
            candidate = str(network.network_address + 1 + index)
            index += 1
            if candidate not in in_use:
                allocations[f"c{n}"] = candidate
                break
    return time.perf_counter() - started


def measure_core(options: Options) -> list[Row]:
    created = ev.PoolCreated(namespace="bench", name="core", uid="u", generation=1, spec=SLASH_16)
    empty = ippools.evolve(ippools.DEFINITION.initial, created)
    size = empty.ranges[0].size
    _, _, ours_head = fill(empty, METAL3_SCAN, random.Random(1))
    metal3 = metal3_scan(METAL3_SCAN)
    full, events, sequential = fill(empty, size, random.Random(1))
    random_spec = msgspec.structs.replace(SLASH_16, allocation_strategy="random")
    random_empty = ippools.evolve(
        ippools.DEFINITION.initial, msgspec.structs.replace(created, spec=random_spec)
    )
    random_full, _, at_random = fill(random_empty, size, random.Random(2))
    started = time.perf_counter()
    replayed = ippools.DEFINITION.fold([created, *events])
    replay = time.perf_counter() - started
    if replayed.indexes != full.indexes or len(set(random_full.indexes.values())) != size:
        msg = "the core benchmark's pools disagree with their own replay"
        raise AssertionError(msg)
    return [
        Row(
            f"(c) core decide+evolve, first {METAL3_SCAN:,} of a /16",
            METAL3_SCAN / ours_head,
            "allocations/s",
            baseline=METAL3_SCAN / metal3,
        ),
        Row(
            f"    core decide+evolve, a whole /16 ({size:,}) sequentially", size / sequential, "allocations/s"
        ),
        Row(f"    core decide+evolve, a whole /16 ({size:,}) at random", size / at_random, "allocations/s"),
        Row(
            f"    core replay of the /16's {len(events) + 1:,} events", (len(events) + 1) / replay, "events/s"
        ),
    ]


# --- running ----------------------------------------------------------------------------------------------


async def run(options: Options, *, fsync_always: bool, sections: str) -> None:
    if "c" in sections:
        show(measure_core(options), "Metal3's algorithm")
    if "a" not in sections and "b" not in sections:
        return
    with tempfile.TemporaryDirectory(prefix="metalstream-bench-ipam-") as workdir:
        async with NatsServer(Path(workdir) / "nats", sync_always=fsync_always) as server:
            nc = await nats.connect(server.url, max_reconnect_attempts=1)
            try:
                store = await JetStreamEventStore.connect(nc, registry.CODECS, settings=SETTINGS)
                fsync = "every acked message (sync_interval: always)" if fsync_always else "server default"
                print(
                    f"nats-server {server.url}; fsync: {fsync}; python {sys.version.split()[0]}", flush=True
                )
                js = nc.jetstream(timeout=30)
                if "a" in sections:
                    show(await measure_one_process(store, js, options), "raw nats-py")
                if "b" in sections:
                    show(await measure_two_processes(store, js, server.url, options), "raw nats-py")
                await store.close()
            finally:
                await nc.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--allocations", type=int, default=2_000, help="allocations by this process (a, b)")
    parser.add_argument("--claimers", type=int, default=16, help="concurrent claimers per process")
    parser.add_argument("--sections", default="abc", help="which sections to run, e.g. 'ab'")
    parser.add_argument(
        "--fsync-always", action="store_true", help="fsync every message, as the dev stack does (disk-bound)"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--pool", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logs.configure(fmt="console", level="warning")  # one info line per allocation would be measured too
    if args.worker:
        asyncio.run(run_worker(args.url, args.pool, args.allocations, args.claimers))
        return
    options = Options(allocations=args.allocations, claimers=args.claimers)
    asyncio.run(run(options, fsync_always=args.fsync_always, sections=args.sections))


if __name__ == "__main__":
    main()
