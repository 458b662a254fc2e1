"""An IPMI BMC client on pyghmi: access checks, power and boot device.

pyghmi is synchronous and keeps its own I/O thread and retry timers: a login to a BMC that never
answers gives up after about 6 s, an established session retries a command for a few seconds.
Each call runs in a worker thread (``_threads.BlockingCalls``) under an ``asyncio`` deadline set
above those internal timers, so callers get an answer in bounded time either way.

pyghmi shares sessions between ``Command`` objects with the same host, port and credentials, so
one ``IpmiClient`` per BMC is the rule (operations on it are serialised). A session that pyghmi
reports broken is dropped and the next call logs in again; ``_forget_broken_session`` works
around pyghmi keeping broken sessions in its registry (so a BMC that failed once would never be
reached again by the same process).

pyghmi reports failures as ``IpmiException`` with a message and usually no completion code; the
texts are pyghmi's completion-code names and login errors, which ``_classify`` maps onto the
transient/permanent tree of ``errors``. pyghmi neither logs nor repeats passwords in messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import msgspec
from pyghmi import exceptions as pyghmi_exc
from pyghmi.ipmi import command as pyghmi_command
from pyghmi.ipmi.private import session as pyghmi_session

from adapters.bmc import errors
from adapters.bmc._threads import BlockingCalls, shared
from adapters.bmc.addresses import IPMI_DEFAULT_PORT, BmcAccessDetails, BmcProtocol
from adapters.bmc.credentials import Credentials
from adapters.bmc.ports import AccessInfo, BootDevice, BootMode, BootSettings, PowerAction

T = TypeVar("T")

_PRIVILEGE_LEVELS: Final = {"CALLBACK": 1, "USER": 2, "OPERATOR": 3, "ADMINISTRATOR": 4}
_BOOT_DEVICES: Final = {
    BootDevice.PXE: "network",
    BootDevice.DISK: "hd",
    BootDevice.CDROM: "optical",
    BootDevice.BIOS: "setup",
}
_DEVICES_BY_NAME: Final = {name: device for device, name in _BOOT_DEVICES.items()}

# pyghmi's texts for login failures and completion codes, by what the caller should do.
_AUTH_FAILURES: Final = (
    "Incorrect password",
    "Unauthorized name",
    "Unauthorized role",
    "Invalid role",
    "Insufficient privilege",
    "Unauthorized GUID",
)
_BUSY: Final = (
    "Node Busy",
    "firmware update mode",
    "initialization in progress",
    "not supported in present state",
    "duplicated request",
    "Insufficient resources",
)
_TIMEOUTS: Final = ("Timeout", "timeout", "did not accomplish power state change")
_UNSUPPORTED: Final = (
    "Invalid command",
    "Invalid data field",
    "Parameter out of range",
    "not present",
    "illegal for specified",
    "subfunction disabled",
    "Request data length invalid",
    "Unknown",
    "No Cipher suite match",
)
_DISCONNECTED: Final = ("Session no longer connected", "Session failed to initialize")


class IpmiTimeouts(msgspec.Struct, frozen=True, kw_only=True):
    """Time budgets in seconds."""

    login: float = 12.0
    """Budget of logging in; pyghmi itself gives up on a silent BMC after about 6 s."""
    operation: float = 15.0
    """Budget of one operation on an established session."""
    soft_power: float = 60.0
    """How long a soft reboot waits for the OS to power the host off before powering it on."""


class IpmiClient:
    """One IPMI BMC. Use as an async context manager, or call ``aclose``."""

    def __init__(
        self,
        *,
        host: str,
        credentials: Credentials,
        port: int = int(IPMI_DEFAULT_PORT),
        privilege_level: str = "ADMINISTRATOR",
        timeouts: IpmiTimeouts | None = None,
        calls: BlockingCalls | None = None,
    ) -> None:
        if privilege_level not in _PRIVILEGE_LEVELS:
            raise errors.BmcConfigurationError(
                f"invalid IPMI privilege level {privilege_level!r}: use one of {', '.join(_PRIVILEGE_LEVELS)}"
            )
        self._host = host
        self._port = port
        self._credentials = credentials
        self._privilege = _PRIVILEGE_LEVELS[privilege_level]
        self._timeouts = timeouts or IpmiTimeouts()
        self._calls = calls or shared()
        self._lock = asyncio.Lock()
        self._command: Any = None

    @classmethod
    def for_access(cls, access: BmcAccessDetails, credentials: Credentials, **options: Any) -> IpmiClient:
        """A client for a parsed ``ipmi://``/``libvirt://`` (or bare ``host[:port]``) address."""
        if access.protocol is not BmcProtocol.IPMI:
            raise errors.BmcUnsupportedOperation(
                f"BMC type '{access.bmc_type}' is not reached over IPMI", address=access.address
            )
        return cls(
            host=access.hostname,
            port=access.ipmi_port,
            credentials=credentials,
            privilege_level=access.privilege_level,
            **options,
        )

    @property
    def address(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ipmi://{host}:{self._port}"

    def __repr__(self) -> str:
        return f"IpmiClient({self.address!r})"

    # --- BmcClient ---------------------------------------------------------------------------

    async def validate_access(self) -> AccessInfo:
        def check() -> AccessInfo:
            powered_on = self._session().get_power()["powerstate"] == "on"
            return AccessInfo(system_id=self.address, powered_on=powered_on)

        return await self._run("validate access", check)

    async def get_power(self) -> bool:
        return await self._run("get power state", lambda: self._session().get_power()["powerstate"] == "on")

    async def set_power(self, action: PowerAction) -> None:
        soft_wait = max(1, int(self._timeouts.soft_power))

        def change() -> None:
            session = self._session()
            match action:
                case PowerAction.ON:
                    session.set_power("on")
                case PowerAction.OFF:
                    session.set_power("off")
                case PowerAction.SOFT_OFF:
                    session.set_power("shutdown")
                case PowerAction.REBOOT:
                    session.set_power("boot")  # pyghmi: "on" when off, hard reset otherwise
                case PowerAction.SOFT_REBOOT:
                    # IPMI has no graceful restart: soft off, wait for off, power on (as Ironic does).
                    session.set_power("shutdown", wait=soft_wait)
                    session.set_power("on")

        budget = self._timeouts.operation
        if action is PowerAction.SOFT_REBOOT:
            budget += self._timeouts.soft_power
        await self._run(f"power {action}", change, budget=budget)

    async def get_boot(self) -> BootSettings:
        def read() -> BootSettings:
            found = self._session().get_bootdev()
            device = _DEVICES_BY_NAME.get(found.get("bootdev"))
            if device is None:
                return BootSettings(device=None, persistent=None, mode=None)
            uefi = found.get("uefimode")
            return BootSettings(
                device=device,
                persistent=bool(found.get("persistent")),
                mode=None if uefi is None else (BootMode.UEFI if uefi else BootMode.LEGACY),
            )

        return await self._run("get boot device", read)

    async def set_boot_device(
        self, device: BootDevice, *, persistent: bool = False, mode: BootMode | None = None
    ) -> None:
        def change() -> None:
            self._session().set_bootdev(
                _BOOT_DEVICES[device], persist=persistent, uefiboot=mode is BootMode.UEFI
            )

        await self._run(f"set boot device {device}", change)

    async def aclose(self) -> None:
        async with self._lock:
            command, self._command = self._command, None
            if command is None:
                return

            def logout() -> None:
                command.ipmi_session.logout()

            with contextlib.suppress(errors.BmcError):  # the BMC expires idle sessions itself
                await self._calls.run(
                    logout, budget=self._timeouts.operation, address=self.address, operation="close session"
                )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- thread side -------------------------------------------------------------------------

    async def _run(self, operation: str, fn: Callable[[], T], *, budget: float | None = None) -> T:
        async with self._lock:
            budget = self._timeouts.operation if budget is None else budget
            if self._command is None:
                budget += self._timeouts.login

            def guarded() -> T:
                try:
                    return fn()
                except errors.BmcError:
                    raise
                except Exception as e:
                    raise self._error(e, operation) from e

            try:
                return await self._calls.run(
                    guarded, budget=budget, address=self.address, operation=operation
                )
            except (errors.BmcTransientError, errors.BmcAuthenticationFailed):
                self._command = None  # log in afresh next time
                raise

    def _session(self) -> Any:
        if self._command is None:
            self._forget_broken_session()
            try:
                self._command = pyghmi_command.Command(
                    bmc=self._host,
                    userid=self._credentials.username.reveal(),
                    password=self._credentials.password.reveal(),
                    port=self._port,
                    privlevel=self._privilege,
                )
            except pyghmi_exc.IpmiException as e:
                raise self._login_error(e) from e
        return self._command

    def _forget_broken_session(self) -> None:
        """Drop a dead session pyghmi would otherwise hand back for these host and credentials.

        pyghmi registers a session under ``(host, user, password, port, kg)`` with ``str`` values
        but removes it with the ``bytes`` it converted them to, so the entry outlives logouts and
        failures, and every later ``Command`` for the same BMC gets the same broken session.
        """
        key = (
            self._host,
            self._credentials.username.reveal(),
            self._credentials.password.reveal(),
            self._port,
            None,
        )
        stale = pyghmi_session.Session.initting_sessions.get(key)
        if stale is not None and getattr(stale, "broken", False):
            pyghmi_session.Session.initting_sessions.pop(key, None)

    def _message(self, operation: str, detail: str) -> str:
        return (
            f"{operation} on BMC {self.address} failed: {errors.redact(detail, self._credentials.secrets())}"
        )

    def _login_error(self, e: pyghmi_exc.IpmiException) -> errors.BmcError:
        text = str(e.args[0]) if e.args and e.args[0] else ""
        where = {"address": self.address, "operation": "log in"}
        if any(marker in text for marker in _AUTH_FAILURES):
            return errors.BmcAuthenticationFailed(
                self._message("log in", f"{text}: the BMC rejected the credentials"), **where
            )
        if not text or any(marker in text for marker in (*_TIMEOUTS, *_DISCONNECTED)):
            return errors.BmcUnreachable(self._message("log in", "no answer from the BMC"), **where)
        return self._classify(text, "log in")

    def _error(self, e: Exception, operation: str) -> errors.BmcError:
        where = {"address": self.address, "operation": operation}
        if isinstance(e, socket.gaierror | OSError):
            return errors.BmcUnreachable(self._message(operation, str(e)), **where)
        if isinstance(e, pyghmi_exc.InvalidParameterValue):
            return errors.BmcUnsupportedOperation(self._message(operation, str(e)), **where)
        if isinstance(e, pyghmi_exc.IpmiException):
            text = str(e.args[0]) if e.args and e.args[0] else "no answer from the BMC"
            if any(marker in text for marker in _DISCONNECTED):
                return errors.BmcUnreachable(self._message(operation, text), **where)
            return self._classify(text, operation)
        return errors.BmcPermanentError(self._message(operation, f"{type(e).__name__}: {e}"), **where)

    def _classify(self, text: str, operation: str) -> errors.BmcError:
        where = {"address": self.address, "operation": operation}
        message = self._message(operation, text)
        if any(marker in text for marker in _AUTH_FAILURES):
            return errors.BmcAuthenticationFailed(message, **where)
        if any(marker in text for marker in _BUSY):
            return errors.BmcBusy(message, **where)
        if any(marker in text for marker in _TIMEOUTS):
            return errors.BmcTimeout(message, **where)
        if any(marker in text for marker in _UNSUPPORTED):
            return errors.BmcUnsupportedOperation(message, **where)
        return errors.BmcServerError(message, **where)
