"""Liveness, readiness and metrics over HTTP, for the kubelet and Prometheus.

``/healthz`` answers 200 whenever the event loop can answer at all: a process that cannot is
wedged and should be restarted. ``/readyz`` answers 200 only when every registered readiness
check passes (NATS connected, projections caught up, informers synced, ...), and 503 otherwise,
naming the failing checks so ``kubectl describe pod`` says what is missing; ``?verbose`` lists
every check either way. ``/metrics`` is the Prometheus text exposition of the process's registry.

Readiness is kept apart from liveness on purpose: losing NATS makes the pod unready, but the
client reconnects by itself, so the kubelet must not restart the process for it.

A readiness check is a named async callable returning whether it is satisfied. Checks run
concurrently, each under its own timeout, so one hung dependency costs one timeout rather than
the sum; a check that raises or times out counts as failing, and only the exception's type and
first line are shown (checks report states, never secrets).

``HealthServer.run()`` is one child of the process's top ``TaskGroup``: cancelling it closes the
listening socket and waits, bounded, for requests in flight. Port 0 takes a free port, readable
as ``port`` once ``started`` is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Protocol, Self, TypeAlias

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from core.ports import EventStore
from metalstream.settings import ObservabilitySettings

log = structlog.get_logger("metalstream.health")

HEALTHZ: Final = "/healthz"
READYZ: Final = "/readyz"
METRICS: Final = "/metrics"

ReadinessCheck: TypeAlias = Callable[[], Awaitable[bool]]
"""Returns True when satisfied; False, raising or overrunning its timeout all mean not ready."""

_MAX_DETAIL: Final = 200


class HealthServerError(RuntimeError):
    """The server could not start listening; the message names the address and the fix."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict of one readiness check."""

    name: str
    ok: bool
    detail: str
    """``ok``, ``not ready``, ``timed out after 2s`` or ``<ExceptionType>: <first line>``."""


class HealthServer:
    """Serves ``/healthz``, ``/readyz`` and ``/metrics``. ``run()`` it in a TaskGroup; cancel to stop."""

    def __init__(self, registry: CollectorRegistry, *, settings: ObservabilitySettings | None = None) -> None:
        self.settings = settings or ObservabilitySettings()
        self._registry = registry
        self._checks: dict[str, tuple[ReadinessCheck, float]] = {}
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self.started = asyncio.Event()
        """Set while the server is listening (``port`` is then the bound port)."""

    # -- readiness checks -------------------------------------------------------------------------

    def add_check(self, name: str, check: ReadinessCheck, *, timeout: float | None = None) -> None:
        """Make readiness depend on ``check`` (``timeout`` defaults to ``settings.check_timeout``)."""
        if not name or any(c.isspace() for c in name):
            msg = f"readiness check name {name!r} must be non-empty and without spaces, e.g. 'nats'"
            raise ValueError(msg)
        if name in self._checks:
            msg = f"a readiness check named {name!r} is already registered; give each check its own name"
            raise ValueError(msg)
        budget = self.settings.check_timeout if timeout is None else timeout
        if budget <= 0:
            msg = f"readiness check {name!r}: timeout must be positive seconds"
            raise ValueError(msg)
        self._checks[name] = (check, budget)

    def remove_check(self, name: str) -> None:
        """Stop depending on the check ``name`` (no error if there is none)."""
        self._checks.pop(name, None)

    @property
    def check_names(self) -> list[str]:
        return sorted(self._checks)

    async def check(self) -> list[CheckResult]:
        """Run every check concurrently; results in name order."""
        names = self.check_names
        results = await asyncio.gather(*(self._run_check(name, *self._checks[name]) for name in names))
        return list(results)

    @staticmethod
    async def _run_check(name: str, check: ReadinessCheck, budget: float) -> CheckResult:
        try:
            async with asyncio.timeout(budget):
                ok = await check()
        except TimeoutError:
            return CheckResult(name=name, ok=False, detail=f"timed out after {budget:g}s")
        except Exception as exc:  # noqa: BLE001 - a failing check means "not ready", never a failed probe
            first_line = (str(exc).splitlines() or [""])[0][:_MAX_DETAIL]
            detail = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
            return CheckResult(name=name, ok=False, detail=detail)
        return CheckResult(name=name, ok=bool(ok), detail="ok" if ok else "not ready")

    # -- HTTP ---------------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_routes(
            [web.get(HEALTHZ, self._healthz), web.get(READYZ, self._readyz), web.get(METRICS, self._metrics)]
        )
        return app

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        results = await self.check()
        failing = [r.name for r in results if not r.ok]
        lines = [f"[{'+' if r.ok else '-'}]{r.name} {r.detail}" for r in results]
        if failing:
            text = "\n".join([*lines, f"not ready: {', '.join(failing)}"]) + "\n"
            return web.Response(status=503, text=text)
        shown = lines if "verbose" in request.query else []
        return web.Response(text="\n".join([*shown, "ok"]) + "\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self._registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    # -- lifecycle ----------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (the chosen one when configured with 0)."""
        if self._port is None:
            msg = "the health server is not listening yet; wait for `started`"
            raise RuntimeError(msg)
        return self._port

    @property
    def url(self) -> str:
        """Base URL to reach the server from this machine."""
        host = self.settings.host
        if host in ("", "0.0.0.0"):  # noqa: S104 - mapping the wildcard to loopback, not binding it
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Start listening (``run`` does this; use ``start``/``stop`` or ``async with`` directly)."""
        if self._runner is not None:
            return
        host, port = self.settings.host, self.settings.port
        runner = web.AppRunner(
            self.make_app(), access_log=None, shutdown_timeout=self.settings.shutdown_timeout
        )
        await runner.setup()
        site = web.TCPSite(runner, host or None, port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            msg = (
                f"health server cannot listen on {host or '*'}:{port}: {exc.strerror or exc}; "
                "choose a free port (0 takes any) or another bind address"
            )
            raise HealthServerError(msg) from exc
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self.started.set()
        log.info("health server listening", host=host, port=self._port, checks=self.check_names)

    async def stop(self) -> None:
        """Stop listening and let requests in flight finish (bounded by ``shutdown_timeout``)."""
        runner, self._runner = self._runner, None
        self.started.clear()
        self._port = None
        if runner is None:
            return
        try:
            async with asyncio.timeout(self.settings.shutdown_timeout + 1.0):
                await runner.cleanup()
        except TimeoutError:
            log.warning("health server did not shut down in time", timeout=self.settings.shutdown_timeout)

    async def run(self) -> None:
        """Serve until cancelled, then stop cleanly."""
        await self.start()
        try:
            await asyncio.get_running_loop().create_future()  # never resolves: serve until cancelled
        finally:
            await self.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


# -- ready-made checks ---------------------------------------------------------------------------


class Connection(Protocol):
    """What a NATS client exposes about its connection (nats-py's ``Client`` fits)."""

    @property
    def is_connected(self) -> bool: ...


def event_set(event: asyncio.Event) -> ReadinessCheck:
    """Ready once ``event`` is set: a projection's ``caught_up``, informers synced, a loop live."""

    async def check() -> bool:
        return event.is_set()

    return check


def nats_connected(client: Connection) -> ReadinessCheck:
    """Ready while the NATS client is connected (false while it reconnects)."""

    async def check() -> bool:
        return bool(client.is_connected)

    return check


def store_answers(store: EventStore) -> ReadinessCheck:
    """Ready while the event store answers a cheap request (its newest position)."""

    async def check() -> bool:
        await store.last_position()
        return True

    return check


__all__ = [
    "HEALTHZ",
    "METRICS",
    "READYZ",
    "CheckResult",
    "Connection",
    "HealthServer",
    "HealthServerError",
    "ObservabilitySettings",
    "ReadinessCheck",
    "event_set",
    "nats_connected",
    "store_answers",
]
