"""A real Redfish BMC for tests and the dev stack: sushy-tools' emulator with its fake driver.

``SushyEmulator`` writes an emulator config for N fake systems into a fresh state directory,
starts ``python -m metalstream.devstack.sushy_launcher`` (the emulator plus the inventory and
boot-override completions Ironic's Redfish inspection needs) on a free port of 127.0.0.1, waits
until ``/redfish/v1/Systems`` answers, and stops the process with SIGTERM, then SIGKILL.

Optional parts:

* ``users``: HTTP basic auth with an htpasswd file. sushy-tools accepts bcrypt entries only
  (``$2b$``); they are hashed with the cheapest cost factor because the emulator checks the
  password on every request.
* ``power_delay``: the fake driver applies power changes after ``randint(1, 11)`` seconds; tests
  that do not study that delay can narrow it, e.g. ``(0, 1)``.
* ``tls``: serve HTTPS with a given certificate and key.
* ``port``: listen on this port instead of a free one. A BareMetalHost's BMC address names the
  port and may not change once registered, so a dev stack that restarts asks for the port its
  hosts were registered with; a port taken by another process fails the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

import aiohttp
import bcrypt
import msgspec

from metalstream.devstack import processes
from metalstream.devstack.orphans import EXIT_WITH_PARENT_ENV

_MAX_PORT: Final = 65535


class SushyEmulatorError(RuntimeError):
    """The emulator did not come up; the message names its log file."""


class FakeNic(msgspec.Struct, frozen=True, kw_only=True):
    mac: str
    ip: str = ""


class FakeSystem(msgspec.Struct, frozen=True, kw_only=True):
    """One fake Redfish system and the inventory it reports."""

    uuid: str
    name: str
    power_state: Literal["On", "Off"] = "Off"
    nics: tuple[FakeNic, ...] = ()
    cpus: int = 4
    cpu_model: str = "Fake CPU @ 2.40GHz"
    memory_gb: int = 16
    disk_gb: int = 100
    bios_version: str = "1.0.0"

    @property
    def path(self) -> str:
        """The Redfish system path, as it goes into a ``redfish://host/<path>`` address."""
        return f"/redfish/v1/Systems/{self.uuid}"


class TlsFiles(msgspec.Struct, frozen=True, kw_only=True):
    certificate: Path
    key: Path


class SushyEmulator:
    """One ``sushy-emulator`` process serving ``systems``. Use as an async context manager."""

    def __init__(
        self,
        systems: Sequence[FakeSystem],
        *,
        users: Mapping[str, str] | None = None,
        power_delay: tuple[int, int] | None = None,
        tls: TlsFiles | None = None,
        state_dir: Path | None = None,
        start_timeout: float = 30.0,
        python: str = sys.executable,
        port: int = 0,
    ) -> None:
        if not 0 <= port <= _MAX_PORT:
            msg = f"port must be 0 (a free port) or a TCP port 1-{_MAX_PORT}, not {port}"
            raise ValueError(msg)
        self._listen_port = port
        self.systems = tuple(systems)
        self._users = dict(users or {})
        self._power_delay = power_delay
        self._tls = tls
        self._state_dir = state_dir
        self._start_timeout = start_timeout
        self._python = python
        self._process: asyncio.subprocess.Process | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.port: int | None = None
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None

    @property
    def host(self) -> str:
        if self.port is None:
            msg = "the emulator is not running"
            raise RuntimeError(msg)
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """``http(s)://127.0.0.1:<port>``, the Redfish service root's origin."""
        return f"{'https' if self._tls else 'http'}://{self.host}"

    def address(self, system: FakeSystem, *, scheme: str = "redfish") -> str:
        """A Metal3 BMC address for ``system``, e.g. ``redfish+http://127.0.0.1:8000/redfish/v1/...``."""
        transport = "https" if self._tls else "http"
        return f"{scheme}+{transport}://{self.host}{system.path}"

    async def start(self) -> None:
        started = time.monotonic()
        config_path, port_file, log_path = await asyncio.to_thread(self._prepare)
        self.log_path = log_path
        log = await asyncio.to_thread(log_path.open, "wb")
        try:
            self._process = await processes.start(
                self._python,
                "-m",
                "metalstream.devstack.sushy_launcher",
                "--config",
                str(config_path),
                stdin=asyncio.subprocess.PIPE,  # held open: the emulator exits when it closes
                stdout=log,
                stderr=log,
                start_new_session=True,
                env={**os.environ, EXIT_WITH_PARENT_ENV: "1"},
            )
        finally:
            log.close()
        try:
            async with asyncio.timeout(self._start_timeout):
                await self._wait_ready(self._process, port_file)
        except BaseException as e:
            await self.stop()
            if not isinstance(e, TimeoutError | SushyEmulatorError):
                raise
            reason = str(e) or f"not ready within {self._start_timeout:g}s"
            msg = f"sushy-emulator did not start ({reason}); see {self.log_path}"
            raise SushyEmulatorError(msg) from e
        self.startup_seconds = time.monotonic() - started

    @property
    def pid(self) -> int | None:
        """The emulator process id while it runs."""
        return None if self._process is None else self._process.pid

    async def stop(self) -> None:
        process, self._process = self._process, None
        await processes.stop(process)
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            await asyncio.to_thread(tmp.cleanup)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _prepare(self) -> tuple[Path, Path, Path]:
        """Create a fresh state directory with the emulator config (runs in a thread)."""
        if self._state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sushy-emulator-")
            state_dir = Path(self._tmp.name)
        else:
            self._state_dir.mkdir(parents=True, exist_ok=True)
            state_dir = Path(tempfile.mkdtemp(prefix="run-", dir=self._state_dir))
        port_file = state_dir / "port"
        config_path = state_dir / "emulator.conf"
        config_path.write_text(self._config(state_dir, port_file))
        return config_path, port_file, state_dir / "sushy-emulator.log"

    def _config(self, state_dir: Path, port_file: Path) -> str:
        systems = [
            {
                "uuid": s.uuid,
                "name": s.name,
                "power_state": s.power_state,
                "external_notifier": False,
                "nics": [{"mac": n.mac, "ip": n.ip} for n in s.nics],
                "cpus": s.cpus,
                "cpu_model": s.cpu_model,
                "memory_gb": s.memory_gb,
                "disk_gb": s.disk_gb,
                "bios_version": s.bios_version,
            }
            for s in self.systems
        ]
        storage = {
            s.uuid: [
                {
                    "Id": "1",
                    "Name": "Local Storage Controller",
                    "Drives": ["disk0"],
                    "StorageControllers": [{"MemberId": "0", "Name": "Fake RAID", "SpeedGbps": 12}],
                }
            ]
            for s in self.systems
        }
        drives = {
            (s.uuid, "1"): [
                {"Id": "disk0", "Name": "disk0", "CapacityBytes": s.disk_gb * 1024**3, "Protocol": "SATA"}
            ]
            for s in self.systems
        }
        volumes: dict[tuple[str, str], list[object]] = {(s.uuid, "1"): [] for s in self.systems}
        lines = [
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'",
            f"SUSHY_EMULATOR_LISTEN_PORT = {self._listen_port}",
            "SUSHY_EMULATOR_FAKE_DRIVER = True",
            f"SUSHY_EMULATOR_STATE_DIR = {str(state_dir / 'state')!r}",
            f"SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}",
            f"SUSHY_EMULATOR_STORAGE = {storage!r}",
            f"SUSHY_EMULATOR_DRIVES = {drives!r}",
            f"SUSHY_EMULATOR_VOLUMES = {volumes!r}",
            f"METALSTREAM_PORT_FILE = {str(port_file)!r}",
        ]
        if self._power_delay is not None:
            lines.append(f"METALSTREAM_POWER_DELAY = {tuple(self._power_delay)!r}")
        if self._users:
            auth_file = state_dir / "htpasswd"
            auth_file.touch(mode=0o600)
            auth_file.write_text(
                "".join(
                    f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                    for user, pw in self._users.items()
                )
            )
            lines.append(f"SUSHY_EMULATOR_AUTH_FILE = {str(auth_file)!r}")
        if self._tls is not None:
            lines.append(f"SUSHY_EMULATOR_SSL_CERT = {str(self._tls.certificate)!r}")
            lines.append(f"SUSHY_EMULATOR_SSL_KEY = {str(self._tls.key)!r}")
        return "\n".join(lines) + "\n"

    async def _wait_ready(self, process: asyncio.subprocess.Process, port_file: Path) -> None:
        while not await asyncio.to_thread(port_file.exists):
            if process.returncode is not None:
                msg = f"process exited with code {process.returncode}"
                raise SushyEmulatorError(msg)
            await asyncio.sleep(0.05)
        self.port = int(await asyncio.to_thread(port_file.read_text))
        headers = {}
        if self._users:
            user, password = next(iter(self._users.items()))
            headers["Authorization"] = aiohttp.encode_basic_auth(user, password)
        url = f"{self.base_url}/redfish/v1/Systems"
        timeout = aiohttp.ClientTimeout(total=2)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                if process.returncode is not None:
                    msg = f"process exited with code {process.returncode}"
                    raise SushyEmulatorError(msg)
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(url, headers=headers, ssl=False) as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.05)
