"""Typed settings, loaded once at the entry point from flags and ``METALSTREAM_*`` variables.

Every field is documented with its unit and default because this file is the settings reference
(docs/settings.md is generated from it). Settings are passed explicitly to what needs them,
never read from a global.

Environment names are ``METALSTREAM_<GROUP>_<FIELD>`` in upper case, e.g.
``METALSTREAM_NATS_URLS=nats://a:4222,nats://b:4222``. Lists are comma-separated.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal

import msgspec

PREFIX = "METALSTREAM_"
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


class NatsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to reach NATS JetStream, the event store."""

    urls: tuple[str, ...] = ("nats://127.0.0.1:4222",)
    """Server URLs; several for a cluster (tried in order, reconnects rotate)."""
    credentials_file: str | None = None
    """A NATS ``.creds`` file (user JWT and nkey seed)."""
    nkey_seed_file: str | None = None
    """A file holding an nkey seed, for nkey authentication without JWTs."""
    tls_ca_file: str | None = None
    """CA bundle to verify the server; setting it turns TLS on."""
    tls_cert_file: str | None = None
    """Client certificate for mutual TLS."""
    tls_key_file: str | None = None
    """Key of the client certificate."""
    connect_timeout: float = 5.0
    """Seconds to wait for a connection to be established."""
    request_timeout: float = 5.0
    """Seconds to wait for any JetStream request (append, read, consumer calls)."""
    stream: str = "METALSTREAM"
    """The JetStream stream holding every event."""
    subject_prefix: str = "metalstream"
    """First token of every event subject: ``<prefix>.<aggregate type>.<namespace>.<name>``."""


class LogSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Logging."""

    format: Literal["json", "console", "auto"] = "auto"
    """``json`` (one object per line), ``console`` (for people), ``auto`` (console on a TTY)."""
    level: Literal["debug", "info", "warning", "error"] = "info"
    """Lowest level written."""


class IronicSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to reach Ironic and how hard to drive it (the provisioner).

    ``repr`` never shows the username or password, so the settings object may be logged.
    """

    url: str = "http://127.0.0.1:6385"
    """Ironic API base URL (Metal3's ``IRONIC_ENDPOINT``; a trailing ``/v1`` is accepted and ignored)."""
    username: str | None = None
    """HTTP basic auth user; prefer ``username_file`` so the value stays out of the environment."""
    password: str | None = None
    """HTTP basic auth password; prefer ``password_file``. Never logged."""
    username_file: str | None = None
    """A file holding the basic auth user (Metal3 mounts ``/opt/metal3/auth/ironic/username``)."""
    password_file: str | None = None
    """A file holding the basic auth password (Metal3 mounts ``/opt/metal3/auth/ironic/password``)."""
    ca_file: str | None = None
    """CA bundle to verify Ironic's certificate (``https`` URLs); the system CAs when unset."""
    insecure: bool = False
    """Skip TLS verification of Ironic (Metal3's ``IRONIC_INSECURE``); for labs only."""
    timeout: float = 30.0
    """Seconds for one Ironic request, connecting included."""
    provisioning_limit: int = 20
    """Hosts busy in Ironic at once (Metal3's ``PROVISIONING_LIMIT``); others wait ``delayed``; 0 = none."""
    short_requeue: float = 3.0
    """Seconds before looking at a host again after a quick step (manage, provide, power, locked node)."""
    long_requeue: float = 10.0
    """Seconds between polls of a long step (inspect, clean, deploy)."""
    max_provisioning_retries: int = 5
    """Failed deploys of the same image before a host stops retrying (BMO ``--max-provisioning-retries``)."""
    concurrency: int = 8
    """Hosts reconciled at once (BMO's ``BMO_CONCURRENCY``); keep it well below ``provisioning_limit``."""
    fake_deploy: bool = False
    """Dev/test stacks with no agent: fake deploy and boot, real BMC power; ``fake-hardware://`` = no BMC."""
    deploy_kernel_url: str | None = None
    """Agent kernel for every node (Metal3's ``DEPLOY_KERNEL_URL``); Ironic's default when unset."""
    deploy_ramdisk_url: str | None = None
    """Agent ramdisk for every node (Metal3's ``DEPLOY_RAMDISK_URL``); Ironic's default when unset."""
    deploy_iso_url: str | None = None
    """Agent ISO for virtual-media hosts (Metal3's ``DEPLOY_ISO_URL``); Ironic's default when unset."""

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            msg = f"ironic url {self.url!r} must start with http:// or https://"
            raise ValueError(msg)
        for field in ("username", "password"):
            if getattr(self, field) is not None and getattr(self, f"{field}_file") is not None:
                msg = f"set ironic {field} or {field}_file, not both"
                raise ValueError(msg)
        if self.timeout <= 0 or self.short_requeue <= 0 or self.long_requeue <= 0:
            msg = "ironic timeout and requeue intervals must be positive"
            raise ValueError(msg)
        if self.concurrency < 1 or self.provisioning_limit < 0 or self.max_provisioning_retries < 0:
            msg = "ironic concurrency must be at least 1; provisioning_limit and retries not negative"
            raise ValueError(msg)

    def __repr__(self) -> str:
        shown = {
            name: ("***" if name in ("username", "password") and value is not None else value)
            for name in self.__struct_fields__
            for value in (getattr(self, name),)
        }
        return "IronicSettings(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    __str__ = __repr__


class KubeSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How to reach the Kubernetes API server and how hard to drive it (the controllers)."""

    kubeconfig: str | None = None
    """A kubeconfig file; unset means in-cluster (service account) when running in a pod, else
    ``$KUBECONFIG`` or ``~/.kube/config``."""
    context: str | None = None
    """The kubeconfig context to use; unset means its current context."""
    namespace: str | None = None
    """Watch only this namespace (Metal3's ``WATCH_NAMESPACE``); unset watches every namespace."""
    qps: float = 20.0
    """Client-side rate limit: requests per second to the API server (Metal3's ``--kube-api-qps``)."""
    burst: int = 30
    """Requests allowed in a burst above ``qps`` (Metal3's ``--kube-api-burst``)."""
    request_timeout: float = 30.0
    """Seconds to wait for any API server request."""
    concurrency: int = 4
    """BareMetalHosts reconciled at once (Metal3's ``BMO_CONCURRENCY``); never one host twice."""
    install_crds: bool = False
    """Apply metalstream's CRDs at start (needs rights on ``apiextensions.k8s.io``; the dev stack
    does this; in a cluster they come from ``deploy/crds``)."""
    leader_election: bool = False
    """Run only while holding a Lease (BMO's ``--enable-leader-election``), so 2+ replicas can run."""
    leader_election_namespace: str | None = None
    """Namespace of the Lease; unset means the pod's own namespace. Required outside a pod."""
    leader_election_id: str = "metalstream-leader"
    """Name of the Lease (controller-runtime's ``LeaderElectionID``); replicas sharing it elect one leader."""
    leader_election_lease_duration: float = 15.0
    """Seconds from the Lease's last change until a standby takes over (BMO ``--lease-duration-seconds``)."""
    leader_election_renew_deadline: float = 10.0
    """Seconds of failed renewals before the leader gives up, exit 6 (BMO ``--renew-deadline-seconds``)."""
    leader_election_retry_period: float = 2.0
    """Seconds between renewals, and a standby's tries, jittered (BMO ``--retry-period-seconds``)."""

    def __post_init__(self) -> None:
        if self.qps <= 0 or self.burst < 1 or self.request_timeout <= 0 or self.concurrency < 1:
            msg = "kube qps and request_timeout must be positive; burst and concurrency at least 1"
            raise ValueError(msg)
        retry, deadline, duration = (
            self.leader_election_retry_period,
            self.leader_election_renew_deadline,
            self.leader_election_lease_duration,
        )
        if not 0 < retry * 1.2 < deadline < duration:
            msg = (
                f"unsafe leader election timings {PREFIX}KUBE_LEADER_ELECTION_RETRY_PERIOD={retry:g}, "
                f"_RENEW_DEADLINE={deadline:g}, _LEASE_DURATION={duration:g}: need 0 < 1.2 x retry period "
                "< renew deadline < lease duration (seconds), e.g. the defaults 2, 10 and 15"
            )
            raise ValueError(msg)
        if not _DNS_SUBDOMAIN.fullmatch(self.leader_election_id) or len(self.leader_election_id) > 253:
            msg = (
                f"{PREFIX}KUBE_LEADER_ELECTION_ID={self.leader_election_id!r} is not a valid Lease name: use "
                "lower-case letters, digits, '-' and '.', starting and ending alphanumeric"
            )
            raise ValueError(msg)
        namespace = self.leader_election_namespace
        if namespace is not None and (not _DNS_LABEL.fullmatch(namespace) or len(namespace) > 63):
            msg = (
                f"{PREFIX}KUBE_LEADER_ELECTION_NAMESPACE={namespace!r} is not a namespace name: use at "
                "most 63 lower-case letters, digits and '-', starting and ending alphanumeric; or unset it"
            )
            raise ValueError(msg)


class ObservabilitySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The HTTP server for health probes and metrics scrapes."""

    host: str = "0.0.0.0"  # noqa: S104 - probes and scrapes arrive on the pod IP
    """Address to listen on; every interface by default, as the kubelet and Prometheus use the pod IP."""
    port: int = 9440
    """Port of ``/healthz``, ``/readyz`` and ``/metrics`` (BMO's health port); 0 takes a free one."""
    check_timeout: float = 2.0
    """Seconds one readiness check may take before it counts as failing."""
    shutdown_timeout: float = 5.0
    """Seconds to let requests in flight finish when the server stops."""

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            msg = f"observability port {self.port} is not a TCP port; use 0-65535 (0 takes a free one)"
            raise ValueError(msg)
        if self.check_timeout <= 0 or self.shutdown_timeout <= 0:
            msg = "observability check_timeout and shutdown_timeout must be positive seconds"
            raise ValueError(msg)


class Settings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """All settings of a metalstream process."""

    nats: NatsSettings = NatsSettings()
    log: LogSettings = LogSettings()
    ironic: IronicSettings = IronicSettings()
    kube: KubeSettings = KubeSettings()
    observability: ObservabilitySettings = ObservabilitySettings()


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable and the fix."""


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return any(_is_sequence(arg) for arg in typing.get_args(annotation))
    return origin in (tuple, list)


def load(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build settings from the environment, then apply ``overrides`` (``{"nats": {"urls": [...]}}``)."""
    env = os.environ if environ is None else environ
    raw: dict[str, dict[str, Any]] = {}
    hints = typing.get_type_hints(Settings)
    for group, group_type in hints.items():
        group_hints = typing.get_type_hints(group_type)
        for field, annotation in group_hints.items():
            name = f"{PREFIX}{group}_{field}".upper()
            if name in env:
                value: Any = env[name]
                if _is_sequence(annotation):
                    value = [part.strip() for part in value.split(",") if part.strip()]
                raw.setdefault(group, {})[field] = value
    for group, values in (overrides or {}).items():
        raw.setdefault(group, {}).update({k: v for k, v in values.items() if v is not None})
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        text = str(exc)
        problem, _, path = text.partition(" - at `$.")
        parts = path.rstrip("`").split(".")
        if len(parts) >= 2:
            variable = f"{PREFIX}{parts[0]}_{parts[1]}".upper().split("[")[0]
            msg = f"invalid setting {variable}: {problem}; fix the flag or environment variable"
        else:
            msg = f"invalid settings: {text}"
        raise SettingsError(msg) from exc


def reference() -> str:
    """The settings reference as Markdown, generated from the field docstrings."""
    import ast
    import inspect

    lines = ["# Settings reference", "", "Generated from `metalstream/settings.py`.", ""]
    tree = ast.parse(inspect.getsource(inspect.getmodule(Settings)))  # type: ignore[arg-type]
    docs: dict[tuple[str, str], str] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            body = node.body
            for i, stmt in enumerate(body[:-1]):
                nxt = body[i + 1]
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and isinstance(nxt, ast.Expr)
                    and isinstance(nxt.value, ast.Constant)
                    and isinstance(nxt.value.value, str)
                ):
                    docs[(node.name, stmt.target.id)] = nxt.value.value
    for group, group_type in typing.get_type_hints(Settings).items():
        lines += [f"## `{group}`", "", "| variable | default | meaning |", "| --- | --- | --- |"]
        defaults = group_type()
        for field in group_type.__struct_fields__:
            default = getattr(defaults, field)
            shown = ",".join(default) if isinstance(default, tuple) else default
            text = " ".join(docs.get((group_type.__name__, field), "").split())  # one table row
            lines.append(f"| `{PREFIX}{group.upper()}_{field.upper()}` | `{shown}` | {text} |")
        lines.append("")
    return "\n".join(lines)
