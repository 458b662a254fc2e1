"""Reading the log over the raw connection: same options as the client, flow control, recovery."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import signal
import ssl
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlparse

import msgspec
import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from nats.aio.client import Client

from adapters.nats import rawconn, wire
from adapters.nats.eventstore import JetStreamEventStore
from adapters.nats.rawconn import ConnectOptions, HandshakeRefused, RawConnection
from core.errors import StoreUnavailable
from core.events.base import Event
from core.ports import NEW
from metalstream.devstack.nats import NatsServer
from tests.adapters.nats.conftest import SETTINGS, until_connected
from tests.adapters.nats.test_restarts import append_when_back, take
from tests.contracts.events import CODECS, WidgetCreated, WidgetIncremented, new, widget
from tests.contracts.eventstore import collect, iterating, positions

# -- options taken from the nats-py client ---------------------------------------------------------


def client_like(urls: list[str], connected: int | None = 0, **options: Any) -> Any:
    servers = [urlparse(url) for url in urls]
    defaults = {"name": None, "user": None, "password": None, "token": None, "tls_handshake_first": False}
    return SimpleNamespace(
        servers=servers,
        connected_url=None if connected is None else servers[connected],
        options={**defaults, **options},
    )


def test_the_server_the_client_is_connected_to_comes_first() -> None:
    options = ConnectOptions.of(client_like(["nats://a:4222", "nats://b:4222", "nats://c:4222"], 1))
    assert options is not None
    assert [server.hostname for server in options.servers] == ["b", "a", "c"]
    assert ConnectOptions.of(client_like(["nats://a:4222"], connected=None)) is not None


@pytest.mark.parametrize(
    ("url", "options", "credentials"),
    [
        pytest.param("nats://h:4222", {}, {}, id="none"),
        pytest.param(
            "nats://h:4222", {"user": "u", "password": "p"}, {"user": "u", "pass": "p"}, id="user-option"
        ),
        pytest.param(
            "nats://h:4222",
            {"user": lambda: "u", "password": lambda: "p"},
            {"user": "u", "pass": "p"},
            id="callable",
        ),
        pytest.param("nats://h:4222", {"token": "t"}, {"auth_token": "t"}, id="token-option"),
        pytest.param("nats://u:p@h:4222", {}, {"user": "u", "pass": "p"}, id="user-in-url"),
        pytest.param("nats://t@h:4222", {}, {"auth_token": "t"}, id="token-in-url"),
    ],
)
def test_credentials_come_from_the_options_or_the_url(
    url: str, options: dict[str, Any], credentials: dict[str, str]
) -> None:
    connect = ConnectOptions.of(client_like([url], name="proc", **options))
    assert connect is not None
    line = connect.connect_command(connect.servers[0])
    assert line.startswith(b"CONNECT ")
    assert line.endswith(b"\r\nPING\r\n")
    sent = msgspec.json.decode(line[len(b"CONNECT ") : -len(b"\r\nPING\r\n")])
    assert {key: sent[key] for key in ("user", "pass", "auth_token") if key in sent} == credentials
    assert (sent["headers"], sent["no_responders"], sent["verbose"], sent["name"]) == (
        True,
        True,
        False,
        "proc",
    )


@pytest.mark.parametrize(
    "attribute", ["_user_credentials", "_nkeys_seed", "_nkeys_seed_str", "_signature_cb"]
)
def test_clients_that_sign_a_nonce_are_not_reproduced(attribute: str) -> None:
    client = client_like(["nats://h:4222"])
    setattr(client, attribute, "something")
    assert ConnectOptions.of(client) is None


def test_websocket_clients_are_not_reproduced() -> None:
    assert ConnectOptions.of(client_like(["ws://h:80"])) is None


# -- against real servers ---------------------------------------------------------------------------


class ConfiguredServer(NatsServer):
    """The harness's server with extra configuration lines (authorization, TLS)."""

    def __init__(self, store_dir: Path, extra: list[str]) -> None:
        super().__init__(store_dir)
        self._extra = extra

    def _prepare(self) -> int:
        offset = super()._prepare()
        with self.config_path.open("a") as config:
            config.write("\n".join(self._extra) + "\n")
        return offset


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The servers raw connections were opened to (to tell the fast path was taken)."""
    urls: list[str] = []
    original = RawConnection.open

    async def spy(options: ConnectOptions, *, within: float) -> RawConnection:
        connection = await original(options, within=within)
        urls.append(connection.url)
        return connection

    monkeypatch.setattr(RawConnection, "open", spy)
    return urls


async def round_trip(client: Client) -> list[int]:
    """Append two events through a store on ``client`` and read the log back."""
    async with JetStreamEventStore(client, CODECS, settings=SETTINGS) as store:
        first = await store.append(widget("a"), [new(WidgetCreated(name="a"))], expected=NEW)
        await store.append(widget("a"), [new(WidgetIncremented())], expected=first)
        return positions(await collect(store.read_all()))


@pytest.mark.parametrize(
    ("authorization", "connect"),
    [
        pytest.param(
            'authorization { users = [ { user: "reader", password: "s3cret" } ] }',
            {"user": "reader", "password": "s3cret"},
            id="user-and-password",
        ),
        pytest.param('authorization { token: "t0ken" }', {"token": "t0ken"}, id="token"),
    ],
)
async def test_the_log_is_read_with_the_clients_credentials(
    tmp_path: Path, opened: list[str], authorization: str, connect: dict[str, str]
) -> None:
    async with ConfiguredServer(tmp_path / "nats", [authorization]) as server:
        client = await nats.connect(server.url, **connect)
        try:
            assert await round_trip(client) == [1, 2]
            options = ConnectOptions.of(client)
            assert options is not None
            with pytest.raises(HandshakeRefused, match="Authorization Violation"):
                await RawConnection.open(ConnectOptions(servers=options.servers), within=2)
        finally:
            await client.close()
    assert opened == [server.url]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metalstream test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


async def test_the_log_is_read_over_tls_like_the_client(tmp_path: Path, opened: list[str]) -> None:
    cert_file, key_file = self_signed(tmp_path)
    tls = [f'tls {{ cert_file: "{cert_file}", key_file: "{key_file}" }}']
    async with ConfiguredServer(tmp_path / "nats", tls) as server:
        context = ssl.create_default_context(cafile=str(cert_file))
        client = await nats.connect(server.url, tls=context)
        try:
            assert await round_trip(client) == [1, 2]
        finally:
            await client.close()
    assert opened == [server.url]


async def test_without_the_raw_connection_the_log_is_read_through_nats_py(
    nc: Client, opened: list[str]
) -> None:
    nc._signature_cb = lambda nonce: b""  # as if it signed nonces with an nkey
    assert await round_trip(nc) == [1, 2]
    nc._signature_cb = None
    assert opened == []


# -- flow control and recovery -------------------------------------------------------------------


async def fill(nc: Client, store: JetStreamEventStore, count: int) -> None:
    """``count`` events spread over 50 widgets, published as fast as nats-py can."""
    js = nc.jetstream()
    tags: dict[type[Event], tuple[str, int]] = {
        WidgetCreated: ("widget.created", 1),
        WidgetIncremented: ("widget.incremented", 1),
    }
    pending = []
    for number in range(count):
        key = widget(f"w{number % 50}")
        event = new(WidgetCreated(name=key.id) if number < 50 else WidgetIncremented(by=number))
        body, headers = wire.DocumentEncoder(key, tags).encode(event, number // 50 + 1)
        pending.append(await js.publish_async(store.layout.aggregate(key), body, headers=headers))
    await asyncio.gather(*pending)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Everything the raw connections wrote after their handshake (PONGs, flow-control replies)."""
    written: list[bytes] = []
    original = RawConnection.send

    async def spy(self: RawConnection, data: bytes, *, within: float) -> None:
        written.append(data)
        await original(self, data, within=within)

    monkeypatch.setattr(RawConnection, "send", spy)
    return written


async def test_a_long_replay_is_flow_controlled_and_complete(
    jetstream_store: JetStreamEventStore, nc: Client, sent: list[bytes]
) -> None:
    await fill(nc, jetstream_store, 3_000)
    records = []
    async for record in jetstream_store.read_all(aggregate_type="widget"):
        records.append(record)
        if len(records) % 500 == 0:
            await asyncio.sleep(0.02)  # a slow reader: the server has to wait for flow control
    assert positions(records) == list(range(1, 3_001))
    assert records[-1].event == WidgetIncremented(by=2_999)
    assert records[-1].envelope.version == 60
    assert any(data.startswith(b"PUB $JS.FC.") for data in sent)


class Cutter:
    """Makes the raw connections' next read fail as if the server had closed it.

    A server that stops closes its connections, but a reader notices only after taking what its
    socket buffers already hold, which for a short log can be all of it. Cutting the read right
    away makes sure the reader has to start over. Reads are also made small (4 KiB instead of
    1 MiB): with the usual chunk one read can hold the whole test log, and a reader that never
    comes back to the socket is never cut (CI saw exactly that once).
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.armed = False
        monkeypatch.setattr(rawconn, "_CHUNK", 4096)
        original = RawConnection.read

        async def read(connection: RawConnection, *, within: float) -> bytes:
            if self.armed:
                self.armed = False
                msg = "cut by the test"
                raise ConnectionResetError(msg)
            return await original(connection, within=within)

        monkeypatch.setattr(RawConnection, "read", read)


@pytest.fixture
def cutter(monkeypatch: pytest.MonkeyPatch) -> Cutter:
    return Cutter(monkeypatch)


async def test_a_catch_up_read_survives_a_quick_server_restart(
    nats_server: NatsServer, jetstream_store: JetStreamEventStore, nc: Client, cutter: Cutter
) -> None:
    await fill(nc, jetstream_store, 1_000)
    seen: list[int] = []
    async with iterating(jetstream_store.read_all()) as records:
        async for record in records:
            seen.append(record.envelope.position)
            if len(seen) == 10:
                await nats_server.stop()
                await nats_server.start()
                cutter.armed = True
    assert seen == list(range(1, 1_001))
    await until_connected(nc)


async def test_a_catch_up_read_gives_up_when_the_server_stays_away(
    nats_server: NatsServer, jetstream_store: JetStreamEventStore, nc: Client, cutter: Cutter
) -> None:
    await fill(nc, jetstream_store, 1_000)
    impatient = JetStreamEventStore(
        nc, CODECS, settings=msgspec.structs.replace(SETTINGS, request_timeout=0.5)
    )
    seen: list[int] = []

    async def read_while_stopping() -> None:
        async with asyncio.timeout(10), iterating(impatient.read_all()) as records:
            async for record in records:
                seen.append(record.envelope.position)
                if len(seen) == 10:
                    await nats_server.stop()
                    cutter.armed = True

    try:
        with pytest.raises(StoreUnavailable, match="open a connection to read the log"):
            await read_while_stopping()
    finally:
        await nats_server.start()
        await until_connected(nc)
    assert seen == list(range(1, len(seen) + 1))


class Freezer:
    """Freezes and thaws the server process (a server that hangs without closing connections)."""

    def __init__(self, server: NatsServer) -> None:
        self._server = server
        self.frozen: int | None = None

    def freeze(self) -> None:
        self.frozen = self._server.pid
        assert self.frozen is not None
        os.kill(self.frozen, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.frozen is not None:
            os.kill(self.frozen, signal.SIGCONT)
            self.frozen = None


@pytest.fixture
def freezer(nats_server: NatsServer) -> Iterator[Freezer]:
    freezer = Freezer(nats_server)
    yield freezer
    freezer.thaw()


async def test_a_followed_log_notices_a_hung_server_by_its_missing_heartbeats(
    jetstream_store: JetStreamEventStore, freezer: Freezer
) -> None:
    store = jetstream_store
    first = await store.append(widget("w"), [new(WidgetCreated(name="w"))], expected=NEW)
    async with iterating(store.read_all(follow=True)) as records:
        assert await take(records, 1) == [first.position]
        async with asyncio.TaskGroup() as group:
            waiting = group.create_task(take(records, 1), name="follower")
            freezer.freeze()
            await asyncio.sleep(1.0)  # > two heartbeats: the reader starts over, and waits for the server
            freezer.thaw()
            second = await append_when_back(store, widget("w"), [new(WidgetIncremented())], first)
        assert waiting.result() == [second.position]


async def test_a_followed_log_recreates_a_consumer_deleted_under_it(
    jetstream_store: JetStreamEventStore, nc: Client
) -> None:
    store = jetstream_store
    first = await store.append(widget("w"), [new(WidgetCreated(name="w"))], expected=NEW)
    async with iterating(store.read_all(follow=True)) as records:
        assert await take(records, 1) == [first.position]
        async with asyncio.TaskGroup() as group:
            waiting = group.create_task(take(records, 1), name="follower")
            js = nc.jetstream()
            for consumer in await js.consumers_info(SETTINGS.stream):
                await js.delete_consumer(SETTINGS.stream, consumer.name)
            second = await store.append(widget("w"), [new(WidgetIncremented())], expected=first)
        assert waiting.result() == [second.position]


async def test_a_refused_connection_is_an_error_not_an_outage(tmp_path: Path) -> None:
    async with ConfiguredServer(tmp_path / "nats", ['authorization { token: "t0ken" }']) as server:
        options = ConnectOptions(servers=(urlparse(server.url),), token="wrong")
        with pytest.raises(HandshakeRefused):
            await RawConnection.open(options, within=2)
        with pytest.raises(OSError, match="no NATS server answered"):
            await RawConnection.open(ConnectOptions(servers=(urlparse("nats://127.0.0.1:1"),)), within=2)
