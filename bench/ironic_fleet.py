"""Ironic fleet benchmark: N hosts through metalstream against the same Ironic driven directly.

Run ``python -m bench.ironic_fleet [--hosts 100] [--concurrency 8] [--poll 1.0]``. One real Ironic
(fake-hardware nodes, its own cached venv) and one nats-server are started in a temporary
directory; both sides run in the same process, one after the other, against the same Ironic.

Every host goes from enrolment to provisioned and back to available, then is deleted:

- **metalstream**: a user declares each host (``ApplySpec`` through its own command handler,
  image set, ``online: true``), waits on an independent hosts view until it is provisioned and
  powered on, declares it again without image and ``online: false``, waits until it is available
  and off, then requests deletion and waits until it is gone. ``run_provisioner`` does the work:
  JetStream event store, command handler, hosts view, provisioner loop with ``--concurrency``
  workers, Ironic polled every ``--poll`` seconds (short and long requeue), no jitter.
- **baseline**: one coroutine per host makes the minimal Ironic calls for the same steps: create
  the node (same interfaces, same automated cleaning) and its boot MAC port, ``manage``,
  ``inspect`` (unless ``--no-inspect``, which both sides then skip), ``provide``, set
  ``instance_info`` and ``active``, power on, ``deleted``, power off, delete the node. After each
  call it polls the node every ``--poll`` seconds until the step is done. At most
  ``--concurrency`` requests are in flight, and at most ``--provisioning-limit`` hosts are in a
  busy Ironic state (Metal3's PROVISIONING_LIMIT, which metalstream enforces too).

The wall time of each side is from the first host's declaration (or node creation) to the last
host's deletion. The target is metalstream <= 1.15x the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec
from yarl import URL

from adapters.ironic import wire
from adapters.ironic.client import IronicClient, IronicEndpoint
from adapters.ironic.errors import IronicConflict, IronicTransientError
from adapters.ironic.ports import FAKE_HARDWARE, NodeDriverSpec, with_fake_deploy
from adapters.ironic.provisioning import ProvisionerSettings
from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.aggregates.host_state import HostState
from core.events.base import RecordedEvent
from core.events.host_values import BMCDetails, HostSpec, Image, ProvisioningState
from core.ports import Checkpoint, EventStore
from metalstream import logs, settings, wiring
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.nats import NatsServer
from metalstream.provisioning.drivers import BmcDriverMapping
from metalstream.provisioning.running import run_provisioner
from metalstream.provisioning.static_secrets import StaticHostSecrets
from projections.hosts_view import HostsView
from projections.running import ProjectionRunner

PS = ProvisioningState
T = TypeVar("T")
NAMESPACE: Final = "bench"
SECRET: Final = "bmc"
IMAGE: Final = Image(
    url="http://127.0.0.1:1/bench.qcow2", checksum="b" * 64, checksum_type="sha256", format="qcow2"
)
IRONIC_CONFIG: Final = {
    "conductor": {"check_provision_state_interval": "1", "sync_power_state_interval": "60"},
    "database": {"sqlite_synchronous": "false"},
}
"""Ironic's own periodic power sync would only add noise to both sides."""
DECLARING: Final = 16
"""Declarations in flight at once, like a bounded watcher. nats-server refuses more than 50
concurrent atomic batches per stream (error 10210), and the event store does not retry that."""
TARGET: Final = 1.15
HOST_DEADLINE: Final = 900.0
"""Seconds one host may take for its whole life before the run is declared stuck."""


class CountingClient(IronicClient):
    """Counts requests by method and path (node identifiers folded into ``{node}``), to see where
    a side's requests go (``--requests``)."""

    def __init__(self, endpoint: IronicEndpoint) -> None:
        super().__init__(endpoint)
        self.calls: collections.Counter[str] = collections.Counter()

    async def _once(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None,
        path: str,
    ) -> tuple[int, bytes]:
        self.calls[f"{method} {re.sub(r'^/v1/nodes/[^/]+', '/v1/nodes/{node}', path)}"] += 1
        return await super()._once(method, url, headers, body, params, path)


@dataclass(frozen=True, slots=True)
class Options:
    hosts: int
    concurrency: int
    poll: float
    provisioning_limit: int
    inspect: bool


@dataclass(slots=True)
class SideResult:
    name: str
    wall: float = 0.0
    per_host: list[tuple[float, ...]] = field(default_factory=list)
    """Per host: seconds to provisioned and on, to available and off again, to deleted."""
    requests: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    """Requests by method and path."""


def unique_mac(index: int, side: str) -> str:
    prefix = "52:54:0a" if side == "baseline" else "52:54:0b"
    return f"{prefix}:{index // 65536 % 256:02x}:{index // 256 % 256:02x}:{index % 256:02x}"


# -- baseline: the same Ironic, driven directly ------------------------------------------------------


class Direct:
    """Minimal Ironic calls per host, at most ``concurrency`` requests in flight."""

    def __init__(self, client: IronicClient, options: Options) -> None:
        self.client = client
        self.options = options
        self._slots = asyncio.Semaphore(options.concurrency)
        limit = options.provisioning_limit
        self._busy = asyncio.Semaphore(limit) if limit > 0 else None
        self.retries = 0

    async def call(self, request: Callable[[], Awaitable[T]]) -> T:
        """One request in a slot; Ironic's transient answers (a loaded Ironic's sqlite says
        "database is locked" as HTTP 503) are retried after the poll interval, as metalstream does."""
        while True:
            try:
                async with self._slots:
                    return await request()
            except (IronicTransientError, IronicConflict):
                self.retries += 1
                await asyncio.sleep(self.options.poll)

    async def wait(self, uuid_: str, done: Callable[[wire.Node], bool], what: str) -> wire.Node:
        """Poll every ``poll`` seconds until ``done``; a ``*failed`` state ends the run."""
        while True:
            await asyncio.sleep(self.options.poll)
            node = await self.call(lambda: self.client.get_node(uuid_))
            if done(node):
                return node
            if node.state.endswith("failed"):
                msg = f"baseline node {uuid_} failed while waiting for {what}: {node.last_error}"
                raise RuntimeError(msg)

    async def step(
        self, uuid_: str, target: wire.ProvisionTarget, done: Callable[[wire.Node], bool], *, busy: bool
    ) -> None:
        if busy and self._busy is not None:
            async with self._busy:
                await self.call(lambda: self.client.set_provision_state(uuid_, target))
                await self.wait(uuid_, done, target)
            return
        await self.call(lambda: self.client.set_provision_state(uuid_, target))
        await self.wait(uuid_, done, target)

    async def power(self, uuid_: str, on: bool) -> None:
        target: wire.PowerTarget = "power on" if on else "power off"
        await self.call(lambda: self.client.set_power_state(uuid_, target))
        await self.wait(uuid_, lambda n: n.power_state == target and not n.target_power_state, target)

    async def host(self, index: int) -> tuple[float, ...]:
        began = time.monotonic()
        spec = with_fake_deploy(NodeDriverSpec(driver=FAKE_HARDWARE))
        body = msgspec.convert(
            {
                "name": f"{NAMESPACE}~direct-{index:04d}",
                "driver": spec.driver,
                "properties": {"capabilities": "boot_mode:uefi"},
                "automated_clean": True,
                **{f"{kind}_interface": name for kind, name in spec.interfaces.items()},
            },
            wire.NodeCreate,
        )
        node = await self.call(lambda: self.client.create_node(body))
        uuid_ = node.uuid
        await self.call(lambda: self.client.create_port(uuid_, unique_mac(index, "baseline")))

        def settled(state: str) -> Callable[[wire.Node], bool]:
            return lambda n: n.state == state and not n.target_provision_state

        await self.step(uuid_, "manage", settled("manageable"), busy=False)
        if self.options.inspect:
            await self.step(uuid_, "inspect", settled("manageable"), busy=True)
        await self.step(uuid_, "provide", settled("available"), busy=True)
        info = {
            "image_source": IMAGE.url,
            "image_os_hash_algo": "sha256",
            "image_os_hash_value": IMAGE.checksum,
        }
        patch = [
            wire.PatchOp.add("/instance_info", info),
            wire.PatchOp.add("/instance_uuid", str(uuid.uuid4())),
        ]
        await self.call(lambda: self.client.patch_node(uuid_, patch))
        await self.step(uuid_, "active", settled("active"), busy=True)
        await self.power(uuid_, on=True)
        provisioned = time.monotonic()
        await self.step(uuid_, "deleted", settled("available"), busy=True)
        await self.power(uuid_, on=False)
        available = time.monotonic()
        await self.call(lambda: self.client.delete_node(uuid_))
        return (provisioned - began, available - provisioned, time.monotonic() - available)


async def _all_hosts(
    life: Callable[[int], Coroutine[Any, Any, tuple[float, ...]]], first: int, count: int
) -> list[tuple[float, ...]]:
    """Run every host's life at once in a TaskGroup: one failure stops them all."""
    async with asyncio.TaskGroup() as group:
        tasks: list[asyncio.Task[tuple[float, ...]]] = [
            group.create_task(life(first + i), name=f"bench.host-{first + i}") for i in range(count)
        ]
    return [task.result() for task in tasks]


async def run_baseline(client: IronicClient, options: Options, first: int) -> SideResult:
    """All hosts at once; ``first`` numbers them so that every run's names and MACs are new."""
    direct = Direct(client, options)
    before = client.requests
    began = time.monotonic()
    async with asyncio.timeout(HOST_DEADLINE):
        per_host = await _all_hosts(direct.host, first, options.hosts)
    return SideResult(
        name="baseline",
        wall=time.monotonic() - began,
        per_host=per_host,
        requests=client.requests - before,
        extra={"retried": direct.retries},
    )


# -- metalstream ---------------------------------------------------------------------------------


class _NoCheckpoints:
    async def load(self, name: str) -> Checkpoint | None:
        return None

    async def save(self, name: str, checkpoint: Checkpoint) -> None:
        return None


class Watcher:
    """An independent hosts view (as the status writer will be); per-host waits woken by events."""

    def __init__(self, store: EventStore) -> None:
        self.view = HostsView()
        self.runner = ProjectionRunner(self.view, store, _NoCheckpoints(), on_applied=self._applied)
        self._waiting: dict[str, tuple[Callable[[HostState | None], bool], asyncio.Future[None]]] = {}

    def _applied(self, record: RecordedEvent) -> None:
        host_id = record.envelope.aggregate_id
        waiter = self._waiting.get(host_id)
        if waiter is None:
            return
        found = self.view.get(host_id)
        predicate, future = waiter
        if predicate(found.state if found else None) and not future.done():
            future.set_result(None)

    async def until(self, host_id: str, predicate: Callable[[HostState | None], bool]) -> None:
        found = self.view.get(host_id)
        if predicate(found.state if found else None):
            return
        future = asyncio.get_running_loop().create_future()
        self._waiting[host_id] = (predicate, future)
        try:
            await future
        finally:
            del self._waiting[host_id]


def _provisioned_and_on(state: HostState | None) -> bool:
    return state is not None and state.provisioning_state is PS.PROVISIONED and state.powered_on


def _available_and_off(state: HostState | None) -> bool:
    return (
        state is not None
        and state.provisioning_state is PS.AVAILABLE
        and state.provisioned_image is None
        and not state.powered_on
    )


def _gone(state: HostState | None) -> bool:
    return state is None


class User:
    """Declares hosts through its own command handler, as the Kubernetes adapter will."""

    def __init__(self, store: EventStore, watcher: Watcher, options: Options) -> None:
        self.handler: CommandHandler[HostState, cmd.HostCommand] = CommandHandler(store, hosts.DEFINITION)
        self.watcher = watcher
        self.options = options
        self.context = CommandContext(actor="k8s:bench")
        self._declaring = asyncio.Semaphore(DECLARING)

    async def declare(self, host_id: str, command: cmd.HostCommand) -> None:
        async with self._declaring:
            await self.handler.handle(host_id, command, self.context)

    def spec(self, index: int, *, provisioned: bool) -> HostSpec:
        return HostSpec(
            bmc=BMCDetails(address=f"fake-hardware://host-{index:04d}", credentials_name=SECRET),
            boot_mac_address=unique_mac(index, "metalstream"),
            online=provisioned,
            image=IMAGE if provisioned else None,
            inspection_mode=None if self.options.inspect else "disabled",
        )

    async def apply(self, index: int, generation: int, *, provisioned: bool) -> str:
        name = f"host-{index:04d}"
        command = cmd.ApplySpec(
            now=datetime.now(UTC),
            namespace=NAMESPACE,
            name=name,
            uid=str(uuid.uuid5(uuid.NAMESPACE_URL, f"metalstream-bench:{index}")),
            generation=generation,
            spec=self.spec(index, provisioned=provisioned),
        )
        host_id = f"{NAMESPACE}/{name}"
        await self.declare(host_id, command)
        return host_id

    async def host(self, index: int) -> tuple[float, ...]:
        began = time.monotonic()
        host_id = await self.apply(index, 1, provisioned=True)
        await self.watcher.until(host_id, _provisioned_and_on)
        provisioned = time.monotonic()
        await self.apply(index, 2, provisioned=False)
        await self.watcher.until(host_id, _available_and_off)
        available = time.monotonic()
        await self.declare(host_id, cmd.RequestDeletion(now=datetime.now(UTC)))
        await self.watcher.until(host_id, _gone)
        return (provisioned - began, available - provisioned, time.monotonic() - available)


async def run_metalstream(client: IronicClient, nats_url: str, options: Options, first: int) -> SideResult:
    config = settings.load({}, overrides={"nats": {"urls": [nats_url]}})
    timing = ProvisionerSettings(
        short_requeue=options.poll,
        long_requeue=options.poll,
        jitter=0.0,
        provisioning_limit=options.provisioning_limit,
    )
    async with wiring.event_store(config) as store:
        secrets = StaticHostSecrets()
        secrets.set_bmc_credentials(NAMESPACE, SECRET, username="admin", password="bench-password")
        watcher = Watcher(store)
        user = User(store, watcher, options)
        before = client.requests
        start = await store.last_position()
        async with asyncio.TaskGroup() as group:
            provisioner = group.create_task(
                run_provisioner(
                    store=store,
                    client=client,
                    secrets=secrets,
                    drivers=BmcDriverMapping(fake_deploy=True),
                    settings=timing,
                    concurrency=options.concurrency,
                ),
                name="bench.provisioner",
            )
            watching = group.create_task(watcher.runner.run(), name="bench.watcher")
            began = time.monotonic()
            async with asyncio.timeout(HOST_DEADLINE):
                per_host = await _all_hosts(user.host, first, options.hosts)
            wall = time.monotonic() - began
            provisioner.cancel()
            watching.cancel()
        kinds = collections.Counter(
            [type(record.event).__name__ async for record in store.read_all(after_position=start)]
        )
    return SideResult(
        name="metalstream",
        wall=wall,
        per_host=per_host,
        requests=client.requests - before,
        extra={
            "events": kinds.total(),
            "delayed": kinds["Delayed"],
            "user_conflicts": user.handler.conflicts,
        },
    )


# -- running --------------------------------------------------------------------------------------


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by live process ``root`` and its descendants (Linux)."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, seconds in used.items():
        walk = pid
        while walk not in (0, 1) and walk != root:
            walk = parents.get(walk, 0)
        if walk == root:
            total += seconds
    return total


class CpuMeter:
    """CPU seconds of this process, Ironic and nats-server over one side's run."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self._pids = {name: pid for name, pid in pids.items() if pid is not None}
        self._start: dict[str, float] = {}

    async def _sample(self) -> dict[str, float]:
        sample = {name: await asyncio.to_thread(_tree_cpu, pid) for name, pid in self._pids.items()}
        sample["bench"] = time.process_time()
        return sample

    async def start(self) -> None:
        self._start = await self._sample()

    async def used(self) -> dict[str, int]:
        end = await self._sample()
        return {f"cpu_{name}": round(end[name] - self._start.get(name, 0.0)) for name in end}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _row(result: SideResult, hosts: int) -> str:
    totals = [sum(times) for times in result.per_host]
    phases = " / ".join(f"{statistics.median(times[i] for times in result.per_host):.1f}" for i in range(3))
    extra = " ".join(f"{k}={v}" for k, v in result.extra.items())
    return (
        f"{result.name:<12} wall {result.wall:7.1f} s   per host p50 {statistics.median(totals):6.1f} s "
        f"(provision / deprovision / delete {phases}) p95 {_p95(totals):6.1f} s   "
        f"ironic requests {result.requests:6d} ({result.requests / hosts:5.1f}/host)  {extra}"
    )


def _calls(result: SideResult, hosts: int) -> str:
    return "\n".join(f"    {count / hosts:6.2f}/host  {call}" for call, count in sorted(result.calls.items()))


async def run(options: Options, rounds: int, state_dir: Path | None, *, by_request: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="metalstream-bench-") as tmp:
        root = state_dir or Path(tmp)
        ironic = IronicHarness(
            state_dir=root / "ironic", extra_config=IRONIC_CONFIG, ipmitool=False, start_timeout=180
        )
        async with ironic, NatsServer(root / "nats") as nats_server:
            endpoint = IronicEndpoint(
                url=ironic.url, timeout=30.0, locked_retry_delay=0.2, locked_retry_attempts=50
            )
            print(
                f"ironic {ironic.url} (started in {ironic.timings.ready:.1f} s), nats {nats_server.url}; "
                f"{options.hosts} hosts, concurrency {options.concurrency}, poll {options.poll} s, "
                f"provisioning limit {options.provisioning_limit or 'none'}, "
                f"inspection {'on' if options.inspect else 'off'}, automated cleaning on",
                flush=True,
            )
            walls: dict[str, list[float]] = {"baseline": [], "metalstream": []}
            # ABBA order over rounds, so a machine getting busier or quieter favours neither side.
            sides = [
                side
                for number in range(rounds)
                for side in (("baseline", "metalstream") if number % 2 == 0 else ("metalstream", "baseline"))
            ]
            meter = CpuMeter({"ironic": ironic.pid, "nats": nats_server.pid})
            for run_number, side in enumerate(sides):
                first = run_number * options.hosts
                async with CountingClient(endpoint) as client:
                    await client.negotiate()
                    await meter.start()
                    if side == "baseline":
                        result = await run_baseline(client, options, first)
                    else:
                        result = await run_metalstream(client, nats_server.url, options, first)
                    result.extra.update(await meter.used())
                    result.calls = collections.Counter(client.calls)
                walls[side].append(result.wall)
                print(_row(result, options.hosts), flush=True)
                if by_request:
                    print(_calls(result, options.hosts), flush=True)
            ratio = statistics.mean(walls["metalstream"]) / statistics.mean(walls["baseline"])
            verdict = "meets" if ratio <= TARGET else "MISSES"
            print(
                f"ratio metalstream/baseline = {ratio:.3f} over {rounds} round(s) "
                f"({verdict} the {TARGET}x target)"
            )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hosts", type=int, default=100, help="hosts per side (default 100)")
    parser.add_argument("--concurrency", type=int, default=8, help="workers / requests in flight (8)")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between polls of a node (1.0)")
    parser.add_argument(
        "--provisioning-limit", type=int, default=20, help="hosts busy in Ironic at once, 0 = none (20)"
    )
    parser.add_argument("--no-inspect", dest="inspect", action="store_false", help="skip inspection")
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs per side, in ABBA order; the ratio compares means (1)"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="keep Ironic's and nats-server's files here (profiling)"
    )
    parser.add_argument(
        "--requests", action="store_true", help="print each side's Ironic requests by method and path"
    )
    args = parser.parse_args(argv)
    logs.configure(fmt="console", level="warning")
    options = Options(
        hosts=args.hosts,
        concurrency=args.concurrency,
        poll=args.poll,
        provisioning_limit=args.provisioning_limit,
        inspect=args.inspect,
    )
    asyncio.run(_main(options, max(1, args.rounds), args.state_dir, by_request=args.requests))


async def _main(options: Options, rounds: int, state_dir: Path | None, *, by_request: bool) -> None:
    """``run`` with SIGTERM treated like Ctrl-C, so Ironic and nats-server are always stopped."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await run(options, rounds, state_dir, by_request=by_request)


if __name__ == "__main__":
    main()
