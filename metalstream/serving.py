"""``metalstream run``: the control plane as a production process.

Settings come from ``METALSTREAM_*`` variables (docs/settings.md) and the few flags ``run``
takes; the process runs until SIGTERM or SIGINT, then cancels the control plane's TaskGroup and
exits 0, so a Kubernetes rollout or ``docker stop`` is a clean stop. What stops it early is
reported in one line naming the component and the fix, with a distinct exit code:

* 2: a setting or the kubeconfig cannot be used;
* 3: the event store (NATS) is unreachable;
* 5: the Kubernetes API server or Ironic is unreachable or refuses us.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

import structlog

from adapters.ironic.errors import IronicError
from adapters.k8s import errors as kube_errors
from core.errors import StoreUnavailable
from metalstream import settings
from metalstream.controlplane import run_control_plane

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
    )
    try:
        async with asyncio.TaskGroup() as group:
            plane = group.create_task(run_control_plane(config), name="control-plane")
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


_FAILURES: tuple[tuple[type[Exception], int, str], ...] = (
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
