"""A real, standalone OpenStack Ironic for tests and the dev stack.

Ironic conflicts with our own dependencies, so it lives in its own virtualenv cached outside the
repository (``~/.cache/metalstream/ironic-<version>-py<X.Y>``, or ``$METALSTREAM_IRONIC_VENV``).
That venv is built in a temporary directory and renamed into place only when complete, so an
install killed half-way never leaves a broken venv behind; the console scripts are always run
as ``<venv>/bin/python <script>`` so the shebangs written for the temporary path do not matter.

``IronicHarness`` writes an ``ironic.conf`` (sqlite in a fresh state directory, ``noauth`` or
HTTP basic auth, optionally TLS, fake-hardware/redfish/ipmi and every interface our tests use),
creates the schema (``create_schema`` is not idempotent, so the database file is always new),
starts the combined ``ironic`` process on a free loopback port and waits until
``GET /v1/conductors`` lists an alive conductor. The process is handled with ``subprocess`` and
polled, not with asyncio's subprocess transport, so a harness started in one event loop (a
session fixture) can be stopped or restarted from another.

Ironic is started with :func:`metalstream.devstack.processes.popen`: it is killed when the process
that started it ends, even by SIGKILL, and not when the thread or loop that started it ends (the
tests start it from a helper thread's short-lived loop). Ironic forks a worker process, which
on its master's death shuts down gracefully for up to a minute; so the whole process group (Ironic
leads its own session) is killed when the harness's process ends, and stopping signals the group.

``keep_database=True`` is for a dev stack that must survive its own restart: a non-empty
database an earlier run left in the given ``state_dir`` is used as it is, so the nodes enrolled
then are still there; only a missing or empty file gets a new schema. Ironic cannot upgrade a
sqlite schema, so the database must come from the same Ironic version (the caller's to check).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import aiohttp
import msgspec

from metalstream.devstack import ipmitool, processes

IRONIC_VERSION: Final = "39.0.0"
VENV_ENV: Final = "METALSTREAM_IRONIC_VENV"
"""Environment variable naming an Ironic virtualenv to use (and build, if it does not exist)."""
_READY_MARKER: Final = ".metalstream-ironic-ready"
_DATABASE: Final = "ironic.sqlite"
_LOG_TAIL_LINES: Final = 30
_API_MIN_READY_VERSION: Final = "1.89"


class IronicHarnessError(RuntimeError):
    """Ironic could not be installed, configured or started; the message names the log file."""


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/metalstream`` or ``~/.cache/metalstream``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metalstream"


def default_venv_path(version: str = IRONIC_VERSION) -> Path:
    """Where the Ironic virtualenv lives unless ``$METALSTREAM_IRONIC_VENV`` says otherwise."""
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return cache_root() / f"ironic-{version}-{python}"


def venv_path(version: str = IRONIC_VERSION) -> Path:
    override = os.environ.get(VENV_ENV)
    return Path(override).expanduser() if override else default_venv_path(version)


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass(frozen=True, slots=True)
class IronicVenv:
    """An installed Ironic virtualenv."""

    path: Path
    install_seconds: float | None = None
    """Time spent building it in this call, or None when it was already there."""

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def script(self, name: str) -> list[str]:
        """The argv prefix that runs console script ``name`` (shebang-independent)."""
        return [str(self.python), str(self.path / "bin" / name)]


def _usable(path: Path) -> bool:
    if (path / _READY_MARKER).is_file():
        return True
    # A venv somebody else built (named by the environment variable): use it as it is.
    return (path / "bin" / "ironic").is_file() and (path / "bin" / "python").exists()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_builds(path: Path) -> None:
    for candidate in path.parent.glob(f".{path.name}.build-*"):
        pid_text = candidate.name.rsplit("-", 2)[-2]
        if not pid_text.isdigit() or not _pid_alive(int(pid_text)):
            shutil.rmtree(candidate, ignore_errors=True)


async def _run_logged(argv: Sequence[str], log_path: Path, *, limit: float, what: str) -> None:
    with log_path.open("ab") as log:
        log.write(f"\n$ {' '.join(argv)}\n".encode())
        log.flush()
        process = await processes.start(*argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        async with asyncio.timeout(limit):
            code = await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        msg = f"{what} did not finish within {limit:.0f}s; see {log_path}:\n{_tail(log_path)}"
        raise IronicHarnessError(msg) from None
    if code != 0:
        msg = f"{what} failed with exit code {code}; see {log_path}:\n{_tail(log_path)}"
        raise IronicHarnessError(msg)


async def ensure_venv(
    path: Path | None = None, *, version: str = IRONIC_VERSION, install_limit: float = 1200.0
) -> IronicVenv:
    """Return the Ironic virtualenv, building it first if needed (atomically, under a file lock)."""
    target = path or venv_path(version)
    if _usable(target):
        return IronicVenv(path=target)
    target.parent.mkdir(parents=True, exist_ok=True)
    lock_path = target.parent / f".{target.name}.lock"
    lock_fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        # Another process may be building the same venv: wait for it off the event loop.
        await asyncio.to_thread(fcntl.flock, lock_fd, fcntl.LOCK_EX)
        if _usable(target):
            return IronicVenv(path=target)
        _remove_stale_builds(target)
        if target.exists():
            shutil.rmtree(target)  # not ours and not usable: a leftover without the marker
        started = time.monotonic()
        build = target.parent / f".{target.name}.build-{os.getpid()}-{int(started)}"
        log_path = target.parent / f"{target.name}.install.log"
        log_path.write_text("")
        try:
            await _run_logged(
                [sys.executable, "-m", "venv", str(build)], log_path, limit=120, what="python -m venv"
            )
            pip = [str(build / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
            await _run_logged(
                [*pip, "install", "--quiet", "--upgrade", "pip"],
                log_path,
                limit=install_limit,
                what="pip upgrade",
            )
            await _run_logged(
                [*pip, "install", "--quiet", f"ironic=={version}"],
                log_path,
                limit=install_limit,
                what=f"pip install ironic=={version}",
            )
            (build / _READY_MARKER).write_text(f"ironic=={version}\n")
            build.rename(target)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
        return IronicVenv(path=target, install_seconds=time.monotonic() - started)
    finally:
        os.close(lock_fd)  # closing the descriptor releases the lock


# --- configuration -------------------------------------------------------------------------------

ENABLED_INTERFACES: Final[Mapping[str, str]] = {
    "bios": "fake,no-bios,redfish",
    "boot": "fake,ipxe,pxe,redfish-virtual-media",
    "console": "fake,no-console",
    "deploy": "fake,direct,ramdisk,custom-agent",
    "firmware": "fake,no-firmware,redfish",
    "inspect": "fake,no-inspect,redfish,agent",
    "management": "fake,ipmitool,redfish",
    "power": "fake,ipmitool,redfish",
    "raid": "fake,no-raid,agent,redfish",
    "rescue": "fake,no-rescue",
    "storage": "fake,noop",
    "vendor": "fake,no-vendor,ipmitool,redfish",
}
"""Every interface implementation our tests combine; fake-hardware nodes may use any of them."""


class BasicAuth:
    """HTTP basic auth credentials for Ironic's ``http_basic`` strategy; never shown by ``repr``."""

    __slots__ = ("password", "username")

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='***')"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """A throw-away CA and the server certificate it signed (for 127.0.0.1 and localhost)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def render_config(
    *,
    state_dir: Path,
    host: str,
    port: int,
    public_url: str,
    basic_auth_file: Path | None = None,
    tls: TlsFiles | None = None,
    extra: Mapping[str, Mapping[str, str]] | None = None,
    ipmi: bool = True,
) -> str:
    """The ``ironic.conf`` text for a standalone single-process Ironic (see real-components.md §4.2).

    ``ipmi=False`` leaves out the ``ipmi`` hardware type and the ``ipmitool`` interfaces: Ironic
    refuses to start them without an ``ipmitool`` binary on its ``PATH``.
    """
    interfaces = {
        kind: ",".join(n for n in names.split(",") if ipmi or n != "ipmitool")
        for kind, names in ENABLED_INTERFACES.items()
    }
    sections: dict[str, dict[str, str]] = {
        "DEFAULT": {
            "host": "metalstream-conductor",
            "auth_strategy": "http_basic" if basic_auth_file else "noauth",
            "rpc_transport": "none",
            "debug": "false",
            "log_file": str(state_dir / "ironic.log"),
            "enabled_hardware_types": "fake-hardware,redfish,ipmi" if ipmi else "fake-hardware,redfish",
            "enabled_network_interfaces": "noop",
            "default_network_interface": "noop",
            **{f"enabled_{kind}_interfaces": names for kind, names in interfaces.items()},
        },
        "api": {"host_ip": host, "port": str(port), "api_workers": "1"},
        "database": {"connection": f"sqlite:///{state_dir / _DATABASE}"},
        "dhcp": {"dhcp_provider": "none"},
        "deploy": {"http_root": str(state_dir / "httpboot"), "http_url": "http://127.0.0.1:1"},
        "pxe": {"tftp_root": str(state_dir / "tftpboot")},
        "oslo_concurrency": {"lock_path": str(state_dir / "locks")},
        "service_catalog": {"endpoint_override": public_url},
        "agent": {"require_tls": "false"},
        # 0 is broken in ironic 39 (ZeroDivisionError); the default 5 makes each IPMI call 5-15 s.
        "ipmi": {"min_command_interval": "1", "command_retry_timeout": "10"},
        "conductor": {
            # Tests want failures quickly and power drift noticed soon.
            "sync_power_state_interval": "5",
            "check_provision_state_interval": "5",
            "power_state_change_timeout": "30",
            "deploy_callback_timeout": "300",
            "clean_callback_timeout": "300",
            "inspect_wait_timeout": "300",
            "heartbeat_interval": "2",
        },
        "redfish": {"connection_attempts": "3", "connection_retry_interval": "1"},
    }
    if basic_auth_file is not None:
        sections["DEFAULT"]["http_basic_auth_user_file"] = str(basic_auth_file)
    if tls is not None:
        sections["api"].update(
            {"enable_ssl_api": "true", "cert_file": str(tls.cert_file), "key_file": str(tls.key_file)}
        )
    for name, values in (extra or {}).items():
        sections.setdefault(name, {}).update(values)
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {value}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


def write_tls_files(directory: Path) -> TlsFiles:
    """Generate a CA and a server certificate for 127.0.0.1/localhost with ``cryptography``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metalstream test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_file=directory / "ca.crt", cert_file=directory / "server.crt", key_file=directory / "server.key"
    )
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.touch(mode=0o600)
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (Ironic must be told its port before it binds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# --- the process ---------------------------------------------------------------------------------


class _Conductor(msgspec.Struct, frozen=True):
    hostname: str = ""
    alive: bool = False


class _Conductors(msgspec.Struct, frozen=True):
    conductors: list[_Conductor] = []


@dataclass(slots=True)
class StartTimings:
    """Seconds spent in each start phase (the last start)."""

    venv: float = 0.0
    schema: float = 0.0
    ready: float = 0.0


@dataclass(slots=True)
class _Settings:
    host: str
    port: int
    basic_auth: BasicAuth | None
    tls: bool
    start_timeout: float
    extra: Mapping[str, Mapping[str, str]]
    use_ipmitool: bool
    env: Mapping[str, str] = field(default_factory=dict)


class IronicHarness:
    """One standalone Ironic process. Use as an async context manager, or ``start``/``stop``."""

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        venv: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        basic_auth: BasicAuth | None = None,
        tls: bool = False,
        start_timeout: float = 90.0,
        extra_config: Mapping[str, Mapping[str, str]] | None = None,
        ipmitool: bool = True,
        keep_database: bool = False,
    ) -> None:
        """Configure (nothing starts yet).

        ``keep_database`` True keeps a non-empty sqlite database found in ``state_dir`` instead
        of creating a new one (meaningless without a ``state_dir``: a temporary one is empty).
        """
        self._keep_database = keep_database
        self._settings = _Settings(
            host=host,
            port=port,
            basic_auth=basic_auth,
            tls=tls,
            start_timeout=start_timeout,
            extra=extra_config or {},
            use_ipmitool=ipmitool,
        )
        self._venv_path = venv
        self._given_state_dir = state_dir
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.venv: IronicVenv | None = None
        self.state_dir: Path | None = None
        self.port = port
        self.tls_files: TlsFiles | None = None
        self.timings = StartTimings()
        self.starts = 0

    # -- addresses -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:41234``."""
        scheme = "https" if self._settings.tls else "http"
        return f"{scheme}://{self._settings.host}:{self.port}"

    @property
    def ca_file(self) -> Path | None:
        return self.tls_files.ca_file if self.tls_files else None

    @property
    def basic_auth(self) -> BasicAuth | None:
        return self._settings.basic_auth

    @property
    def log_path(self) -> Path:
        return self._dir() / "ironic.log"

    @property
    def config_path(self) -> Path:
        return self._dir() / "ironic.conf"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _require_venv(self) -> IronicVenv:
        if self.venv is None:
            msg = "the Ironic venv is not installed yet"
            raise IronicHarnessError(msg)
        return self.venv

    def _dir(self) -> Path:
        if self.state_dir is None:
            msg = "the Ironic harness has not been started"
            raise IronicHarnessError(msg)
        return self.state_dir

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Install (if needed), configure, create the schema, start and wait until ready."""
        if self._process is not None:
            return
        began = time.monotonic()
        self.venv = await ensure_venv(self._venv_path)
        self.timings.venv = time.monotonic() - began
        if self.state_dir is None:
            if self._given_state_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="metalstream-ironic-")
                self.state_dir = Path(self._tmp.name)
            else:
                self.state_dir = self._given_state_dir
                self.state_dir.mkdir(parents=True, exist_ok=True)
        state = self.state_dir
        for sub in ("httpboot", "tftpboot", "locks"):
            (state / sub).mkdir(exist_ok=True)
        if self._settings.use_ipmitool:
            bin_dir = await ipmitool.ensure_ipmitool()
            self._settings.env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
        if self._settings.tls and self.tls_files is None:
            self.tls_files = write_tls_files(state / "tls")
        auth_file = await self._write_htpasswd() if self._settings.basic_auth else None
        if self.port == 0:
            self.port = free_port(self._settings.host)
        self.config_path.write_text(
            render_config(
                state_dir=state,
                host=self._settings.host,
                port=self.port,
                public_url=self.url,
                basic_auth_file=auth_file,
                tls=self.tls_files,
                extra=self._settings.extra,
                ipmi=self._settings.use_ipmitool,
            )
        )
        database = state / _DATABASE
        if self._keep_database and await asyncio.to_thread(_has_data, database):
            self.timings.schema = 0.0
        else:
            await self._create_schema()
        await self._launch()

    async def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after 10 s; remove a temporary state dir."""
        await self._terminate()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.state_dir = None

    async def restart(self, *, wipe_db: bool = False, graceful: bool = True) -> None:
        """Stop and start again on the same port; ``wipe_db`` simulates Ironic losing its database.

        ``graceful=False`` kills the process (SIGKILL) like a crashed or evicted pod.
        """
        await self._terminate(graceful=graceful)
        if wipe_db:
            await self._create_schema()
        await self._launch()

    async def kill(self) -> None:
        """Kill Ironic without starting it again (an outage); ``restart`` brings it back."""
        await self._terminate(graceful=False)

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- internals -------------------------------------------------------------------------------

    async def _write_htpasswd(self) -> Path:
        auth, venv = self._settings.basic_auth, self._require_venv()
        if auth is None:
            msg = "no basic auth configured"
            raise IronicHarnessError(msg)
        # Hash with the Ironic venv's bcrypt (an Ironic dependency); the password goes via stdin.
        process = await asyncio.create_subprocess_exec(
            str(venv.python),
            "-c",
            "import bcrypt,sys; print(bcrypt.hashpw(sys.stdin.buffer.read(), bcrypt.gensalt(4)).decode())",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(30):
            out, err = await process.communicate(auth.password.encode())
        if process.returncode != 0:
            msg = f"could not hash the basic auth password: {err.decode(errors='replace')[-400:]}"
            raise IronicHarnessError(msg)
        path = self._dir() / "htpasswd"
        path.touch(mode=0o600)
        path.write_text(f"{auth.username}:{out.decode().strip()}\n")
        return path

    async def _create_schema(self) -> None:
        """A brand-new database: a copy of a cached empty schema, or ``create_schema`` once."""
        venv = self._require_venv()
        database = self._dir() / _DATABASE
        # create_schema is not idempotent and `upgrade` fails on sqlite: always a new file.
        _remove_database(database)
        began = time.monotonic()
        template = venv.path.parent / f"{venv.path.name}.schema.sqlite"
        if _is_file(template):
            await asyncio.to_thread(shutil.copyfile, template, database)
        else:
            await _run_logged(
                [*venv.script("ironic-dbsync"), "--config-file", str(self.config_path), "create_schema"],
                self._dir() / "ironic-dbsync.log",
                limit=120,
                what="ironic-dbsync create_schema",
            )
            # Keep the empty schema for the next start (2-4 s saved each time); best effort.
            with contextlib.suppress(OSError):
                partial = template.with_name(f".{template.name}.{os.getpid()}")
                await asyncio.to_thread(shutil.copyfile, database, partial)
                await asyncio.to_thread(partial.rename, template)
        self.timings.schema = time.monotonic() - began

    async def _launch(self) -> None:
        venv = self._require_venv()
        stdout_path = self._dir() / "ironic.stdout.log"
        env = {**os.environ, **self._settings.env, "PYTHONUNBUFFERED": "1"}
        argv = [*venv.script("ironic"), "--config-file", str(self.config_path)]
        began = time.monotonic()
        log_offset = _log_size(self.log_path)
        with stdout_path.open("ab") as out:
            self._process = await processes.popen(
                argv,
                group=True,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.starts += 1
        try:
            await self._wait_ready(log_offset)
        except BaseException:
            await self._terminate()
            raise
        self.timings.ready = time.monotonic() - began

    def _ssl(self) -> ssl.SSLContext | bool:
        if self.tls_files is None:
            return True
        return ssl.create_default_context(cafile=str(self.tls_files.ca_file))

    async def _wait_ready(self, log_offset: int) -> None:
        deadline = time.monotonic() + self._settings.start_timeout
        auth = self._settings.basic_auth
        headers = {"X-OpenStack-Ironic-API-Version": _API_MIN_READY_VERSION}
        if auth is not None:
            headers["Authorization"] = aiohttp.encode_basic_auth(auth.username, auth.password)
        last = "no answer yet"
        connector = aiohttp.TCPConnector(ssl=self._ssl())
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=3)
        ) as session:
            while time.monotonic() < deadline:
                process = self._process
                if process is None or process.poll() is not None:
                    code = None if process is None else process.returncode
                    msg = f"ironic exited with code {code} while starting; see {self.log_path}:\n"
                    raise IronicHarnessError(msg + self._logs_tail())
                if _crash_looping(self.log_path, log_offset):
                    msg = f"ironic's worker process keeps crashing while starting; see {self.log_path}:\n"
                    raise IronicHarnessError(msg + self._logs_tail())
                try:
                    async with session.get(f"{self.url}/v1/conductors", headers=headers) as r:
                        body = await r.read()
                        if r.status == 200:
                            found = msgspec.json.decode(body, type=_Conductors)
                            if any(c.alive for c in found.conductors):
                                return
                            last = "no alive conductor listed"
                        else:
                            last = f"HTTP {r.status}"
                except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError) as e:
                    last = f"{type(e).__name__}: {e}"
                await asyncio.sleep(0.2)
        msg = (
            f"ironic was not ready within {self._settings.start_timeout:.0f}s (last check: {last}); "
            f"see {self.log_path}:\n{self._logs_tail()}"
        )
        raise IronicHarnessError(msg)

    def _logs_tail(self) -> str:
        stdout = _tail(self._dir() / "ironic.stdout.log", 10)
        return f"{_tail(self.log_path)}\n--- stdout/stderr ---\n{stdout}"

    async def _terminate(self, *, graceful: bool = True) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if graceful and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            await _wait_exit(process, 10.0)
        # SIGKILL whatever is left of the group (the worker child may outlive the master).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if not await _wait_exit(process, 10.0):
            msg = f"ironic (pid {process.pid}) did not exit after SIGKILL"
            raise IronicHarnessError(msg)


def _log_size(log_path: Path) -> int:
    try:
        return log_path.stat().st_size
    except OSError:
        return 0


def _crash_looping(log_path: Path, since: int) -> bool:
    """cotyledon restarts a crashing worker and says "Forking too fast" when it keeps dying."""
    try:
        with log_path.open("rb") as log:
            log.seek(max(since, log.seek(0, os.SEEK_END) - 16384))
            return b"Forking too fast" in log.read()
    except OSError:
        return False


def _remove_database(database: Path) -> None:
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def _is_file(path: Path) -> bool:
    return path.is_file()


def _has_data(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


async def _wait_exit(process: subprocess.Popen[bytes], limit: float) -> bool:
    deadline = time.monotonic() + limit
    while process.poll() is None:
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


__all__ = [
    "IRONIC_VERSION",
    "VENV_ENV",
    "BasicAuth",
    "IronicHarness",
    "IronicHarnessError",
    "IronicVenv",
    "TlsFiles",
    "default_venv_path",
    "ensure_venv",
    "render_config",
    "venv_path",
    "write_tls_files",
]
