"""The control plane as one coroutine: event store, Kubernetes controller, provisioner, health.

``run_control_plane`` is what ``metalstream run`` (production) and ``metalstream dev`` (the local
stack) both start; they differ only in their settings. Everything runs under one TaskGroup:

* the JetStream event store (metered), one command handler shared by every part, so a host's
  cached state is the same object whoever decides on it;
* the BareMetalHost controller (informers, work queue, status, Kubernetes Events);
* the IPAM controller (IPPools, IPClaims, IPAddresses on the ``ippool`` aggregate);
* the Cluster API Metal3 controllers (Metal3Machine, data templates, Metal3Data, Metal3Cluster,
  Metal3Remediation), claiming hosts through the host aggregate;
* the Ironic provisioner, reading BMC credentials and config-drive data from the Secrets the
  hosts name;
* the health and metrics server, ready when NATS is connected, the informers have listed and
  both views have caught up with the log.

If any part fails, the TaskGroup cancels the others and the error propagates: a process
supervisor (Kubernetes, the dev stack) restarts the process, which resumes from the log.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import structlog

from adapters.ironic.client import IronicClient
from adapters.k8s import crd_install, errors, objects
from adapters.k8s.capm3 import capi
from adapters.k8s.connection import Connection, ConnectionSettings, connect
from adapters.k8s.ipam import capi_addresses
from adapters.k8s.resources import SECRETS
from adapters.nats.eventstore import JetStreamEventStore
from core.aggregates import host_commands as cmd
from core.aggregates import hosts, ippools
from core.aggregates import ippool_commands as ipcmd
from core.aggregates.host_state import HostState
from core.aggregates.ippool_state import PoolState
from metalstream import registry, settings, wiring
from metalstream.kube.host_secrets import KubeHostSecrets
from metalstream.kube.hosts import HostControllerService
from metalstream.kube.ipam import IpamControllerService
from metalstream.kube.machines import MachineControllerService
from metalstream.observability.health import HealthServer, event_set, nats_connected
from metalstream.observability.instrumented import (
    MeteredCommandHandler,
    MeteredEventStore,
    track_projection_lag,
)
from metalstream.observability.metrics import HostMetrics, Metrics
from metalstream.provisioning.running import (
    ProvisionerService,
    driver_mapping,
    ironic_endpoint,
    provisioner_settings,
)

log = structlog.get_logger("metalstream.controlplane")


def connection_settings(
    config: settings.KubeSettings, environ: Mapping[str, str] | None = None
) -> ConnectionSettings:
    """The API server connection: the kubeconfig setting, else in-cluster in a pod, else kubectl's."""
    env = os.environ if environ is None else environ
    kubeconfig = config.kubeconfig
    if kubeconfig is None and not env.get("KUBERNETES_SERVICE_HOST"):
        first = (env.get("KUBECONFIG") or "").split(os.pathsep)[0]
        kubeconfig = first or str(Path.home() / ".kube" / "config")
    return ConnectionSettings(
        kubeconfig=kubeconfig,
        context=config.context,
        qps=config.qps,
        burst=config.burst,
        request_timeout=config.request_timeout,
    )


def _secret_reader(conn: Connection) -> Any:
    async def read(namespace: str, name: str) -> Mapping[str, Any] | None:
        try:
            return await objects.get(conn, SECRETS, name, namespace=namespace)
        except errors.NotFound:
            return None

    return read


async def run_control_plane(
    config: settings.Settings,
    *,
    install_crds: bool | None = None,
    ready: asyncio.Event | None = None,
    metrics: Metrics | None = None,
    health: HealthServer | None = None,
) -> None:
    """Run every part of the control plane until cancelled; set ``ready`` once all have caught up.

    ``install_crds`` overrides ``config.kube.install_crds``. A caller that serves health itself
    (``metalstream run`` with leader election, whose standby must answer probes) passes its
    ``health`` server, already running, and the ``metrics`` it serves: the control plane then
    adds its readiness checks to it instead of starting its own.
    """
    metrics = Metrics() if metrics is None else metrics
    async with (
        wiring.nats_connection(config) as client,
        JetStreamEventStore(client, registry.CODECS, settings=wiring.store_settings(config)) as raw_store,
        connect(connection_settings(config.kube)) as conn,
        IronicClient(await ironic_endpoint(config.ironic)) as ironic,
    ):
        if config.kube.install_crds if install_crds is None else install_crds:
            installed = await crd_install.install(
                conn.api_client, request_timeout=config.kube.request_timeout
            )
            log.info("CRDs installed", count=len(installed))
        store = MeteredEventStore(raw_store, metrics)
        handler: MeteredCommandHandler[HostState, cmd.HostCommand] = MeteredCommandHandler(
            store, hosts.DEFINITION, metrics=metrics
        )
        controller = HostControllerService(
            conn=conn,
            store=store,
            handler=handler,
            namespace=config.kube.namespace,
            concurrency=config.kube.concurrency,
            max_provisioning_retries=config.ironic.max_provisioning_retries,
        )
        pool_handler: MeteredCommandHandler[PoolState, ipcmd.PoolCommand] = MeteredCommandHandler(
            store, ippools.DEFINITION, metrics=metrics
        )
        capi_ipam = await capi_addresses.discover(conn)
        ipam = IpamControllerService(
            conn=conn,
            store=store,
            handler=pool_handler,
            namespace=config.kube.namespace,
            concurrency=config.kube.concurrency,
            capi_ipam=capi_ipam,
        )
        capi_resources = await capi.discover(conn)
        log.info(
            "Cluster API",
            served=capi_resources is not None,
            version=capi_resources.machines.version if capi_resources else None,
            ipam=capi_ipam.claims.version if capi_ipam else None,
        )
        capm3 = MachineControllerService(
            conn=conn,
            store=store,
            host_handler=handler,
            namespace=config.kube.namespace,
            concurrency=config.kube.concurrency,
            capi_resources=capi_resources,
        )
        host_metrics = HostMetrics(metrics, population=lambda: [r.state for r in controller.view.all()])
        controller.observers.append(
            host_metrics.follow(controller.view, live=controller.runner.caught_up.is_set)
        )
        provisioner = ProvisionerService(
            store=store,
            client=ironic,
            secrets=KubeHostSecrets(_secret_reader(conn)),
            drivers=driver_mapping(config.ironic),
            settings=provisioner_settings(config.ironic),
            concurrency=config.ironic.concurrency,
            handler=handler,
        )
        serve_health = health is None
        if health is None:
            health = HealthServer(metrics.registry, settings=config.observability)
        health.add_check("nats", nats_connected(client))
        health.add_check("kubernetes", event_set(controller.ready))
        health.add_check("provisioner", event_set(provisioner.ready))
        health.add_check("ipam", event_set(ipam.ready))
        health.add_check("capm3", event_set(capm3.ready))
        async with asyncio.TaskGroup() as group:
            if serve_health:
                group.create_task(health.run(), name="health")
            group.create_task(controller.run(), name="k8s.baremetalhosts")
            group.create_task(provisioner.run(), name="provisioner")
            group.create_task(ipam.run(), name="k8s.ipam")
            group.create_task(capm3.run(), name="k8s.capm3")
            group.create_task(
                track_projection_lag(
                    metrics, store, [controller.runner, provisioner.runner, ipam.runner, capm3.runner]
                ),
                name="projection-lag",
            )
            await controller.ready.wait()
            await provisioner.ready.wait()
            await ipam.ready.wait()
            await capm3.ready.wait()
            await health.started.wait()
            log.info("control plane ready", health=health.url)
            if ready is not None:
                ready.set()
