"""A minimal NATS protocol connection, opened with the options of the store's nats-py client.

nats-py costs tens of microseconds per received message (a regex per frame, a header dict, a
``Msg`` object, a queue and a callback), which caps a replay far below what the server sends.
The log reader (``replay``) therefore reads its push consumer over a connection of its own that
does only the handshake (INFO, TLS, CONNECT, PING/PONG), one SUB, and hands over raw bytes;
frames are parsed a whole buffer at a time by the reader. Everything else the store does stays
on nats-py.

``ConnectOptions.of(client)`` takes what the nats-py client was connected with: its servers (the
one it is connected to first), user and password or token (from its options or the server URL),
client name, TLS context, TLS hostname and TLS-handshake-first. It does not sign server nonces:
for a client that authenticates with a credentials file, an nkey seed or signature/JWT callbacks,
or that talks WebSocket, it returns None and the store keeps reading the log through nats-py
(correct, but at a third of the speed).

Every wait is bounded: each handshake by the caller's timeout, each read by the caller's stall
timeout. Nothing runs in the background; the reader reads when it wants more.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import ParseResult

import msgspec

from adapters.nats.errors import NatsStoreError

_CHUNK: Final = 1 << 20
"""Most bytes taken from the socket buffer per read."""
_READ_LIMIT: Final = 1 << 22
"""Stream buffer size beyond which asyncio stops reading the socket (back-pressure to the server)."""
_ENCODER: Final = msgspec.json.Encoder()
_NONCE_SIGNING: Final = (
    "_user_credentials",
    "_nkeys_seed",
    "_nkeys_seed_str",
    "_signature_cb",
    "_user_jwt_cb",
)
"""nats-py client attributes that mean the client signs a server nonce (not supported here)."""


class HandshakeRefused(NatsStoreError):
    """The server answered the handshake with ``-ERR`` (authorization, permissions, limits)."""


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """How to reach and authenticate to the servers a nats-py client uses."""

    servers: tuple[ParseResult, ...]
    name: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    tls: ssl.SSLContext | None = None
    tls_hostname: str | None = None
    tls_handshake_first: bool = False

    @classmethod
    def of(cls, client: Any) -> ConnectOptions | None:
        """The options of a connected nats-py ``Client``, or None if they cannot be reproduced."""
        if any(getattr(client, attribute, None) is not None for attribute in _NONCE_SIGNING):
            return None
        options: dict[str, Any] = getattr(client, "options", {})
        pool: list[ParseResult] = list(client.servers)
        current = client.connected_url
        if current is not None and current in pool:
            pool.remove(current)
            pool.insert(0, current)
        if not pool or any(uri.scheme not in ("nats", "tls") for uri in pool):
            return None
        return cls(
            servers=tuple(pool),
            name=options.get("name"),
            user=_resolved(options.get("user")),
            password=_resolved(options.get("password")),
            token=_resolved(options.get("token")),
            tls=options.get("tls"),
            tls_hostname=options.get("tls_hostname"),
            tls_handshake_first=bool(options.get("tls_handshake_first")),
        )

    def connect_command(self, server: ParseResult) -> bytes:
        """The CONNECT line for ``server`` (credentials from the options, else from its URL)."""
        command: dict[str, Any] = {
            "verbose": False,
            "pedantic": False,
            "lang": "python3",
            "version": "metalstream-replay",
            "protocol": 1,
            "headers": True,
            "no_responders": True,
        }
        if self.name is not None:
            command["name"] = self.name
        if self.user is not None and self.password is not None:
            command["user"], command["pass"] = self.user, self.password
        elif self.token is not None:
            command["auth_token"] = self.token
        elif server.username is not None:
            if server.password is None:
                command["auth_token"] = server.username
            else:
                command["user"], command["pass"] = server.username, server.password
        return b"CONNECT " + _ENCODER.encode(command) + b"\r\nPING\r\n"


def _resolved(value: str | Callable[[], str] | None) -> str | None:
    # nats-py accepts callables for user, password and token; they are called once per connect.
    return value() if callable(value) else value


class RawConnection:
    """One connection to a NATS server, read as raw bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, url: str) -> None:
        self._reader = reader
        self._writer = writer
        self.url = url
        """The server this connection is open to (without credentials)."""

    @classmethod
    async def open(cls, options: ConnectOptions, *, within: float) -> RawConnection:
        """Connect to the first server that completes the handshake in ``within`` seconds.

        Raises ``OSError`` or ``TimeoutError`` when none does, ``HandshakeRefused`` when a server
        answers with ``-ERR``.
        """
        failure: BaseException | None = None
        for server in options.servers:
            try:
                async with asyncio.timeout(within):
                    return await cls._handshake(options, server)
            except (OSError, TimeoutError, EOFError) as exc:
                failure = exc
        text = ", ".join(_plain_url(server) for server in options.servers)
        msg = f"no NATS server answered at {text}: {type(failure).__name__}: {failure}"
        raise OSError(msg) from failure

    @classmethod
    async def _handshake(cls, options: ConnectOptions, server: ParseResult) -> RawConnection:
        host, port = server.hostname or "localhost", server.port or 4222
        hostname = options.tls_hostname or host
        if options.tls_handshake_first:
            context = options.tls or await _default_context()
            reader, writer = await asyncio.open_connection(
                host, port, ssl=context, server_hostname=hostname, limit=_READ_LIMIT
            )
        else:
            reader, writer = await asyncio.open_connection(host, port, limit=_READ_LIMIT)
        connection = cls(reader, writer, _plain_url(server))
        try:
            info = await reader.readline()
            if not info.startswith(b"INFO "):
                msg = f"expected INFO from {connection.url}, got {info[:80]!r}"
                raise ConnectionError(msg)
            try:
                details = msgspec.json.decode(info[5:], type=dict[str, Any])
            except msgspec.DecodeError as exc:
                msg = f"unreadable INFO from {connection.url}: {exc}"
                raise ConnectionError(msg) from None
            if details.get("tls_required") and not options.tls_handshake_first:
                context = options.tls or await _default_context()
                await writer.start_tls(context, server_hostname=hostname)
            writer.write(options.connect_command(server))
            await writer.drain()
            await connection.until_pong()
        except BaseException:
            await connection.close()
            raise
        return connection

    async def subscribe(self, subject: str, *, within: float) -> None:
        """Subscribe (as sid 1) and wait until the server has registered the subscription."""
        self._writer.write(f"SUB {subject} 1\r\nPING\r\n".encode())
        async with asyncio.timeout(within):
            await self._writer.drain()
            await self.until_pong()

    async def until_pong(self) -> None:
        """Read protocol lines up to the PONG answering our PING (nothing else is expected yet)."""
        while True:
            line = await self._reader.readline()
            if line.startswith(b"PONG"):
                return
            if line.startswith(b"-ERR"):
                msg = f"{self.url} refused the connection: {line[5:].strip().decode(errors='replace')}"
                raise HandshakeRefused(msg)
            if line.startswith(b"PING"):
                self._writer.write(b"PONG\r\n")
            elif not line:
                msg = f"{self.url} closed the connection during the handshake"
                raise ConnectionResetError(msg)
            elif not line.startswith((b"INFO ", b"+OK")):
                msg = f"unexpected line from {self.url}: {line[:80]!r}"
                raise ConnectionError(msg)

    async def read(self, *, within: float) -> bytes:
        """The bytes received so far (waiting up to ``within`` seconds for some).

        ``TimeoutError`` when nothing arrived; ``ConnectionResetError`` when the server closed.
        """
        async with asyncio.timeout(within):
            chunk = await self._reader.read(_CHUNK)
        if not chunk:
            msg = f"{self.url} closed the connection"
            raise ConnectionResetError(msg)
        return chunk

    async def send(self, data: bytes, *, within: float) -> None:
        """Write protocol bytes (a PONG, a flow-control reply) and wait until they are handed off."""
        self._writer.write(data)
        async with asyncio.timeout(within):
            await self._writer.drain()

    async def close(self) -> None:
        """Close the connection (waiting at most a second for a TLS goodbye)."""
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
            async with asyncio.timeout(1):
                await self._writer.wait_closed()


def _plain_url(server: ParseResult) -> str:
    return f"{server.scheme}://{server.hostname}:{server.port}"


async def _default_context() -> ssl.SSLContext:
    # For a server that requires TLS when the client has no context of its own (nats-py does the
    # same). Loading the system CA store reads files for tens of milliseconds: not on the loop.
    return await asyncio.to_thread(ssl.create_default_context)
