"""BIOS settings from a HostFirmwareSettings object, end to end: kubectl -> preparing -> Ironic -> status.

The same stack as ``test_kube_e2e`` (real kube-apiserver, nats-server and Ironic with
fake-hardware nodes, whose ``bios`` interface stores the settings it is given).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.events import hosts as ev
from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.kube import KubeApiServer
from metalstream.devstack.nats import NatsServer
from tests.kube import Kubectl
from tests.metalstream.fleet import unique_mac
from tests.metalstream.kube_plane import (
    WAIT,
    control_plane,
    host_history,
    host_manifests,
    new_namespace,
    plane_config,
    wait_state,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300, func_only=True)]


def _hfs(namespace: str, name: str, settings: dict[str, str | int]) -> str:
    return json.dumps(
        {
            "apiVersion": "metal3.io/v1alpha1",
            "kind": "HostFirmwareSettings",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"settings": settings},
        }
    )


async def _wait_hfs_setting(kubectl: Kubectl, namespace: str, name: str, setting: str, value: str) -> None:
    await kubectl.run(
        "wait",
        "-n",
        namespace,
        f"hostfirmwaresettings/{name}",
        f"--for=jsonpath={{.status.settings.{setting}}}={value}",
        f"--timeout={WAIT}",
        limit=150,
    )


async def test_host_firmware_settings_are_applied_by_preparing_and_shown_in_status(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    namespace = await new_namespace(kubectl)
    async with NatsServer(tmp_path / "nats") as nats:
        config = plane_config(nats, ironic, kube_apiserver)
        async with control_plane(config):
            manifests = host_manifests(namespace, "fw-0", mac=unique_mac())
            hfs = _hfs(namespace, "fw-0", {"ProcTurboMode": "Disabled", "NumCores": 8})
            await kubectl.run("apply", "-f", "-", stdin=f"{manifests}\n---\n{hfs}")
            await _wait_hfs_setting(kubectl, namespace, "fw-0", "ProcTurboMode", "Disabled")
            await wait_state(kubectl, namespace, "fw-0", "available")
            shown = json.loads(
                (await kubectl.run("get", "hfs", "-n", namespace, "fw-0", "-o", "json")).stdout
            )
            assert shown["status"]["settings"] == {"ProcTurboMode": "Disabled", "NumCores": "8"}
            conditions = {c["type"]: c["status"] for c in shown["status"]["conditions"]}
            assert conditions == {"ChangeDetected": "False", "Valid": "True"}

            patch = {"spec": {"settings": {"ProcTurboMode": "Enabled"}}}
            await kubectl.run(
                "patch", "hfs", "-n", namespace, "fw-0", "--type=merge", "-p", json.dumps(patch)
            )
            await _wait_hfs_setting(kubectl, namespace, "fw-0", "ProcTurboMode", "Enabled")
            await wait_state(kubectl, namespace, "fw-0", "available")

        history = await host_history(config, f"{namespace}/fw-0")
        prepared = [r.event for r in history if isinstance(r.event, ev.PreparationCompleted)]
        assert prepared[-1].firmware_settings == {"ProcTurboMode": "Enabled", "NumCores": "8"}
        assert [e.firmware_settings.get("ProcTurboMode") for e in prepared if e.firmware_settings] == [
            "Disabled",
            "Enabled",
        ]
