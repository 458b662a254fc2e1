"""The whole control plane for end-to-end tests: settings for the real servers and a running instance.

Shared by the kubectl end-to-end tests (hosts, firmware, Cluster API), so they all start the
control plane the way ``metalstream run`` does and wait for it in the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, Final

import pytest

from core.events.base import RecordedEvent
from metalstream import settings, wiring
from metalstream.controlplane import run_control_plane
from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.kube import KubeApiServer
from metalstream.devstack.nats import NatsServer
from tests.kube import Kubectl

PASSWORD: Final = "Kube-e2e-pw-93d1"
"""The BMC password of the hosts these tests declare; they check it reaches no event."""
WAIT: Final = "120s"
READY_LIMIT: Final = 90.0


def plane_config(nats: NatsServer, ironic: IronicHarness, kube: KubeApiServer) -> settings.Settings:
    return settings.load(
        {},
        {
            "nats": {"urls": [nats.url]},
            "ironic": {"url": ironic.url, "fake_deploy": True, "short_requeue": 0.2, "long_requeue": 0.4},
            "kube": {"kubeconfig": str(kube.kubeconfig), "install_crds": True},
            "observability": {"host": "127.0.0.1", "port": 0},
        },
    )


@contextlib.asynccontextmanager
async def control_plane(config: settings.Settings) -> AsyncIterator[asyncio.Task[None]]:
    ready = asyncio.Event()
    task = asyncio.create_task(run_control_plane(config, ready=ready), name="control-plane")
    try:
        async with asyncio.timeout(READY_LIMIT):
            waiter = asyncio.create_task(ready.wait())
            done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                waiter.cancel()
                task.result()  # raises what stopped it
                pytest.fail("the control plane stopped before it was ready")
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def host_manifests(
    namespace: str, name: str, *, mac: str, image: str | None = None, secret: bool = True
) -> str:
    docs: list[dict[str, Any]] = []
    if secret:
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": f"{name}-bmc-secret", "namespace": namespace},
                "type": "Opaque",
                "stringData": {"username": "admin", "password": PASSWORD},
            }
        )
    spec: dict[str, Any] = {
        "online": True,
        "bootMACAddress": mac,
        "bootMode": "UEFI",
        "bmc": {"address": f"fake-hardware://{name}", "credentialsName": f"{name}-bmc-secret"},
        "rootDeviceHints": {"deviceName": "/dev/sda"},
    }
    if image is not None:
        spec["image"] = {"url": image, "checksum": "0" * 64, "checksumType": "sha256", "format": "qcow2"}
    docs.append(
        {
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "BareMetalHost",
            "metadata": {"name": name, "namespace": namespace, "labels": {"rack": "r7"}},
            "spec": spec,
        }
    )
    return "\n---\n".join(json.dumps(d) for d in docs)


async def new_namespace(kubectl: Kubectl) -> str:
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    await kubectl.run("create", "namespace", name)
    return name


async def get_json(kubectl: Kubectl, namespace: str, *what: str) -> dict[str, Any]:
    """``kubectl get -n <namespace> <what> -o json``, decoded."""
    result = await kubectl.run("get", "-n", namespace, *what, "-o", "json")
    obj: dict[str, Any] = json.loads(result.stdout)
    return obj


async def wait_for(
    kubectl: Kubectl, namespace: str, target: str, condition: str, *, wait: str = "150s"
) -> None:
    """``kubectl wait --for=<condition>`` on ``target``; the test fails if it is not met within ``wait``."""
    await kubectl.run("wait", "-n", namespace, target, f"--for={condition}", f"--timeout={wait}", limit=180)


async def host_object(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any]:
    result = await kubectl.run("get", "bmh", "-n", namespace, name, "-o", "json")
    obj: dict[str, Any] = json.loads(result.stdout)
    return obj


async def wait_state(kubectl: Kubectl, namespace: str, name: str, state: str) -> None:
    await kubectl.run(
        "wait",
        "-n",
        namespace,
        f"bmh/{name}",
        f"--for=jsonpath={{.status.provisioning.state}}={state}",
        f"--timeout={WAIT}",
        limit=150,
    )


async def host_history(config: settings.Settings, host_id: str) -> list[RecordedEvent]:
    async with wiring.event_store(config) as store:
        return await wiring.load_history(store, "host", host_id)
