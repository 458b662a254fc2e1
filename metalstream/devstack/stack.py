"""Every real component of the local stack, started and stopped together under one state directory.

``DevStack`` is what ``metalstream dev`` runs the control plane against: a durable nats-server
(JetStream), etcd and kube-apiserver, the sushy-tools Redfish emulator (one process for all
systems), the pyghmi IPMI simulator and a standalone Ironic, each on loopback. It uses the same
harnesses as the tests, with three differences, because a dev stack must survive a restart:

* **Durable state.** The JetStream store, etcd's data (with the certificates and the admin token
  that go with it) and Ironic's sqlite database are kept in the state directory and reused by
  the next run (the harnesses' ``keep_state`` and ``keep_database`` options), so a second run
  resumes where the first stopped instead of starting over. ``--fresh`` wipes them.
* **Stable BMC ports.** A BareMetalHost's BMC address names the emulator's port, and Metal3 (and
  metalstream) refuse to change it once the host is registered. The first run lets sushy-tools
  and the IPMI simulator pick free ports and records them in ``stack.json``; later runs ask for
  the same ports (their ``port`` options), and a port taken meanwhile is a clear error rather
  than a silently broken fleet. Every other port (NATS, etcd, API server, Ironic) is free to
  change: the kubeconfig and the control plane's settings are rewritten each run.
* **Nothing left behind.** The processes' ids are recorded in ``pids.json``; a run that finds
  processes of a killed earlier run on the same state directory (recognised by the state path in
  their command line) stops them first. A lock file keeps two runs off one state directory.

Every failure is a ``StackError`` naming the component and its log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import msgspec

from metalstream.devstack import ironic as ironic_harness
from metalstream.devstack import kube_build
from metalstream.devstack.examples import BMC_USERNAME, BmcEndpoints, DevHost
from metalstream.devstack.ipmi_sim import BmcSpec, IpmiSimulator, IpmiSimulatorError
from metalstream.devstack.kube import KubeApiServer, KubeApiServerError
from metalstream.devstack.nats import NatsServer, NatsServerError
from metalstream.devstack.sushy import FakeNic, FakeSystem, SushyEmulator, SushyEmulatorError

STATE_FILE: Final = "stack.json"
PIDS_FILE: Final = "pids.json"
PASSWORD_FILE: Final = "bmc-password"  # noqa: S105 - a file name; the file holds the emulators' password
LOCK_FILE: Final = ".lock"
IRONIC_EXTRA: Final[Mapping[str, Mapping[str, str]]] = {
    "conductor": {"check_provision_state_interval": "1", "sync_power_state_interval": "5"},
}
"""Ironic notices finished steps within a second: hosts reach provisioned in well under a minute."""
_LEFTOVER_GRACE: Final = 5.0

Say = Callable[[str], None]


class StackError(RuntimeError):
    """A component could not be prepared or started; names it and the log file to read."""

    def __init__(self, component: str, problem: str, log: Path | None = None) -> None:
        where = f"\n  log: {log}" if log is not None else ""
        super().__init__(f"{component}: {problem}{where}")
        self.component = component
        self.log = log


class StackState(msgspec.Struct, kw_only=True):
    """What later runs on the same state directory must agree with (``stack.json``)."""

    hosts: int
    sushy_port: int = 0
    ipmi_ports: dict[str, int] = {}
    ironic_version: str = ironic_harness.IRONIC_VERSION


class DevStack:
    """The local stack's processes. ``async with DevStack(...) as stack:`` starts and stops them all."""

    def __init__(
        self, state_dir: Path, hosts: tuple[DevHost, ...], *, fresh: bool = False, say: Say = print
    ) -> None:
        self.state_dir = state_dir.resolve()
        self.hosts = hosts
        self.fresh = fresh
        self.password = ""
        self.resumed = False
        self.nats = NatsServer(self.state_dir / "nats")
        self.kube = KubeApiServer(self.state_dir / "kube", keep_state=True)
        self.ironic = ironic_harness.IronicHarness(
            state_dir=self.state_dir / "ironic",
            extra_config=IRONIC_EXTRA,
            start_timeout=120,
            keep_database=True,
        )
        self.sushy: SushyEmulator | None = None
        self.ipmi: IpmiSimulator | None = None
        self._say = say
        self._state = StackState(hosts=len(hosts))
        self._lock_fd: int | None = None
        self._stops: contextlib.AsyncExitStack | None = None

    # -- addresses -----------------------------------------------------------------------------

    @property
    def bmc_endpoints(self) -> BmcEndpoints:
        host = self.sushy.host if self.sushy is not None else ""
        ports = {name: e.port for name, e in (self.ipmi.endpoints if self.ipmi else {}).items()}
        return BmcEndpoints(redfish_host=host, ipmi_ports=ports)

    @property
    def control_plane_log(self) -> Path:
        return self.state_dir / "metalstream.log"

    def logs(self) -> dict[str, Path]:
        """Each component's log file."""
        found = {
            "nats-server": self.nats.log_path,
            "etcd": self.kube.etcd_log,
            "kube-apiserver": self.kube.apiserver_log,
            "ironic": self.state_dir / "ironic" / "ironic.log",
            "ipmi-simulator": self.state_dir / "ipmi" / "ipmi-sim.log",
            "control plane": self.control_plane_log,
        }
        if self.sushy is not None and self.sushy.log_path is not None:
            found["sushy-tools"] = self.sushy.log_path
        return found

    def pids(self) -> dict[str, list[int]]:
        """The process ids of the running components."""
        found: dict[str, list[int | None]] = {
            "nats-server": [self.nats.pid],
            "kube": list(self.kube.pids),
            "ironic": [self.ironic.pid],
            "sushy-tools": [self.sushy.pid if self.sushy else None],
            "ipmi-simulator": [self.ipmi.pid if self.ipmi else None],
        }
        return {name: [pid for pid in pids if pid] for name, pids in found.items()}

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        stops = contextlib.AsyncExitStack()
        await stops.__aenter__()
        self._stops = stops
        try:
            await self._start(stops)
        except BaseException:
            self._stops = None
            await stops.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stops, self._stops = self._stops, None
        if stops is not None:
            await stops.aclose()

    async def _start(self, stops: contextlib.AsyncExitStack) -> None:
        await asyncio.to_thread(self.state_dir.mkdir, parents=True, exist_ok=True)
        self._lock_fd = await asyncio.to_thread(_lock, self.state_dir)
        stops.callback(self._unlock)
        await _stop_leftovers(self.state_dir, self._say)
        if self.fresh:
            self._say(f"--fresh: wiping {self.state_dir}")
            await asyncio.to_thread(_wipe, self.state_dir)
        await asyncio.to_thread(self._load_state)
        await self._prepare_tools()
        stops.push_async_callback(self._forget_pids)
        stops.push_async_callback(self._stop_component, "nats-server", self.nats.stop)
        await self._start_component("nats-server", self.nats.log_path, self.nats.start(), NatsServerError)
        self._say(f"  nats-server     {self.nats.url} (JetStream store {self.nats.store_dir})")
        stops.push_async_callback(self._stop_component, "etcd and kube-apiserver", self.kube.stop)
        await self._start_kube()
        self._say(f"  kube-apiserver  {self.kube.url} (etcd {self.kube.etcd_url}, data {self.kube.etcd_dir})")
        await self._start_bmcs(stops)
        stops.push_async_callback(self._stop_component, "ironic", self.ironic.stop)
        await self._start_component(
            "ironic",
            self.state_dir / "ironic" / "ironic.log",
            self.ironic.start(),
            ironic_harness.IronicHarnessError,
        )
        self._say(f"  ironic          {self.ironic.url} (fake deploy; database {self.state_dir / 'ironic'})")
        await asyncio.to_thread(self._save_state)
        await asyncio.to_thread(_write_json, self.state_dir / PIDS_FILE, self.pids())

    async def _prepare_tools(self) -> None:
        """Find or install what is not on PyPI (cached outside the repository; slow only once)."""
        if not ironic_harness.venv_path().is_dir():
            self._say(
                f"Installing Ironic {ironic_harness.IRONIC_VERSION} into {ironic_harness.venv_path()} (once)"
            )
        try:
            await ironic_harness.ensure_venv()
        except ironic_harness.IronicHarnessError as error:
            raise StackError("ironic (install)", str(error)) from error
        try:
            # Cached after the first build; the harness asks again at start and finds them at once.
            await kube_build.ensure_binaries(progress=lambda line: self._say(f"  {line}"))
        except kube_build.KubeBuildError as error:
            raise StackError("kube-apiserver/etcd (build)", str(error)) from error
        self._say(f"Starting the local stack in {self.state_dir}{' (resuming)' if self.resumed else ''}")

    async def _start_component(
        self, component: str, log: Path, starting: Any, failure: type[Exception]
    ) -> None:
        try:
            await starting
        except failure as error:
            raise StackError(component, f"did not start: {error}", log) from error

    async def _start_kube(self) -> None:
        try:
            await self.kube.start()  # retries a port clash itself, keeping etcd's data
        except KubeApiServerError as error:
            apiserver = "kube-apiserver" in str(error).split("\n", 1)[0]
            log = self.kube.apiserver_log if apiserver else self.kube.etcd_log
            component = "kube-apiserver" if apiserver else "etcd"
            raise StackError(component, f"did not start: {error}", log) from error

    async def _start_bmcs(self, stops: contextlib.AsyncExitStack) -> None:
        redfish = tuple(h for h in self.hosts if h.bmc_kind != "ipmi")
        ipmi = tuple(h for h in self.hosts if h.bmc_kind == "ipmi")
        sushy_dir, ipmi_dir = self.state_dir / "sushy", self.state_dir / "ipmi"
        await asyncio.to_thread(_remove_old_runs, sushy_dir)
        if self._state.sushy_port:
            await _require_free("sushy-tools", self._state.sushy_port, socket.SOCK_STREAM, sushy_dir)
        for name, port in self._state.ipmi_ports.items():
            await _require_free(
                f"ipmi-simulator ({name})", port, socket.SOCK_DGRAM, ipmi_dir / "ipmi-sim.log"
            )
        systems = tuple(
            FakeSystem(uuid=h.system_uuid, name=h.name, nics=(FakeNic(mac=h.mac),)) for h in redfish
        )
        self.sushy = SushyEmulator(
            systems,
            port=self._state.sushy_port,
            users={BMC_USERNAME: self.password},
            power_delay=(0, 1),
            state_dir=sushy_dir,
        )
        stops.push_async_callback(self._stop_component, "sushy-tools", self.sushy.stop)
        await self._start_component("sushy-tools", sushy_dir, self.sushy.start(), SushyEmulatorError)
        self._state.sushy_port = self.sushy.port or 0
        self._say(f"  sushy-tools     {self.sushy.base_url} ({len(systems)} Redfish systems)")
        specs = [
            BmcSpec(
                name=h.name,
                username=BMC_USERNAME,
                password=self.password,
                port=self._state.ipmi_ports.get(h.name, 0),
            )
            for h in ipmi
        ]
        self.ipmi = IpmiSimulator(specs, state_dir=ipmi_dir)
        stops.push_async_callback(self._stop_component, "ipmi-simulator", self.ipmi.stop)
        await self._start_component(
            "ipmi-simulator", ipmi_dir / "ipmi-sim.log", self.ipmi.start(), IpmiSimulatorError
        )
        self._state.ipmi_ports = {name: e.port for name, e in self.ipmi.endpoints.items()}
        shown = ", ".join(f"{name} udp/{port}" for name, port in self._state.ipmi_ports.items()) or "none"
        self._say(f"  ipmi-simulator  {shown}")

    async def _stop_component(self, component: str, stop: Callable[[], Any]) -> None:
        self._say(f"  stopping {component}")
        await stop()

    async def _forget_pids(self) -> None:
        await asyncio.to_thread((self.state_dir / PIDS_FILE).unlink, missing_ok=True)

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    # -- state file (blocking; run in a thread) -------------------------------------------------

    def _load_state(self) -> None:
        path = self.state_dir / STATE_FILE
        wanted = len(self.hosts)
        if path.is_file():
            try:
                self._state = msgspec.json.decode(path.read_bytes(), type=StackState)
            except msgspec.DecodeError as error:
                raise StackError(
                    "state", f"{path} is unreadable ({error}); start afresh with --fresh"
                ) from error
            self.resumed = True
            if self._state.hosts != wanted:
                msg = (
                    f"{self.state_dir} holds a stack of {self._state.hosts} hosts, not {wanted}; "
                    f"run with --hosts {self._state.hosts}, or start afresh with --fresh"
                )
                raise StackError("state", msg)
            if self._state.ironic_version != ironic_harness.IRONIC_VERSION:
                msg = (
                    f"Ironic's database was made by Ironic {self._state.ironic_version}, this is "
                    f"{ironic_harness.IRONIC_VERSION}; start afresh with --fresh"
                )
                raise StackError("ironic", msg)
        password_file = self.state_dir / PASSWORD_FILE
        if not password_file.is_file():
            password_file.touch(mode=0o600)
            password_file.write_text(secrets.token_urlsafe(12))  # IPMI allows 20 bytes at most
        self.password = password_file.read_text().strip()

    def _save_state(self) -> None:
        _write_json(self.state_dir / STATE_FILE, msgspec.to_builtins(self._state))


# -- helpers --------------------------------------------------------------------------------------


def _lock(state_dir: Path) -> int:
    fd = os.open(state_dir / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        msg = f"another `metalstream dev` is using {state_dir}; stop it first, or pass another --state-dir"
        raise StackError("state", msg) from None
    return fd


def _wipe(state_dir: Path) -> None:
    for entry in state_dir.iterdir():
        if entry.name == LOCK_FILE:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _remove_old_runs(sushy_dir: Path) -> None:
    """sushy-tools gets a fresh ``run-*`` directory per start; earlier ones are of no use."""
    if sushy_dir.is_dir():
        for run in sushy_dir.glob("run-*"):
            shutil.rmtree(run, ignore_errors=True)


def _write_json(path: Path, value: object) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    partial.replace(path)


async def _require_free(component: str, port: int, kind: socket.SocketKind, log: Path) -> None:
    def bindable() -> bool:
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:
                # As the emulator's server does: connections closing in TIME-WAIT do not block it.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
            return True

    if not await asyncio.to_thread(bindable):
        proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
        msg = (
            f"port {proto}/127.0.0.1:{port} is in use by another process. The BareMetalHosts' BMC "
            "addresses name this port, so it cannot move: stop that process, or start afresh with --fresh"
        )
        raise StackError(component, msg, log)


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _uses(pid: int, state_dir: Path) -> bool:
    """Whether process ``pid`` names ``state_dir`` in its command line or has a file open under it.

    Open files matter because Ironic renames its processes (``ironic: master``) but keeps its log open.
    """
    marker = str(state_dir)
    if marker in _command_line(pid):
        return True
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    for descriptor in descriptors:
        with contextlib.suppress(OSError):
            if os.readlink(descriptor).startswith(marker + os.sep):
                return True
    return False


def _alive(pid: int) -> bool:
    return bool(_command_line(pid))


def _signal_leftover(pid: int, number: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if os.getpgid(pid) == pid and pid != os.getpgid(0):
            os.killpg(pid, number)  # a session leader (Ironic) takes its worker with it
        else:
            os.kill(pid, number)


async def _stop_leftovers(state_dir: Path, say: Say) -> None:
    """Stop processes an earlier, killed run on ``state_dir`` left behind (from ``pids.json``)."""
    path = state_dir / PIDS_FILE
    try:
        recorded: Mapping[str, list[int]] = json.loads(await asyncio.to_thread(path.read_text))
    except (OSError, ValueError):
        return
    leftovers = {
        pid: name
        for name, pids in recorded.items()
        for pid in pids
        if await asyncio.to_thread(_uses, pid, state_dir)
    }
    for pid, name in leftovers.items():
        say(f"Stopping {name} (pid {pid}) left running by an earlier run on {state_dir}")
        _signal_leftover(pid, signal.SIGTERM)
    deadline = time.monotonic() + _LEFTOVER_GRACE
    while any(_alive(pid) for pid in leftovers) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.1)  # not our children: nothing to wait on but their /proc entries
    for pid in leftovers:
        if _alive(pid):
            _signal_leftover(pid, signal.SIGKILL)
    await asyncio.to_thread(path.unlink, missing_ok=True)
