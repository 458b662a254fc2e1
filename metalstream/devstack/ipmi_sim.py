"""An IPMI BMC simulator: several pyghmi BMCs in one process, each on its own UDP port.

Run as ``python -m metalstream.devstack.ipmi_sim --config <file.json>``. The config lists the
BMCs (name, username, password, initial power, power delay); when every BMC is bound the process
prints one JSON line ``{"ready": true, "bmcs": [{"name": ..., "port": ...}, ...]}`` on stdout and
then serves until it is terminated. ``IpmiSimulator`` is the async harness that writes the
config, starts the process, reads that line and stops the process again.

Two fixes to pyghmi's server live here, in subclasses, so installed packages stay untouched:

* pyghmi's client first proposes cipher suite 17 (HMAC-SHA256); pyghmi's server ignores the
  proposal and answers "SHA1" as if it had been accepted, and the client then fails in RAKP2
  (``struct.error: pack expected 32 items``). Our server session answers a proposal of anything
  but HMAC-SHA1 authentication and integrity with RMCP+ status 0x11 ("no matching cipher suite"),
  which is what a suite-3-only BMC should say; pyghmi's client then retries with SHA1, and
  ipmitool (which proposes suite 3) is unaffected.
* pyghmi's server silently drops RAKP1 for an unknown user, so a wrong username looks like an
  unreachable BMC. We answer with RAKP2 status 0x0d ("unauthorized name"), as real BMCs do.

The chassis model is minimal but honest: power on/off/cycle/reset/soft-off with an optional delay
before the change is visible, and the boot-flags parameter (device, persistent, EFI) kept exactly
as the client set it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import msgspec

from metalstream.devstack import processes
from metalstream.devstack.orphans import EXIT_WITH_PARENT_ENV, exit_with_parent

_AUTH_HMAC_SHA1: Final = 0x01
_INTEGRITY_HMAC_SHA1_96: Final = 0x01
_STATUS_NO_CIPHER_SUITE_MATCH: Final = 0x11
_STATUS_UNAUTHORIZED_NAME: Final = 0x0D
_BOOT_FLAGS_PARAMETER: Final = 5


class BmcSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One simulated BMC."""

    name: str
    username: str = "admin"
    password: str = "password"  # noqa: S105 - simulator default, never a real secret
    powered_on: bool = False
    power_delay: float = 0.0
    """Seconds between a power request and the new state becoming visible."""
    port: int = 0
    """UDP port; 0 picks a free one."""


class SimulatorConfig(msgspec.Struct, frozen=True, kw_only=True):
    address: str = "127.0.0.1"
    bmcs: tuple[BmcSpec, ...] = ()


class BmcEndpoint(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    host: str
    port: int


class _Ready(msgspec.Struct, frozen=True, kw_only=True):
    ready: bool
    bmcs: tuple[BmcEndpoint, ...]


# --- the simulator process (imports pyghmi lazily: the harness side does not need it) -------------


def _serve(config: SimulatorConfig) -> None:
    from pyghmi.ipmi import bmc as pyghmi_bmc
    from pyghmi.ipmi.private import constants, serversession

    class Sha1OnlyServerSession(serversession.ServerSession):  # type: ignore[misc]
        """Refuses cipher proposals it cannot honour and names unknown users, like a real BMC."""

        def create_open_session_response(self, request: bytearray) -> bytearray:
            auth_algorithm, integrity_algorithm = request[12], request[20]
            if auth_algorithm == _AUTH_HMAC_SHA1 and integrity_algorithm == _INTEGRITY_HMAC_SHA1_96:
                response: bytearray = super().create_open_session_response(request)
                return response
            clienttag = request[0]
            self.clientsessionid = request[4:8]
            return bytearray([clienttag, _STATUS_NO_CIPHER_SUITE_MATCH, 0, 0]) + self.clientsessionid

        def _got_rakp1(self, data: Sequence[int]) -> None:
            namepresent = data[27]
            username = bytes(data[28:]).decode("utf-8", errors="replace")
            if namepresent and self.authdata.get(username) is None:
                clienttag = data[0]
                message = bytearray([clienttag, _STATUS_UNAUTHORIZED_NAME, 0, 0]) + self.clientsessionid
                self.send_payload(message, constants.payload_types["rakp2"], retry=False)
                return
            super()._got_rakp1(data)

    class SimulatedBmc(pyghmi_bmc.Bmc):  # type: ignore[misc]
        def __init__(self, spec: BmcSpec, address: str) -> None:
            super().__init__({spec.username: spec.password}, port=spec.port, address=address)
            self.port = self.serversocket.getsockname()[1]
            self.name = spec.name
            self._delay = spec.power_delay
            self._powered_on = spec.powered_on
            self._pending: tuple[float, bool] | None = None
            # Boot flags parameter data bytes 1..5 (IPMI table 28-14), as last set by a client.
            self._boot_flags = bytearray([0, 0, 0, 0, 0])
            self._lock = threading.Lock()

        def sessionless_data(self, data: bytes, sockaddr: Any) -> None:
            # Route new RMCP+ sessions to our session class; everything else is pyghmi's.
            packet = bytearray(data)
            is_ipmi2 = len(packet) >= 22 and packet[0] == 6 and packet[2:4] == b"\xff\x07" and packet[4] == 6
            if is_ipmi2 and packet[5] == 16:  # RMCP+ open session request
                Sha1OnlyServerSession(
                    self.authdata, self.kg, sockaddr, self.serversocket, packet[16:], self.uuid, bmc=self
                )
                return
            super().sessionless_data(data, sockaddr)

        # power -------------------------------------------------------------------------------
        def _settle(self) -> None:
            if self._pending is not None and time.monotonic() >= self._pending[0]:
                self._powered_on = self._pending[1]
                self._pending = None

        def _request_power(self, *, on: bool) -> int:
            with self._lock:
                self._settle()
                if self._delay <= 0:
                    self._powered_on = on
                    self._pending = None
                else:
                    self._pending = (time.monotonic() + self._delay, on)
            return 0

        def get_power_state(self) -> str:
            with self._lock:
                self._settle()
                return "on" if self._powered_on else "off"

        def power_on(self) -> int:
            return self._request_power(on=True)

        def power_off(self) -> int:
            return self._request_power(on=False)

        def power_shutdown(self) -> int:
            return self._request_power(on=False)

        def power_cycle(self) -> int:
            return self._request_power(on=True)

        def power_reset(self) -> int:
            return self._request_power(on=True)

        def is_active(self) -> bool:
            return self.get_power_state() == "on"

        def cold_reset(self) -> int:
            return 0

        def get_system_guid(self) -> uuid.UUID:
            guid: uuid.UUID = self.uuid
            return guid

        # boot flags --------------------------------------------------------------------------
        def get_system_boot_options(self, request: dict[str, Any], session: Any) -> None:
            if request["data"][0] != _BOOT_FLAGS_PARAMETER:
                session.send_ipmi_response(code=0x80)  # parameter not supported
                return
            with self._lock:
                flags = bytes(self._boot_flags)
            session.send_ipmi_response(data=[1, _BOOT_FLAGS_PARAMETER, *flags])

        def set_system_boot_options(self, request: dict[str, Any], session: Any) -> None:
            data = request["data"]
            if data[0] & 0x7F == _BOOT_FLAGS_PARAMETER:
                with self._lock:
                    given = bytes(data[1:6])
                    self._boot_flags[: len(given)] = given
            session.send_ipmi_response()

    bmcs = [SimulatedBmc(spec, config.address) for spec in config.bmcs]
    ready = _Ready(
        ready=True,
        bmcs=tuple(BmcEndpoint(name=b.name, host=config.address, port=b.port) for b in bmcs),
    )
    sys.stdout.write(msgspec.json.encode(ready).decode() + "\n")
    sys.stdout.flush()

    pyghmi_bmc.Bmc.listen(timeout=30)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metalstream.devstack.ipmi_sim")
    parser.add_argument("--config", required=True, help="JSON file with address and bmcs")
    args = parser.parse_args(argv)
    config = msgspec.json.decode(Path(args.config).read_bytes(), type=SimulatorConfig)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if os.environ.get(EXIT_WITH_PARENT_ENV) == "1":
        exit_with_parent()
    _serve(config)
    return 0


# --- the async harness ---------------------------------------------------------------------------


class IpmiSimulatorError(RuntimeError):
    """The simulator process did not come up; the message names its log file."""


class IpmiSimulator:
    """Starts the simulator process, learns its ports, stops it. Use as an async context manager."""

    def __init__(
        self,
        bmcs: Sequence[BmcSpec],
        *,
        address: str = "127.0.0.1",
        state_dir: Path | None = None,
        start_timeout: float = 20.0,
        python: str = sys.executable,
    ) -> None:
        self._config = SimulatorConfig(address=address, bmcs=tuple(bmcs))
        self._state_dir = state_dir
        self._start_timeout = start_timeout
        self._python = python
        self._process: asyncio.subprocess.Process | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.endpoints: dict[str, BmcEndpoint] = {}
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None

    def endpoint(self, name: str) -> BmcEndpoint:
        return self.endpoints[name]

    async def start(self) -> None:
        started = time.monotonic()
        config_path, log_path = await asyncio.to_thread(self._prepare)
        self.log_path = log_path
        log = await asyncio.to_thread(log_path.open, "wb")
        try:
            self._process = process = await processes.start(
                self._python,
                "-m",
                "metalstream.devstack.ipmi_sim",
                "--config",
                str(config_path),
                stdin=asyncio.subprocess.PIPE,  # held open: the simulator exits when it closes
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                env={**os.environ, EXIT_WITH_PARENT_ENV: "1"},
            )
        finally:
            log.close()
        try:
            if process.stdout is None:
                msg = "no stdout pipe"
                raise IpmiSimulatorError(msg)
            async with asyncio.timeout(self._start_timeout):
                line = await process.stdout.readline()
            ready = msgspec.json.decode(line, type=_Ready)
        except BaseException as e:
            await self.stop()
            if not isinstance(e, TimeoutError | msgspec.DecodeError | IpmiSimulatorError):
                raise
            msg = f"IPMI simulator did not report ready within {self._start_timeout:g}s; see {self.log_path}"
            raise IpmiSimulatorError(msg) from e
        self.startup_seconds = time.monotonic() - started
        self.endpoints = {b.name: b for b in ready.bmcs}

    def _prepare(self) -> tuple[Path, Path]:
        """Create the state directory and the config file (runs in a thread)."""
        if self._state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ipmi-sim-")
            state_dir = Path(self._tmp.name)
        else:
            state_dir = self._state_dir
            state_dir.mkdir(parents=True, exist_ok=True)
        config_path = state_dir / "ipmi-sim.json"
        config_path.touch(mode=0o600)
        config_path.write_bytes(msgspec.json.encode(self._config))
        return config_path, state_dir / "ipmi-sim.log"

    @property
    def pid(self) -> int | None:
        """The simulator process id while it runs."""
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


if __name__ == "__main__":
    sys.exit(main())
