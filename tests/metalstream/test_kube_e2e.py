"""The whole control plane driven with ``kubectl``: a real kube-apiserver, nats-server and Ironic.

A user's manifests (a Secret and a BareMetalHost written for Metal3) go in through ``kubectl
apply``; the control plane (``run_control_plane``, as ``metalstream run`` starts it) turns them
into commands, the provisioner drives Ironic (fake-hardware nodes, fake deploy), and the tests
look only at what a Metal3 user looks at: ``kubectl get``/``wait``/``describe``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metalstream.devstack.ironic import IronicHarness
from metalstream.devstack.kube import KubeApiServer
from metalstream.devstack.nats import NatsServer
from tests.kube import Kubectl
from tests.metalstream.fleet import unique_mac
from tests.metalstream.kube_plane import (
    PASSWORD,
    WAIT,
    control_plane,
    host_history,
    host_manifests,
    host_object,
    new_namespace,
    plane_config,
    wait_state,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300, func_only=True)]


async def test_a_metal3_host_goes_from_kubectl_apply_to_provisioned_and_away(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    namespace = await new_namespace(kubectl)
    async with NatsServer(tmp_path / "nats") as nats:
        config = plane_config(nats, ironic, kube_apiserver)
        async with control_plane(config):
            await kubectl.run(
                "apply", "-f", "-", stdin=host_manifests(namespace, "worker-0", mac=unique_mac())
            )
            await wait_state(kubectl, namespace, "worker-0", "available")

            table = await kubectl.run("get", "bmh", "-n", namespace)
            header = table.stdout.splitlines()[0].split()
            assert header == ["NAME", "STATE", "CONSUMER", "ONLINE", "ERROR", "AGE"]
            assert "available" in table.stdout
            wide = await kubectl.run("get", "bmh", "-n", namespace, "-o", "wide")
            assert wide.stdout.splitlines()[0].split()[:4] == ["NAME", "STATUS", "STATE", "CONSUMER"]

            image_1 = "http://127.0.0.1:1/os-1.qcow2"
            patch = {"spec": {"image": {"url": image_1, "checksum": "1" * 64, "checksumType": "sha256"}}}
            await kubectl.run(
                "patch", "bmh", "-n", namespace, "worker-0", "--type=merge", "-p", json.dumps(patch)
            )
            await wait_state(kubectl, namespace, "worker-0", "provisioned")
            obj = await host_object(kubectl, namespace, "worker-0")
            assert obj["status"]["provisioning"]["image"]["url"] == image_1
            assert obj["status"]["operationalStatus"] == "OK"
            assert obj["status"]["poweredOn"] is True
            assert obj["status"]["goodCredentials"]["credentials"]["name"] == "worker-0-bmc-secret"
            assert "baremetalhost.metal3.io" in obj["metadata"]["finalizers"]
            hardware = await kubectl.run("get", "hardwaredata", "-n", namespace, "worker-0", "-o", "json")
            assert json.loads(hardware.stdout)["spec"]["hardware"]
            secret = json.loads(
                (
                    await kubectl.run("get", "secret", "-n", namespace, "worker-0-bmc-secret", "-o", "json")
                ).stdout
            )
            assert secret["metadata"]["labels"]["environment.metal3.io"] == "baremetal"
            assert "baremetalhost.metal3.io/secret" in secret["metadata"]["finalizers"]

            described = await kubectl.run("describe", "bmh", "-n", namespace, "worker-0")
            for reason in ("Registered", "InspectionComplete", "ProvisioningStarted", "ProvisioningComplete"):
                assert reason in described.stdout, reason

            image_2 = "http://127.0.0.1:1/os-2.qcow2"
            patch = {"spec": {"image": {"url": image_2}}}
            await kubectl.run(
                "patch", "bmh", "-n", namespace, "worker-0", "--type=merge", "-p", json.dumps(patch)
            )
            await kubectl.run(
                "wait",
                "-n",
                namespace,
                "bmh/worker-0",
                f"--for=jsonpath={{.status.provisioning.image.url}}={image_2}",
                f"--timeout={WAIT}",
                limit=150,
            )
            await wait_state(kubectl, namespace, "worker-0", "provisioned")

            await kubectl.run("delete", "bmh", "-n", namespace, "worker-0", "--wait=false")
            await kubectl.run(
                "wait", "-n", namespace, "bmh/worker-0", "--for=delete", f"--timeout={WAIT}", limit=150
            )
            gone = await kubectl.run("get", "hardwaredata", "-n", namespace, "worker-0", check=False)
            assert gone.returncode != 0
            secret = json.loads(
                (
                    await kubectl.run("get", "secret", "-n", namespace, "worker-0-bmc-secret", "-o", "json")
                ).stdout
            )
            assert "baremetalhost.metal3.io/secret" not in (secret["metadata"].get("finalizers") or [])

        history = await host_history(config, f"{namespace}/worker-0")
        kinds = [type(r.event).__name__ for r in history]
        assert kinds.count("ProvisioningCompleted") == 2
        assert kinds[-1] == "HostDeleted"
        assert all(PASSWORD not in r.event.__class__.__name__ + repr(r.event) for r in history)


async def test_the_flow_survives_a_control_plane_restart_without_a_second_deploy(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    namespace = await new_namespace(kubectl)
    async with NatsServer(tmp_path / "nats") as nats:
        config = plane_config(nats, ironic, kube_apiserver)
        image = "http://127.0.0.1:1/os-restart.qcow2"
        async with control_plane(config):
            await kubectl.run(
                "apply", "-f", "-", stdin=host_manifests(namespace, "worker-r", mac=unique_mac(), image=image)
            )
            await kubectl.run(
                "wait",
                "-n",
                namespace,
                "bmh/worker-r",
                "--for=jsonpath={.status.provisioning.state}=provisioning",
                f"--timeout={WAIT}",
                limit=150,
            )
        # Killed mid-provisioning; a new control plane picks up from the log and from Ironic.
        async with control_plane(config):
            await wait_state(kubectl, namespace, "worker-r", "provisioned")
            await kubectl.run("delete", "bmh", "-n", namespace, "worker-r", "--wait=false")
            await kubectl.run(
                "wait", "-n", namespace, "bmh/worker-r", "--for=delete", f"--timeout={WAIT}", limit=150
            )
        kinds = [type(r.event).__name__ for r in await host_history(config, f"{namespace}/worker-r")]
        assert kinds.count("ProvisioningAttemptStarted") == 1
        assert kinds.count("ProvisioningCompleted") == 1


async def test_bad_manifests_are_refused_or_end_in_a_clear_status_error(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, ironic: IronicHarness, tmp_path: Path
) -> None:
    namespace = await new_namespace(kubectl)
    bad_mac = host_manifests(namespace, "bad-mac", mac="not-a-mac", secret=False)
    refused = await kubectl.run("apply", "-f", "-", stdin=bad_mac, check=False)
    assert refused.returncode != 0
    assert "bootMACAddress" in refused.stderr
    bad_enum = host_manifests(namespace, "bad-mode", mac=unique_mac(), secret=False).replace(
        '"UEFI"', '"BIOS"'
    )
    refused = await kubectl.run("apply", "-f", "-", stdin=bad_enum, check=False)
    assert refused.returncode != 0
    assert "bootMode" in refused.stderr

    async with (
        NatsServer(tmp_path / "nats") as nats,
        control_plane(plane_config(nats, ironic, kube_apiserver)),
    ):
        await kubectl.run(
            "apply", "-f", "-", stdin=host_manifests(namespace, "no-secret", mac=unique_mac(), secret=False)
        )
        await kubectl.run(
            "wait",
            "-n",
            namespace,
            "bmh/no-secret",
            "--for=jsonpath={.status.errorType}=registration error",
            f"--timeout={WAIT}",
            limit=150,
        )
        obj = await host_object(kubectl, namespace, "no-secret")
        assert "no-secret-bmc-secret" in obj["status"]["errorMessage"]
        assert obj["status"]["operationalStatus"] == "error"

        # Fixing it (creating the Secret) recovers the host without touching the BareMetalHost.
        secret_only = host_manifests(namespace, "no-secret", mac=unique_mac()).split("\n---\n")[0]
        await kubectl.run("apply", "-f", "-", stdin=secret_only)
        await wait_state(kubectl, namespace, "no-secret", "available")
        assert (await host_object(kubectl, namespace, "no-secret"))["status"]["operationalStatus"] == "OK"

        bad_url = host_manifests(namespace, "bad-url", mac=unique_mac()).replace(
            "fake-hardware://bad-url", "gopher://10.0.0.1"
        )
        await kubectl.run("apply", "-f", "-", stdin=bad_url)
        await kubectl.run(
            "wait",
            "-n",
            namespace,
            "bmh/bad-url",
            "--for=jsonpath={.status.operationalStatus}=error",
            f"--timeout={WAIT}",
            limit=150,
        )
        obj = await host_object(kubectl, namespace, "bad-url")
        assert "gopher" in obj["status"]["errorMessage"]
        for name in ("no-secret", "bad-url"):
            await kubectl.run("delete", "bmh", "-n", namespace, name, "--wait=false")
        for name in ("no-secret", "bad-url"):
            await kubectl.run(
                "wait", "-n", namespace, f"bmh/{name}", "--for=delete", f"--timeout={WAIT}", limit=150
            )
