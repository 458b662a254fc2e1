"""An asyncio client for the parts of Ironic's REST API that Metal3 uses.

One ``aiohttp.ClientSession`` per client; every request has an explicit total and connect
timeout. The API microversion is negotiated once with ``GET /``: Ironic older than 1.89 (Metal3's
baseline) is refused, otherwise the highest of the versions Metal3 uses that the server speaks
is sent as ``X-OpenStack-Ironic-API-Version`` on every call. HTTP basic auth and TLS (a CA file,
or ``insecure``) are supported because production Metal3 puts both in front of Ironic.

HTTP 409 "node locked" is retried here after a short delay, a bounded number of times, because
it only means another operation holds the node for a moment; everything else surfaces as a
typed error from ``adapters.ironic.errors`` whose message never contains a credential.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import quote

import aiohttp
import msgspec
import structlog
from yarl import URL

from adapters.ironic import wire
from adapters.ironic.errors import (
    IronicAuthError,
    IronicClientError,
    IronicConflict,
    IronicError,
    IronicNodeLocked,
    IronicNotFound,
    IronicTransientError,
    IronicVersionError,
    redact,
)

log = structlog.get_logger("metalstream.ironic.client")

MINIMUM_VERSION: Final = (1, 89)
"""Metal3's baseline: older Ironic is refused."""
PREFERRED_VERSIONS: Final = ((1, 110), (1, 109), (1, 95), (1, 93), (1, 89))
"""The microversions Metal3 uses, best first: deploy abort, health, disable_power_off, vmedia GET."""
VERSION_HEADER: Final = "X-OpenStack-Ironic-API-Version"

_JSON: Final = {"Content-Type": "application/json"}
_ENCODER: Final = msgspec.json.Encoder()
_ROOT: Final = msgspec.json.Decoder(wire.RootDocument)
_NODE: Final = msgspec.json.Decoder(wire.Node)
_NODES: Final = msgspec.json.Decoder(wire.NodeList)
_PORT: Final = msgspec.json.Decoder(wire.Port)
_PORTS: Final = msgspec.json.Decoder(wire.PortList)
_INVENTORY: Final = msgspec.json.Decoder(wire.Inventory)
_VALIDATION: Final = msgspec.json.Decoder(dict[str, wire.ValidationResult])
_DRIVERS: Final = msgspec.json.Decoder(wire.DriverList)
_ERROR: Final = msgspec.json.Decoder(wire.ErrorBody)
_FAULT: Final = msgspec.json.Decoder(wire.Fault)


@dataclass(frozen=True, slots=True)
class IronicEndpoint:
    """How to reach Ironic. ``password`` never appears in ``repr``."""

    url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    """CA bundle to verify Ironic's certificate (https URLs)."""
    insecure: bool = False
    """Skip TLS verification (like ``IRONIC_INSECURE``); only for tests and labs."""
    timeout: float = 30.0
    """Seconds for one request, connection included (Metal3's ``IRONIC_CLIENT_TIMEOUT``)."""
    connect_timeout: float = 5.0
    locked_retry_delay: float = 1.0
    """Seconds between retries of a request that met HTTP 409 NodeLocked."""
    locked_retry_attempts: int = 5
    """How many times a NodeLocked request is sent before ``IronicNodeLocked`` is raised."""


def parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.strip().partition(".")
    return int(major), int(minor or 0)


def format_version(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def choose_version(server_max: str, server_min: str = "1.1") -> tuple[int, int]:
    """The microversion to use with a server speaking ``server_min``..``server_max``."""
    try:
        newest, oldest = parse_version(server_max), parse_version(server_min or "1.1")
    except ValueError as e:
        msg = f"Ironic advertises an unreadable API version {server_max!r}"
        raise IronicVersionError(msg) from e
    if newest < MINIMUM_VERSION:
        msg = (
            f"Ironic API {format_version(newest)} is older than {format_version(MINIMUM_VERSION)}, "
            "the oldest version metalstream (like Metal3) supports; upgrade Ironic"
        )
        raise IronicVersionError(msg)
    for candidate in PREFERRED_VERSIONS:
        if oldest <= candidate <= newest:
            return candidate
    msg = f"Ironic speaks API {server_min}..{server_max}, which includes none of {PREFERRED_VERSIONS}"
    raise IronicVersionError(msg)


def _ident(ident: str) -> str:
    if not ident:
        msg = "an empty node identifier"
        raise ValueError(msg)
    return quote(ident, safe="~")


def secrets_of(values: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The values of secret-looking keys (``*_password`` and the like) in a dictionary."""
    if not values:
        return ()
    return tuple(
        str(v)
        for k, v in values.items()
        if isinstance(v, str) and k.lower().endswith(("password", "_secret", "_token"))
    )


def _fault_message(body: bytes) -> str:
    """Ironic's ``faultstring`` from an error body (the envelope nests JSON in a string)."""
    try:
        outer = _ERROR.decode(body)
    except msgspec.DecodeError:
        return body.decode(errors="replace").strip()
    inner = outer.error_message
    if isinstance(inner, str):
        try:
            return _FAULT.decode(inner).faultstring or inner
        except msgspec.DecodeError:
            return inner
    if isinstance(inner, dict):
        return str(inner.get("faultstring") or inner)
    return body.decode(errors="replace").strip()


class IronicClient:
    """Typed access to Ironic's API. Use as an async context manager (it owns an HTTP session)."""

    def __init__(self, endpoint: IronicEndpoint) -> None:
        self._endpoint = endpoint
        self._base = URL(endpoint.url.rstrip("/"))
        self._session: aiohttp.ClientSession | None = None
        self._version: tuple[int, int] | None = None
        self._negotiating = asyncio.Lock()
        self.requests = 0
        """Requests sent so far (a metric)."""
        self.node_writes: dict[str, int] = {}
        """Per node identifier: requests sent that may change the node (so a node read before
        the counter last moved may be out of date for reasons other than Ironic's own progress)."""
        self.node_written_at: dict[str, float] = {}
        """Per node identifier: ``time.monotonic()`` when the last such request was sent."""

    # -- session ---------------------------------------------------------------------------------

    def _ssl(self) -> ssl.SSLContext | bool:
        if self._base.scheme != "https":
            return True
        if self._endpoint.insecure:
            return False
        return ssl.create_default_context(cafile=self._endpoint.ca_file)

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {}
            if self._endpoint.username is not None:
                headers["Authorization"] = aiohttp.encode_basic_auth(
                    self._endpoint.username, self._endpoint.password or ""
                )
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl(), limit=64),
                headers=headers,
                timeout=aiohttp.ClientTimeout(
                    total=self._endpoint.timeout, connect=self._endpoint.connect_timeout
                ),
                raise_for_status=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # -- versions --------------------------------------------------------------------------------

    @property
    def api_version(self) -> str | None:
        """The negotiated microversion, once known."""
        return format_version(self._version) if self._version else None

    async def negotiate(self) -> str:
        """Ask ``GET /`` which versions the server speaks and pick ours (once per client)."""
        async with self._negotiating:
            if self._version is None:
                body = await self._send("GET", "/", versioned=False)
                try:
                    root = _ROOT.decode(body)
                except msgspec.DecodeError as e:
                    msg = "GET / did not return Ironic's version document"
                    raise IronicTransientError(msg, method="GET", path="/") from e
                current = root.default_version or (root.versions[0] if root.versions else None)
                if current is None or not current.version:
                    msg = "Ironic's version document names no API version (older than 1.89?)"
                    raise IronicVersionError(msg, method="GET", path="/")
                self._version = choose_version(current.version, current.min_version)
                log.debug("ironic api version negotiated", version=self.api_version, server=current.version)
            return format_version(self._version)

    # -- transport -------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, str] | None = None,
        versioned: bool = True,
        secrets: Sequence[str] = (),
        expect: tuple[int, ...] = (200,),
    ) -> bytes:
        """One request with the NodeLocked retry loop; returns the body of an expected status."""
        if versioned and self._version is None:
            await self.negotiate()
        headers = dict(_JSON) if body is not None else {}
        if versioned and self._version is not None:
            headers[VERSION_HEADER] = format_version(self._version)
        url = self._base.with_path(self._base.path.rstrip("/") + path, encoded=True)
        attempts = max(1, self._endpoint.locked_retry_attempts)
        for attempt in range(1, attempts + 1):
            status, payload = await self._once(method, url, headers, body, params, path)
            if status in expect:
                return payload
            message = redact(_fault_message(payload), secrets)
            if status == 409 and "locked" in message.lower():
                if attempt < attempts:
                    log.debug("ironic node locked; retrying", method=method, path=path, attempt=attempt)
                    await asyncio.sleep(self._endpoint.locked_retry_delay)
                    continue
                raise IronicNodeLocked(message, status=status, method=method, path=path)
            raise _error_for(status, message, method, path)
        raise AssertionError  # pragma: no cover - the loop returns or raises

    async def _once(
        self,
        method: str,
        url: URL,
        headers: Mapping[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None,
        path: str,
    ) -> tuple[int, bytes]:
        session = self._open()
        started = time.monotonic()
        self.requests += 1
        try:
            async with session.request(method, url, headers=headers, data=body, params=params) as response:
                payload = await response.read()
                status = response.status
        except aiohttp.ClientConnectorCertificateError as e:
            msg = f"TLS verification of {self._base.host} failed: {e.certificate_error}"
            raise IronicTransientError(msg, method=method, path=path) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            kind = "timed out" if isinstance(e, TimeoutError) else f"failed: {type(e).__name__}: {e}"
            msg = f"request to {self._base} {kind}"
            raise IronicTransientError(redact(msg), method=method, path=path) from e
        log.debug(
            "ironic request",
            method=method,
            path=path,
            status=status,
            ms=round((time.monotonic() - started) * 1000, 1),
        )
        if status == 406 and self._version is not None:
            # The server no longer speaks our version (it was replaced): negotiate again next time.
            self._version = None
        return status, payload

    def _writing(self, ident: str) -> None:
        self.node_writes[ident] = self.node_writes.get(ident, 0) + 1
        self.node_written_at[ident] = time.monotonic()

    # -- nodes -----------------------------------------------------------------------------------

    async def get_node(self, ident: str, *, fields: Sequence[str] | None = wire.NODE_FIELDS) -> wire.Node:
        """A node by UUID or name; ``IronicNotFound`` if Ironic does not know it."""
        params = {"fields": ",".join(fields)} if fields else None
        return _NODE.decode(await self._send("GET", f"/v1/nodes/{_ident(ident)}", params=params))

    async def list_nodes(
        self, *, fields: Sequence[str] = ("uuid", "name", "provision_state", "boot_interface")
    ) -> list[wire.Node]:
        """Every node (following Ironic's pagination), with only ``fields`` filled in."""
        nodes: list[wire.Node] = []
        params: dict[str, str] = {"fields": ",".join(fields), "limit": "1000"}
        while True:
            page = _NODES.decode(await self._send("GET", "/v1/nodes", params=params))
            nodes.extend(page.nodes)
            if not page.next or not page.nodes:
                return nodes
            marker = URL(page.next).query.get("marker")
            if not marker:
                return nodes
            params = {**params, "marker": marker}

    async def find_node_by_port_mac(self, mac: str) -> wire.Node | None:
        """The node owning a port with this MAC address, or None."""
        body = await self._send(
            "GET", "/v1/ports", params={"address": mac.lower(), "fields": "uuid,node_uuid,address"}
        )
        ports = _PORTS.decode(body).ports
        if not ports or not ports[0].node_uuid:
            return None
        try:
            return await self.get_node(ports[0].node_uuid)
        except IronicNotFound:
            return None

    async def create_node(self, node: wire.NodeCreate) -> wire.Node:
        body = _ENCODER.encode(node)
        payload = await self._send(
            "POST", "/v1/nodes", body=body, secrets=secrets_of(node.driver_info), expect=(201,)
        )
        return _NODE.decode(payload)

    async def delete_node(self, ident: str) -> None:
        self._writing(ident)
        await self._send("DELETE", f"/v1/nodes/{_ident(ident)}", expect=(204,))
        self.node_writes.pop(ident, None)
        self.node_written_at.pop(ident, None)

    async def patch_node(self, ident: str, ops: Sequence[wire.PatchOp]) -> wire.Node:
        """Apply a JSON patch; values under ``driver_info`` are redacted from any error."""
        self._writing(ident)
        secrets: list[str] = []
        for op in ops:
            if isinstance(op.value, Mapping):
                secrets.extend(secrets_of(op.value))
            elif isinstance(op.value, str) and op.path.lower().endswith("password"):
                secrets.append(op.value)
        payload = await self._send(
            "PATCH", f"/v1/nodes/{_ident(ident)}", body=_ENCODER.encode(list(ops)), secrets=secrets
        )
        return _NODE.decode(payload)

    async def set_provision_state(
        self,
        ident: str,
        target: wire.ProvisionTarget,
        *,
        configdrive: wire.ConfigDrive | None = None,
        clean_steps: Sequence[wire.Step] | None = None,
        deploy_steps: Sequence[wire.Step] | None = None,
        service_steps: Sequence[wire.Step] | None = None,
    ) -> None:
        self._writing(ident)
        request = wire.ProvisionStateRequest(
            target=target,
            configdrive=configdrive,
            clean_steps=list(clean_steps) if clean_steps is not None else None,
            deploy_steps=list(deploy_steps) if deploy_steps is not None else None,
            service_steps=list(service_steps) if service_steps is not None else None,
        )
        secrets = [configdrive.user_data] if configdrive is not None and configdrive.user_data else []
        await self._send(
            "PUT",
            f"/v1/nodes/{_ident(ident)}/states/provision",
            body=_ENCODER.encode(request),
            secrets=secrets,
            expect=(202,),
        )

    async def set_power_state(
        self,
        ident: str,
        target: wire.PowerTarget,
        *,
        timeout: int | None = None,  # noqa: ASYNC109 - Ironic's own soft-power timeout, in seconds
    ) -> None:
        self._writing(ident)
        request = wire.PowerStateRequest(target=target, timeout=timeout)
        await self._send(
            "PUT", f"/v1/nodes/{_ident(ident)}/states/power", body=_ENCODER.encode(request), expect=(202,)
        )

    async def set_boot_device(self, ident: str, device: str, *, persistent: bool = False) -> None:
        self._writing(ident)
        request = wire.BootDeviceRequest(boot_device=device, persistent=persistent)
        await self._send(
            "PUT",
            f"/v1/nodes/{_ident(ident)}/management/boot_device",
            body=_ENCODER.encode(request),
            expect=(204,),
        )

    async def get_inventory(self, ident: str) -> wire.Inventory:
        """The inspection inventory; ``IronicNotFound`` when the node has none (yet)."""
        return _INVENTORY.decode(await self._send("GET", f"/v1/nodes/{_ident(ident)}/inventory"))

    async def validate_node(self, ident: str) -> dict[str, wire.ValidationResult]:
        return _VALIDATION.decode(await self._send("GET", f"/v1/nodes/{_ident(ident)}/validate"))

    async def set_maintenance(self, ident: str, reason: str) -> None:
        self._writing(ident)
        body = _ENCODER.encode(wire.MaintenanceRequest(reason=reason))
        await self._send("PUT", f"/v1/nodes/{_ident(ident)}/maintenance", body=body, expect=(202,))

    async def unset_maintenance(self, ident: str) -> None:
        self._writing(ident)
        await self._send("DELETE", f"/v1/nodes/{_ident(ident)}/maintenance", expect=(202,))

    async def set_raid_config(self, ident: str, logical_disks: Sequence[Mapping[str, Any]]) -> None:
        self._writing(ident)
        body = _ENCODER.encode(wire.RaidConfigRequest(logical_disks=[dict(d) for d in logical_disks]))
        await self._send("PUT", f"/v1/nodes/{_ident(ident)}/states/raid", body=body, expect=(204,))

    # -- ports and drivers -----------------------------------------------------------------------

    async def create_port(self, node_uuid: str, address: str, *, pxe_enabled: bool = True) -> wire.Port:
        self._writing(node_uuid)
        body = _ENCODER.encode(wire.PortCreate(node_uuid=node_uuid, address=address, pxe_enabled=pxe_enabled))
        return _PORT.decode(await self._send("POST", "/v1/ports", body=body, expect=(201,)))

    async def list_ports(self, node_uuid: str) -> list[wire.Port]:
        params = {"node_uuid": node_uuid, "fields": "uuid,address,node_uuid,pxe_enabled"}
        return _PORTS.decode(await self._send("GET", "/v1/ports", params=params)).ports

    async def list_drivers(self) -> list[wire.Driver]:
        return _DRIVERS.decode(await self._send("GET", "/v1/drivers")).drivers


def _error_for(status: int, message: str, method: str, path: str) -> IronicError:
    if status == 404:
        return IronicNotFound(message, status=status, method=method, path=path)
    if status == 409:
        return IronicConflict(message, status=status, method=method, path=path)
    if status in (401, 403):
        return IronicAuthError(message, status=status, method=method, path=path)
    if status >= 500 or status in (408, 429):
        return IronicTransientError(message, status=status, method=method, path=path)
    return IronicClientError(message, status=status, method=method, path=path)


__all__ = [
    "MINIMUM_VERSION",
    "PREFERRED_VERSIONS",
    "IronicClient",
    "IronicEndpoint",
    "choose_version",
    "secrets_of",
]
