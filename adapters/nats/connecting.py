"""Opening the NATS connection the event store runs on.

Production NATS deployments use several servers, credentials files or nkeys, and TLS (often
mutual). All of that is decided here, once, so the rest of the adapter only sees a connected
client. Reconnection is left on (nats-py rotates through the URLs); the event store's own
timeouts decide how long an operation waits for it.

nats-py calls the disconnected callback for every end of a connection, including the one this
process asks for with ``close()``; so the client remembers that request, and only a connection
lost, ended by the server or given up after the last reconnection attempt is logged as a warning
(a one-shot CLI command that closes its connection on exit says nothing about it).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence

import nats
from nats.aio.client import Client

from core.errors import StoreUnavailable

log = logging.getLogger("metalstream.nats")


class _Client(Client):
    """nats-py's client, remembering whether this process asked for the connection to end."""

    closing_on_request = False

    async def close(self) -> None:
        # nats-py closes the client itself when it runs out of reconnection attempts: not ours.
        gave_up = self.is_reconnecting and isinstance(self.last_error, nats.errors.NoServersError)
        self.closing_on_request = self.closing_on_request or not gave_up
        await super().close()

    async def drain(self) -> None:
        self.closing_on_request = True
        await super().drain()


def tls_context(*, ca_file: str | None, cert_file: str | None, key_file: str | None) -> ssl.SSLContext | None:
    """A client TLS context when a CA or client certificate is configured, else None."""
    if not (ca_file or cert_file):
        return None
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


async def connect(
    urls: Sequence[str],
    *,
    name: str = "metalstream",
    credentials_file: str | None = None,
    nkey_seed_file: str | None = None,
    tls_ca_file: str | None = None,
    tls_cert_file: str | None = None,
    tls_key_file: str | None = None,
    connect_timeout: float = 5.0,
    max_reconnect_attempts: int = -1,
) -> Client:
    """Connect to NATS or raise ``StoreUnavailable`` naming the servers tried."""
    client = _Client()
    last_error: list[BaseException] = []

    async def on_error(error: Exception) -> None:
        # nats-py's default logs a full traceback for every refused connection attempt; one
        # line with the reason is what an operator needs, and reconnection is automatic.
        if not last_error or str(last_error[-1]) != str(error):
            log.warning("NATS connection problem: %s: %s", type(error).__name__, error)
        last_error[:] = [error]

    async def on_disconnected() -> None:
        if client.closing_on_request:
            log.debug("closed the NATS connection")
        elif client.is_closed:
            reason = client.last_error
            log.warning("NATS connection closed: %s", f"{type(reason).__name__}: {reason}" if reason else "-")
        else:
            log.warning("disconnected from NATS; reconnecting")

    async def on_reconnected() -> None:
        log.info("reconnected to NATS at %s", client.connected_url.netloc if client.connected_url else "?")

    try:
        async with asyncio.timeout(connect_timeout * max(1, len(urls)) + 1):
            await client.connect(
                servers=list(urls),
                name=name,
                connect_timeout=max(1, round(connect_timeout)),
                allow_reconnect=True,
                max_reconnect_attempts=max_reconnect_attempts,
                reconnect_time_wait=1,
                user_credentials=credentials_file,
                nkeys_seed=nkey_seed_file,
                tls=tls_context(ca_file=tls_ca_file, cert_file=tls_cert_file, key_file=tls_key_file),
                error_cb=on_error,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
            )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        await _close_quietly(client)
        servers = ", ".join(urls)
        cause = last_error[-1] if last_error else exc
        msg = f"cannot connect to NATS at {servers}: {type(cause).__name__}: {cause}"
        raise StoreUnavailable(msg) from exc
    return client


async def _close_quietly(client: Client) -> None:
    try:
        async with asyncio.timeout(2):
            await client.close()
    except (TimeoutError, nats.errors.Error, OSError):
        return
