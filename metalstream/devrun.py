"""``make run`` for now: a durable local event store and one host's life written and replayed.

It starts a real nats-server (JetStream, fsync before ack) whose data lives under the state
directory, records a demo host's lifecycle through the real command handler, then replays the
host's history from the store and rebuilds the hosts view from its checkpoint. Run it again and
it picks up the recorded history instead of starting over: the host is re-provisioned with the
next image. Until the Ironic adapter is wired in, the observations a provisioner would make are
played by a scripted stand-in, recorded with actor ``demo-provisioner`` so nobody mistakes them
for a real machine's.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from adapters.nats.checkpoints import JetStreamCheckpointStore
from adapters.nats.eventstore import JetStreamEventStore
from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.aggregates.host_state import HostState
from core.events.base import event_type_of
from core.events.host_values import (
    CPU,
    NIC,
    BMCDetails,
    HardwareDetails,
    HardwareSystemVendor,
    HostSpec,
    Image,
    ProvisioningState,
    Storage,
)
from metalstream import audit, registry, settings, wiring
from metalstream.commanding import CommandContext, CommandHandler
from metalstream.devstack.nats import NatsServer
from projections import history as history_view
from projections.hosts_view import HostsView
from projections.running import ProjectionRunner

PS = ProvisioningState
NAMESPACE, NAME = "metalstream-demo", "worker-0"
HOST_ID = f"{NAMESPACE}/{NAME}"
CREDENTIALS_SECRET = "worker-0-bmc"  # noqa: S105 - the name of a Secret, not a secret
USER = CommandContext(actor="k8s:demo-user")
PROVISIONER = CommandContext(actor="demo-provisioner")

DEMO_HARDWARE = HardwareDetails(
    system_vendor=HardwareSystemVendor(manufacturer="Sushy Emulator", product_name="demo"),
    ram_mebibytes=16384,
    nics=(NIC(name="eth0", mac="52:54:00:00:00:01", pxe=True),),
    storage=(Storage(name="/dev/sda", size_bytes=100 * 1024**3, type="SSD"),),
    cpu=CPU(arch="x86_64", count=4),
)


def _spec(image_number: int) -> HostSpec:
    return HostSpec(
        bmc=BMCDetails(
            address="redfish+http://127.0.0.1:8000/redfish/v1/Systems/1", credentials_name="worker-0-bmc"
        ),
        online=True,
        boot_mac_address="52:54:00:00:00:01",
        image=Image(url=f"http://images.example/os-{image_number}.qcow2", checksum=f"{image_number:064x}"),
    )


def _stand_in_observation(state: HostState, now: datetime) -> cmd.HostCommand | None:
    """What a provisioner would report next for a host in ``state`` (None: nothing to do)."""
    match state.provisioning_state:
        case PS.REGISTERING:
            node = str(uuid.uuid5(uuid.NAMESPACE_URL, f"metalstream:{HOST_ID}"))
            return cmd.RecordRegistration(provisioning_id=node, credentials_version="1", now=now)
        case PS.INSPECTING:
            return cmd.RecordInspection(hardware=DEMO_HARDWARE, now=now)
        case PS.PREPARING:
            return cmd.RecordPreparation(now=now)
        case PS.PROVISIONING:
            return cmd.RecordProvisioned(now=now)
        case PS.DEPROVISIONING:
            return cmd.RecordDeprovisioned(now=now)
        case _:
            return None


def _image_number(state: HostState) -> int:
    image = state.spec.image
    if image is None:
        return 0
    return int(image.url.rsplit("-", 1)[1].split(".")[0])


async def _drive(handler: CommandHandler[HostState, cmd.HostCommand]) -> HostState:
    now = datetime.now(UTC)
    state, _ = await handler.load(HOST_ID)
    if not state.exists:
        print(f"Creating host {HOST_ID} (first run)")
        command: cmd.HostCommand = cmd.ApplySpec(
            namespace=NAMESPACE, name=NAME, uid=str(uuid.uuid4()), generation=1, spec=_spec(1), now=now
        )
        outcome = await handler.handle(HOST_ID, command, USER)
        _print_events(outcome.events)
        credentials = cmd.ObserveCredentials(secret_name=CREDENTIALS_SECRET, version="1", now=now)
        _print_events((await handler.handle(HOST_ID, credentials, USER)).events)
        state = outcome.state
    elif state.provisioning_state is PS.PROVISIONED:
        number = _image_number(state) + 1
        print(f"Host {HOST_ID} is provisioned (resumed from the store); asking for image os-{number}")
        command = cmd.ApplySpec(
            namespace=NAMESPACE,
            name=NAME,
            uid=state.uid,
            generation=state.generation + 1,
            spec=_spec(number),
            now=now,
        )
        _print_events((await handler.handle(HOST_ID, command, USER)).events)
    else:
        print(f"Host {HOST_ID} resumed in state {state.provisioning_state!s}; continuing")
    while True:
        state, _ = await handler.load(HOST_ID)
        observation = _stand_in_observation(state, datetime.now(UTC))
        if observation is None:
            return state
        _print_events((await handler.handle(HOST_ID, observation, PROVISIONER)).events)


def _print_events(events: object) -> None:
    for event in events:  # type: ignore[attr-defined]
        print(f"  recorded {event_type_of(event)}")


def _prepare(state_dir: str) -> Path:
    nats_dir = Path(state_dir).resolve() / "nats"
    nats_dir.mkdir(parents=True, exist_ok=True)
    return nats_dir


async def run(*, state_dir: str, keep_running: bool, config: settings.Settings) -> int:
    """Start the local stack, drive the demo host, replay it, and optionally keep serving."""
    nats_dir = await asyncio.to_thread(_prepare, state_dir)
    async with NatsServer(nats_dir) as server:
        print(f"nats-server (JetStream, fsync before ack) on {server.url}, data in {nats_dir}")
        local = settings.Settings(nats=settings.NatsSettings(urls=(server.url,)), log=config.log)
        async with (
            wiring.nats_connection(local) as client,
            JetStreamEventStore(client, registry.CODECS, settings=wiring.store_settings(local)) as store,
        ):
            handler = CommandHandler(store, hosts.DEFINITION)
            state = await _drive(handler)
            print(
                f"\nHost {HOST_ID} is {state.provisioning_state!s}. Its history, replayed from the store:\n"
            )
            records = await wiring.load_history(store, "host", HOST_ID)
            entries = history_view.history(hosts.DEFINITION, records)
            print(audit.render_text(entries, state=entries[-1].state, moment="now"))

            view = HostsView()
            runner = ProjectionRunner(view, store, JetStreamCheckpointStore(client.jetstream()))
            await runner.restore()
            restored_at = runner.position
            await runner.catch_up()
            print(
                f"\nHosts view: {dict(view.count_by_state())} "
                f"(restored from checkpoint at position {restored_at}, now at {runner.position})"
            )
            print(
                "\nNext: run `make run` again to resume from this history; "
                "`make run ARGS=--keep-running` keeps the server up for:\n"
                f"  .venv/bin/metalstream --nats-url {server.url} history {HOST_ID}\n"
                f"  .venv/bin/metalstream --nats-url {server.url} history {HOST_ID} --version 3\n"
                f"  .venv/bin/metalstream --nats-url {server.url} events tail 'metalstream.host.>'"
            )
            if keep_running:
                print("\nServing; Ctrl-C stops the server (the data stays).", flush=True)
                await asyncio.Event().wait()
    return 0
