from __future__ import annotations

from adapters.k8s.baremetalhost.controller import FINALIZER, MISSING_SECRET_RECHECK, HostController
from core.aggregates import host_commands as cmd
from core.events.host_values import ErrorType, ProvisioningState
from tests.adapters.k8s.baremetalhost.fakes import NOW, AggregateCommands, RecordingCluster
from tests.adapters.k8s.baremetalhost.objects import host_object, secret_object

PS = ProvisioningState
HOST = "metal/worker-0"


def _controller() -> tuple[HostController, AggregateCommands, RecordingCluster]:
    commands = AggregateCommands()
    cluster = RecordingCluster()
    cluster.secrets[("metal", "worker-0-bmc")] = secret_object()
    return HostController(commands, cluster, clock=lambda: NOW), commands, cluster


async def test_a_new_host_is_created_with_its_credentials_and_gets_a_status() -> None:
    controller, commands, cluster = _controller()
    result = await controller.reconcile(host_object(finalizers=[]), HOST)
    assert result.requeue_after is None
    state = await commands.state(HOST)
    assert state.provisioning_state is PS.REGISTERING
    assert state.credentials is not None
    assert state.credentials.version == "7"
    assert cluster.finalizers == [(FINALIZER, True)]
    assert cluster.adopted == ["worker-0-bmc"]
    assert cluster.statuses[-1]["provisioning"]["state"] == "registering"


async def test_a_resync_or_restart_sends_nothing_new() -> None:
    controller, commands, cluster = _controller()
    obj = host_object()
    await controller.reconcile(obj, HOST)
    recorded = commands.recorded
    obj["status"] = cluster.statuses[-1]
    await controller.reconcile(obj, HOST)
    restarted = HostController(commands, cluster, clock=lambda: NOW)
    await restarted.reconcile(obj, HOST)
    assert commands.recorded == recorded
    assert len(cluster.statuses) == 1  # the status did not change, so it was not written again
    assert not any(isinstance(c, cmd.ApplySpec) for c in commands.sent[2:])


async def test_a_new_generation_is_applied_once() -> None:
    controller, commands, _ = _controller()
    await controller.reconcile(host_object(), HOST)
    edited = host_object(generation=2, description="rack 7")
    await controller.reconcile(edited, HOST)
    await controller.reconcile(edited, HOST)
    state = await commands.state(HOST)
    assert state.generation == 2
    assert state.spec.description == "rack 7"
    assert sum(isinstance(c, cmd.ApplySpec) for c in commands.sent) == 2


async def test_a_missing_secret_is_a_registration_error_and_is_looked_at_again() -> None:
    controller, commands, cluster = _controller()
    cluster.secrets.clear()
    result = await controller.reconcile(host_object(), HOST)
    assert result.requeue_after == MISSING_SECRET_RECHECK
    state = await commands.state(HOST)
    assert state.error_type is ErrorType.REGISTRATION
    assert "worker-0-bmc" in state.error_message
    cluster.secrets[("metal", "worker-0-bmc")] = secret_object(version="9")
    await controller.reconcile(host_object(), HOST)
    state = await commands.state(HOST)
    assert state.error_type is None
    assert state.credentials is not None
    assert state.credentials.version == "9"


async def test_a_secret_without_a_password_names_the_key_and_never_the_values() -> None:
    controller, commands, cluster = _controller()
    cluster.secrets[("metal", "worker-0-bmc")] = secret_object(username="admin", pw="hunter2-secret")
    await controller.reconcile(host_object(), HOST)
    state = await commands.state(HOST)
    assert "'password'" in state.error_message
    assert "hunter2" not in state.error_message
    assert all("hunter2" not in str(s) for s in cluster.statuses)


async def test_annotations_become_commands_and_one_shots_are_removed() -> None:
    controller, commands, cluster = _controller()
    await controller.reconcile(host_object(), HOST)
    details = '{"cpu": {"arch": "x86_64", "count": 4}}'
    obj = host_object(
        annotations={"baremetalhost.metal3.io/paused": "", "inspect.metal3.io/hardwaredetails": details}
    )
    await controller.reconcile(obj, HOST)
    state = await commands.state(HOST)
    assert state.paused
    assert state.hardware is not None
    assert state.hardware.cpu.count == 4
    assert cluster.removed_annotations == [("inspect.metal3.io/hardwaredetails",)]
    await controller.reconcile(host_object(), HOST)
    assert not (await commands.state(HOST)).paused


async def test_an_invalid_edit_is_reported_once_and_not_recorded() -> None:
    controller, commands, cluster = _controller()
    await controller.reconcile(host_object(), HOST)
    bad = host_object(generation=2, online=False, disablePowerOff=True)
    await controller.reconcile(bad, HOST)
    await controller.reconcile(bad, HOST)
    warnings = [e for e in cluster.events if e[0] == "Warning"]
    assert len(warnings) == 1
    assert "disablePowerOff" in warnings[0][2]
    assert (await commands.state(HOST)).generation == 1


async def test_an_unusable_manifest_is_a_warning_not_a_crash() -> None:
    controller, commands, cluster = _controller()
    await controller.reconcile(host_object(bootMACAddress="zz"), HOST)
    assert len(cluster.events) == 1
    kind, reason, message = cluster.events[0]
    assert (kind, reason) == ("Warning", "InvalidConfiguration")
    assert message.startswith("spec.bootMACAddress: 'zz' is not a MAC address")
    assert not (await commands.state(HOST)).exists


async def test_deletion_waits_for_the_host_to_be_deleted_then_releases_everything() -> None:
    controller, commands, cluster = _controller()
    await controller.reconcile(host_object(), HOST)
    await controller.reconcile(host_object(deleting=True), HOST)
    state = await commands.state(HOST)
    assert state.deletion_requested
    assert (FINALIZER, False) not in cluster.finalizers  # not before the log says it is deleted
    assert state.provisioning_state is PS.DELETING
    await commands.send(HOST, cmd.RecordNodeDeleted(now=NOW))  # what the provisioner reports
    state = await commands.state(HOST)
    assert state.deleted
    await controller.reconcile(host_object(deleting=True), HOST)
    assert cluster.finalizers[-1] == (FINALIZER, False)
    assert cluster.released == ["worker-0-bmc"]
    assert cluster.deleted_hardware == ["worker-0"]


async def test_a_secret_value_that_is_not_base64_is_named_without_its_content() -> None:
    controller, commands, cluster = _controller()
    secret = secret_object()
    secret["data"]["password"] = "%%% hunter2 not base64"
    cluster.secrets[("metal", "worker-0-bmc")] = secret
    await controller.reconcile(host_object(), HOST)
    state = await commands.state(HOST)
    assert state.error_message.endswith("key 'password' is not base64-encoded UTF-8 text")
    assert "hunter2" not in state.error_message
