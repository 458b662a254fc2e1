"""A Redfish BMC client on sushy: access checks, power, boot, inventory and virtual media.

sushy is synchronous, so each operation runs as one blocking function in a worker thread
(``_threads.BlockingCalls``) under an ``asyncio`` deadline, and operations on one client are
serialised by a lock: one BMC, one conversation at a time. sushy's own retries are cut down to a
single attempt (its defaults retry connection errors with sleeps for up to 30 s), so the time
budget belongs to the caller, and the error type says whether to retry (``errors``).

sushy exceptions are translated where they are caught. A 404 on the system means a wrong system
path in the address (``BmcSystemNotFound``); 401/403 mean bad credentials; a TLS failure is its
own permanent error; refused connections and timeouts are transient. sushy logs requests at debug
level with passwords masked (but not usernames, hence ``_SecretScrubber`` on its loggers), and
basic-auth credentials live in the HTTP session, not in logged headers; error messages built here
are additionally passed through ``errors.redact``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import msgspec
import requests
import sushy
from sushy import auth as sushy_auth
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exc

from adapters.bmc import errors, inventory
from adapters.bmc._threads import BlockingCalls, shared
from adapters.bmc.addresses import BmcAccessDetails, BmcProtocol
from adapters.bmc.credentials import Credentials
from adapters.bmc.ports import (
    AccessInfo,
    BootDevice,
    BootMode,
    BootSettings,
    PowerAction,
    VirtualMediaState,
)

T = TypeVar("T")


class _SecretScrubber(logging.Filter):
    """Masks the credentials of live clients in sushy's log records.

    sushy masks passwords in what it logs, but not usernames (a session login body is logged at
    debug level). Filters on a logger do not apply to its children, so this one is attached to
    every ``sushy.*`` logger.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._live: collections.Counter[str] = collections.Counter()

    def add(self, secrets: tuple[str, ...]) -> None:
        with self._lock:
            self._live.update(s for s in secrets if s)

    def discard(self, secrets: tuple[str, ...]) -> None:
        with self._lock:
            self._live.subtract(s for s in secrets if s)
            self._live = +self._live

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            secrets = tuple(self._live)
        if secrets:
            message = record.getMessage()
            scrubbed = errors.scrub(message, secrets)
            if scrubbed != message:
                record.msg, record.args = scrubbed, None
        return True


_SCRUBBER: Final = _SecretScrubber()
for _name in [n for n in logging.Logger.manager.loggerDict if n == "sushy" or n.startswith("sushy.")]:
    logging.getLogger(_name).addFilter(_SCRUBBER)

_RESET_TYPES: Final = {
    PowerAction.ON: sushy.ResetType.ON,
    PowerAction.OFF: sushy.ResetType.FORCE_OFF,
    PowerAction.SOFT_OFF: sushy.ResetType.GRACEFUL_SHUTDOWN,
    PowerAction.REBOOT: sushy.ResetType.FORCE_RESTART,
    PowerAction.SOFT_REBOOT: sushy.ResetType.GRACEFUL_RESTART,
}
_BOOT_SOURCES: Final = {
    BootDevice.PXE: sushy.BootSource.PXE,
    BootDevice.DISK: sushy.BootSource.HDD,
    BootDevice.CDROM: sushy.BootSource.CD,
    BootDevice.BIOS: sushy.BootSource.BIOS_SETUP,
}
_BOOT_DEVICES: Final = {source: device for device, source in _BOOT_SOURCES.items()}
_BOOT_MODES: Final = {
    BootMode.UEFI: sushy.BootSourceOverrideMode.UEFI,
    BootMode.LEGACY: sushy.BootSourceOverrideMode.LEGACY,
}
_POWERED_ON: Final = frozenset({sushy.PowerState.ON, sushy.PowerState.POWERING_ON})
_CD_MEDIA: Final = frozenset({sushy.VirtualMediaType.CD, sushy.VirtualMediaType.DVD})


class RedfishTimeouts(msgspec.Struct, frozen=True, kw_only=True):
    """Time budgets in seconds."""

    connect: float = 5.0
    """TCP connect timeout of each HTTP request."""
    read: float = 20.0
    """Read timeout of each HTTP request."""
    operation: float = 30.0
    """Budget of one client operation (several requests), enforced with ``asyncio.timeout``."""
    inspection: float = 60.0
    """Budget of ``inspect``, which walks many resources."""


class RedfishClient:
    """One Redfish system behind one BMC. Use as an async context manager, or call ``aclose``."""

    def __init__(
        self,
        *,
        base_url: str,
        credentials: Credentials,
        system_id: str | None = None,
        verify: bool | str = True,
        timeouts: RedfishTimeouts | None = None,
        calls: BlockingCalls | None = None,
        server_side_retries: int = 1,
    ) -> None:
        """``base_url`` is ``http(s)://host[:port]``; ``system_id`` a system path, or ``None``
        for "the only system". ``verify`` is ``False`` (no TLS verification), ``True`` or a CA
        bundle path."""
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._system_id = system_id
        self._verify = verify
        self._timeouts = timeouts or RedfishTimeouts()
        self._calls = calls or shared()
        self._server_side_retries = server_side_retries
        self._lock = asyncio.Lock()
        self._root: Any = None
        self._connector: Any = None
        self._auth: Any = None
        self._scrubbing: tuple[str, ...] = credentials.secrets()
        _SCRUBBER.add(self._scrubbing)

    @classmethod
    def for_access(cls, access: BmcAccessDetails, credentials: Credentials, **options: Any) -> RedfishClient:
        """A client for a parsed ``redfish*``/``idrac*``/``ilo5*`` address."""
        if access.protocol is not BmcProtocol.REDFISH:
            raise errors.BmcUnsupportedOperation(
                f"BMC type '{access.bmc_type}' is not reached over Redfish", address=access.address
            )
        return cls(
            base_url=access.redfish_address,
            credentials=credentials,
            system_id=access.redfish_system_id,
            verify=access.verify_ca,
            **options,
        )

    @property
    def address(self) -> str:
        return self._base_url + (self._system_id or "")

    def __repr__(self) -> str:
        return f"RedfishClient({self.address!r})"

    # --- BmcClient ---------------------------------------------------------------------------

    async def validate_access(self) -> AccessInfo:
        def check() -> AccessInfo:
            system = self._system()
            return AccessInfo(
                system_id=str(system.path),
                powered_on=system.power_state in _POWERED_ON,
                manufacturer=system.manufacturer or "",
                model=system.model or "",
            )

        return await self._run("validate access", check)

    async def get_power(self) -> bool:
        return await self._run("get power state", lambda: self._system().power_state in _POWERED_ON)

    async def set_power(self, action: PowerAction) -> None:
        def change() -> None:
            system = self._system()
            reset = _RESET_TYPES[action]
            if action in (PowerAction.REBOOT, PowerAction.SOFT_REBOOT) and (
                system.power_state not in _POWERED_ON
            ):
                reset = sushy.ResetType.ON  # rebooting a host that is off powers it on, as in Ironic
            allowed = system.get_allowed_reset_system_values()
            if allowed and reset not in allowed:
                raise errors.BmcUnsupportedOperation(
                    f"BMC {self.address} does not offer reset type {reset.value}; "
                    f"it offers {', '.join(sorted(str(v.value) for v in allowed))}",
                    address=self.address,
                    operation=f"power {action}",
                )
            system.reset_system(reset)

        await self._run(f"power {action}", change)

    async def get_boot(self) -> BootSettings:
        def read() -> BootSettings:
            boot = self._system().boot
            enabled = boot.enabled
            return BootSettings(
                device=_BOOT_DEVICES.get(boot.target),
                persistent=None if enabled is None else enabled == sushy.BootSourceOverrideEnabled.CONTINUOUS,
                mode=_mode_of(boot.mode),
            )

        return await self._run("get boot device", read)

    async def set_boot_device(
        self, device: BootDevice, *, persistent: bool = False, mode: BootMode | None = None
    ) -> None:
        enabled = (
            sushy.BootSourceOverrideEnabled.CONTINUOUS if persistent else sushy.BootSourceOverrideEnabled.ONCE
        )

        def change() -> None:
            system = self._system()
            target = _BOOT_SOURCES[device]
            allowed = system.get_allowed_system_boot_source_values()
            if allowed and target not in allowed:
                raise errors.BmcUnsupportedOperation(
                    f"BMC {self.address} does not offer boot target {target.value}; "
                    f"it offers {', '.join(sorted(str(v.value) for v in allowed))}",
                    address=self.address,
                    operation=f"set boot device {device}",
                )
            system.set_system_boot_options(
                target=target,
                enabled=enabled,
                mode=None if mode is None else _BOOT_MODES[mode],
            )

        await self._run(f"set boot device {device}", change)

    async def aclose(self) -> None:
        async with self._lock:
            scrubbing, self._scrubbing = self._scrubbing, ()
            root, self._root = self._root, None
            if root is None:
                _SCRUBBER.discard(scrubbing)
                return
            auth, connector = self._auth, self._connector
            self._auth = self._connector = None

            def close() -> None:
                try:
                    auth.close()
                finally:
                    connector.close()

            try:
                with contextlib.suppress(errors.BmcError):  # the BMC expires idle sessions itself
                    await self._calls.run(
                        close,
                        budget=self._timeouts.operation,
                        address=self.address,
                        operation="close session",
                    )
            finally:
                _SCRUBBER.discard(scrubbing)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- inventory and virtual media ---------------------------------------------------------

    async def inspect(self) -> inventory.HardwareDetails:
        facts = await self._run("inspect hardware", self._facts, budget=self._timeouts.inspection)
        return inventory.hardware_details(facts)

    async def insert_media(self, image_url: str) -> VirtualMediaState:
        def insert() -> VirtualMediaState:
            media = self._cd_media()
            media.insert_media(image_url, inserted=True, write_protected=True)
            media.refresh()
            return _media_state(media)

        return await self._run("insert virtual media", insert)

    async def eject_media(self) -> VirtualMediaState:
        def eject() -> VirtualMediaState:
            media = self._cd_media()
            if media.inserted or media.image:
                media.eject_media()
                media.refresh()
            return _media_state(media)

        return await self._run("eject virtual media", eject)

    async def get_media(self) -> VirtualMediaState:
        return await self._run("get virtual media", lambda: _media_state(self._cd_media()))

    # --- thread side -------------------------------------------------------------------------

    async def _run(self, operation: str, fn: Callable[[], T], *, budget: float | None = None) -> T:
        budget = self._timeouts.operation if budget is None else budget

        def guarded() -> T:
            with self._translated(operation):
                return fn()

        async with self._lock:
            try:
                return await self._calls.run(
                    guarded, budget=budget, address=self.address, operation=operation
                )
            except errors.BmcTimeout:
                # The worker may still be using the session; the next call starts a fresh one.
                self._root = self._auth = self._connector = None
                raise

    def _connect(self) -> Any:
        if self._root is None:
            if not self._scrubbing:  # used again after aclose
                self._scrubbing = self._credentials.secrets()
                _SCRUBBER.add(self._scrubbing)
            connector = sushy_connector.Connector(
                self._base_url,
                verify=self._verify,
                server_side_retries=self._server_side_retries,
                server_side_retries_delay=0.5,
                default_request_timeout=self._timeouts.read,
                connect_timeout=self._timeouts.connect,
            )
            auth = sushy_auth.SessionOrBasicAuth(
                username=self._credentials.username.reveal(),
                password=self._credentials.password.reveal(),
            )
            self._root = sushy.Sushy(self._base_url, auth=auth, connector=connector)
            self._connector, self._auth = connector, auth
        return self._root

    def _system(self) -> Any:
        root = self._connect()
        try:
            return root.get_system(self._system_id)
        except sushy_exc.ResourceNotFoundError as e:
            raise errors.BmcSystemNotFound(
                f"BMC {self._base_url} has no system {self._system_id}: check the system path in the address",
                address=self.address,
            ) from e
        except sushy_exc.UnknownDefaultError as e:
            count = len(root.get_system_collection().members_identities)
            raise errors.BmcSystemNotFound(
                f"BMC {self._base_url} has {count} systems and the address names none: "
                "add the system path, e.g. /redfish/v1/Systems/<id>",
                address=self.address,
            ) from e

    def _cd_media(self) -> Any:
        system = self._system()
        try:
            members = system.virtual_media.get_members()
        except (sushy_exc.MissingAttributeError, sushy_exc.ResourceNotFoundError) as e:
            raise errors.BmcUnsupportedOperation(
                f"BMC {self.address} offers no virtual media", address=self.address
            ) from e
        for media in members:
            if _CD_MEDIA.intersection(media.media_types or ()):
                return media
        raise errors.BmcUnsupportedOperation(
            f"BMC {self.address} has no virtual CD/DVD device", address=self.address
        )

    def _facts(self) -> inventory.SystemFacts:
        system = self._system()
        return inventory.SystemFacts(
            system_id=str(system.path),
            manufacturer=system.manufacturer,
            model=system.model,
            serial_number=system.serial_number,
            bios_version=system.bios_version,
            hostname=system.hostname,
            processor_summary_count=_optional(lambda: system.json.get("ProcessorSummary", {}).get("Count")),
            memory_gib=_optional(lambda: system.memory_summary.size_gib if system.memory_summary else None),
            processors=tuple(
                _optional(lambda: [_processor(p) for p in system.processors.get_members()]) or ()
            ),
            nics=tuple(_optional(lambda: [_nic(n) for n in system.ethernet_interfaces.get_members()]) or ()),
            drives=tuple(_optional(lambda: _drives(system)) or ()),
            simple_storage_devices=tuple(_optional(lambda: _simple_storage(system)) or ()),
        )

    @contextlib.contextmanager
    def _translated(self, operation: str) -> Iterator[None]:
        try:
            yield
        except errors.BmcError:
            raise
        except sushy_exc.SushyError as e:
            raise self._error(e, operation) from e
        except requests.RequestException as e:
            raise errors.BmcUnreachable(
                self._message(operation, e), address=self.address, operation=operation
            ) from e

    def _message(self, operation: str, cause: BaseException | str) -> str:
        detail = errors.redact(str(cause), self._credentials.secrets())
        return f"{operation} on BMC {self.address} failed: {detail}"

    def _error(self, e: Exception, operation: str) -> errors.BmcError:
        where = {"address": self.address, "operation": operation}
        if isinstance(e, sushy_exc.ConnectionError):
            if _caused_by(e, requests.exceptions.SSLError):
                return errors.BmcTlsVerificationFailed(
                    self._message(
                        operation,
                        "TLS handshake failed (certificate not trusted?); "
                        "set disableCertificateVerification or install a trusted certificate. "
                        + str(e.message),
                    ),
                    **where,
                )
            if _caused_by(e, requests.exceptions.Timeout):
                return errors.BmcTimeout(self._message(operation, e.message), **where)
            return errors.BmcUnreachable(self._message(operation, e.message), **where)
        if isinstance(e, sushy_exc.AccessError):
            return errors.BmcAuthenticationFailed(
                self._message(operation, f"HTTP {e.status_code}: the BMC rejected the credentials"), **where
            )
        if isinstance(e, sushy_exc.ResourceNotFoundError):
            return errors.BmcUnsupportedOperation(self._message(operation, e.message), **where)
        if isinstance(e, sushy_exc.HTTPError):
            status = e.status_code
            if status in (409, 503):
                return errors.BmcBusy(self._message(operation, e.message), **where)
            if status >= 500:
                return errors.BmcServerError(self._message(operation, e.message), **where)
            return errors.BmcRequestRejected(self._message(operation, e.message), **where)
        if isinstance(
            e,
            sushy_exc.InvalidParameterValueError
            | sushy_exc.MissingAttributeError
            | sushy_exc.MissingActionError,
        ):
            return errors.BmcUnsupportedOperation(self._message(operation, e.message), **where)
        return errors.BmcPermanentError(self._message(operation, e), **where)


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _optional(read: Callable[[], T]) -> T | None:
    """Read a part of the inventory the BMC may not offer; missing means unknown."""
    try:
        return read()
    except (sushy_exc.MissingAttributeError, sushy_exc.ResourceNotFoundError):
        return None


def _mode_of(mode: Any) -> BootMode | None:
    if mode == sushy.BootSourceOverrideMode.UEFI:
        return BootMode.UEFI
    if mode == sushy.BootSourceOverrideMode.LEGACY:
        return BootMode.LEGACY
    return None


def _enum_value(value: Any) -> str | None:
    return None if value is None else str(getattr(value, "value", value))


def _processor(p: Any) -> inventory.ProcessorFacts:
    return inventory.ProcessorFacts(
        model=p.model,
        manufacturer=p.manufacturer,
        architecture=_enum_value(p.processor_architecture),
        instruction_set=_enum_value(p.instruction_set),
        max_speed_mhz=p.max_speed_mhz,
        total_cores=p.total_cores,
        total_threads=p.total_threads,
    )


def _nic(n: Any) -> inventory.NicFacts:
    return inventory.NicFacts(
        id=str(n.identity), mac=n.mac_address or n.permanent_mac_address, speed_mbps=n.speed_mbps
    )


def _drives(system: Any) -> list[inventory.DriveFacts]:
    return [
        inventory.DriveFacts(
            name=str(d.name or d.identity),
            capacity_bytes=d.capacity_bytes,
            media_type=d.media_type,
            protocol=_enum_value(d.protocol),
            manufacturer=d.manufacturer,
            model=d.model,
            serial_number=d.serial_number,
        )
        for storage in system.storage.get_members()
        for d in storage.drives
    ]


def _simple_storage(system: Any) -> list[inventory.DriveFacts]:
    return [
        inventory.DriveFacts(name=str(dev.name), capacity_bytes=dev.capacity_bytes)
        for controller in system.simple_storage.get_members()
        for dev in controller.devices
    ]


def _media_state(media: Any) -> VirtualMediaState:
    return VirtualMediaState(
        device=str(media.identity), image=media.image or "", inserted=bool(media.inserted)
    )
