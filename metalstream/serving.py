"""``metalstream run``: the control plane as a production process.

Settings come from ``METALSTREAM_*`` variables (docs/settings.md) and the few flags ``run``
takes; the process runs until SIGTERM or SIGINT, then cancels the control plane's TaskGroup and
exits 0, so a Kubernetes rollout or ``docker stop`` is a clean stop. What stops it early is
reported in one line naming the component and the fix, with a distinct exit code:

* 2: a setting or the kubeconfig cannot be used;
* 3: the event store (NATS) is unreachable;
* 5: the Kubernetes API server or Ironic is unreachable or refuses us;
* 6: leadership was lost (leader election only): the Lease was taken or could not be renewed in
  time, so this process stops acting at once and exits; its supervisor restarts it as a standby.

With ``kube.leader_election`` on, several replicas may run: each serves ``/healthz`` and ``/readyz``
from the start (a standby is alive and ready to take over, as controller-runtime operators'
standbys are, so a Deployment of several replicas rolls out normally; the leader is not ready
until its control plane has caught up), waits to hold the Lease
(``adapters/k8s/leader.py``), and only then connects to NATS and Ironic and runs the control
plane, while renewing the Lease beside it. Stopping releases the Lease after the control plane
has stopped, so a standby takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import structlog

from adapters.ironic.errors import IronicError
from adapters.k8s import errors as kube_errors
from adapters.k8s import leader
from adapters.k8s.connection import connect
from core.errors import StoreUnavailable
from metalstream import settings
from metalstream.controlplane import connection_settings, run_control_plane
from metalstream.observability.health import HealthServer, ReadinessCheck
from metalstream.observability.metrics import Metrics

log = structlog.get_logger("metalstream.run")


async def serve(config: settings.Settings) -> int:
    """Run the control plane until SIGTERM/SIGINT; the process exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info(
        "metalstream starting",
        nats=list(config.nats.urls),
        ironic=config.ironic.url,
        kubeconfig=config.kube.kubeconfig or "in-cluster",
        namespace=config.kube.namespace or "all",
        health_port=config.observability.port,
        leader_election=config.kube.leader_election,
    )
    try:
        async with asyncio.TaskGroup() as group:
            main = _run_while_leading(config) if config.kube.leader_election else run_control_plane(config)
            plane = group.create_task(main, name="control-plane")
            stopping = group.create_task(stop.wait(), name="signals")
            await asyncio.wait({plane, stopping}, return_when=asyncio.FIRST_COMPLETED)
            plane.cancel()
            stopping.cancel()
    except ExceptionGroup as failure:
        return _report(failure)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
    log.info("metalstream stopped")
    return 0


async def _run_while_leading(config: settings.Settings) -> None:
    """Serve health at once, wait to lead, then run the control plane for as long as this process leads."""
    kube = config.kube
    namespace = kube.leader_election_namespace or await leader.pod_namespace()
    if namespace is None:
        msg = (
            "leader election needs a namespace for its Lease, and this process does not run in a pod: "
            f"set {settings.PREFIX}KUBE_LEADER_ELECTION_NAMESPACE"
        )
        raise settings.SettingsError(msg)
    timings = leader.Timings(
        lease_duration=kube.leader_election_lease_duration,
        renew_deadline=kube.leader_election_renew_deadline,
        retry_period=kube.leader_election_retry_period,
    )
    metrics = Metrics()
    health = HealthServer(metrics.registry, settings=config.observability)
    plane_ready = asyncio.Event()
    # The elector has a connection of its own, so the control plane's requests never hold up a renewal.
    async with connect(connection_settings(kube)) as conn, asyncio.TaskGroup() as group:
        elector = leader.LeaderElector(
            conn, namespace=namespace, name=kube.leader_election_id, timings=timings
        )
        # A standby is ready (to take over); a leader only once its control plane is, whose own
        # checks are registered only when it starts.
        health.add_check("control-plane", _standing_by_or_ready(elector.leading, plane_ready))
        group.create_task(health.run(), name="health")
        group.create_task(_lead(elector, config, metrics, health, plane_ready), name="leader")


def _standing_by_or_ready(leading: asyncio.Event, plane_ready: asyncio.Event) -> ReadinessCheck:
    async def check() -> bool:
        return not leading.is_set() or plane_ready.is_set()

    return check


async def _lead(
    elector: leader.LeaderElector,
    config: settings.Settings,
    metrics: Metrics,
    health: HealthServer,
    ready: asyncio.Event,
) -> None:
    # Leaving the TaskGroup waits for the control plane to stop; only then is the Lease released.
    async with elector, asyncio.TaskGroup() as group:
        group.create_task(elector.hold(), name="leader-election")
        group.create_task(
            run_control_plane(config, metrics=metrics, health=health, ready=ready), name="control-plane"
        )


_FAILURES: tuple[tuple[type[Exception], int, str], ...] = (
    (leader.LeadershipLost, 6, "lost leadership, exiting"),
    (settings.SettingsError, 2, "settings"),
    (kube_errors.KubeConfigError, 2, "kubernetes"),
    (StoreUnavailable, 3, "event store unavailable"),
    (kube_errors.KubeError, 5, "kubernetes API server"),
    (IronicError, 5, "ironic"),
)


def _report(failure: ExceptionGroup[Exception]) -> int:
    """Say in one line what stopped the control plane; re-raise what is a bug."""
    for kind, code, what in _FAILURES:
        matched = failure.subgroup(kind)
        if matched is not None:
            first = matched.exceptions[0]
            while isinstance(first, ExceptionGroup):
                first = first.exceptions[0]
            return _fail(code, f"{what}: {first}")
    raise failure


def _fail(code: int, message: str) -> int:
    print(f"metalstream: {message}", file=sys.stderr)
    return code
