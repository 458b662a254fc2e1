"""What a deploy or an adoption sends to Ironic: node patches, validation and the config drive.

Building these needs the host's state, the node and (for the config drive) the host's Secrets,
but none of the provisioner's memory, so they are plain functions next to the state machine.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.ironic import instance_info, wire
from adapters.ironic.ports import HostSecrets, NodeDriverSpec
from core.aggregates.host_state import HostState


def deploy_patch(state: HostState, node: wire.Node, driver: NodeDriverSpec) -> list[wire.PatchOp]:
    """Instance info, instance UUID and deploy interface the deploy needs on the node."""
    ops = [
        wire.PatchOp.add("/instance_info", instance_info.instance_info(state)),
        wire.PatchOp.add("/instance_uuid", state.uid),
    ]
    deploy = instance_info.deploy_interface(state, driver.interfaces.get("deploy") or None)
    if deploy and node.deploy_interface != deploy:
        ops.append(wire.PatchOp.add("/deploy_interface", deploy))
    if node.instance_uuid and node.instance_uuid != state.uid:
        ops.insert(0, wire.PatchOp.remove("/instance_uuid"))
    return ops


def adoption_patch(state: HostState, node: wire.Node) -> list[wire.PatchOp]:
    """Instance info (with the image already provisioned) and instance UUID for an adoption."""
    info = instance_info.instance_info(state)
    if state.provisioned_image is not None:
        info.update(instance_info.image_fields(state.provisioned_image))
    ops = [wire.PatchOp.add("/instance_info", info), wire.PatchOp.add("/instance_uuid", state.uid)]
    if node.instance_uuid and node.instance_uuid != state.uid:
        ops.insert(0, wire.PatchOp.remove("/instance_uuid"))
    return ops


def validation_problems(validation: Mapping[str, wire.ValidationResult]) -> list[str]:
    """The boot and deploy interfaces' validation failures, as ``name: reason``."""
    return [
        f"{name}: {result.reason}"
        for name, result in sorted(validation.items())
        if name in ("boot", "deploy") and result.result is False
    ]


async def config_drive(secrets: HostSecrets, state: HostState) -> wire.ConfigDrive | None:
    """The config drive from the host's Secrets; a named but missing Secret is a ``LookupError``."""
    spec = state.spec
    ns = state.namespace
    user = await secrets.user_data(ns, spec.user_data.name) if spec.user_data else None
    network = await secrets.network_data(ns, spec.network_data.name) if spec.network_data else None
    meta = await secrets.meta_data(ns, spec.meta_data.name) if spec.meta_data else None
    for kind, ref, value in (
        ("userData", spec.user_data, user),
        ("networkData", spec.network_data, network),
        ("metaData", spec.meta_data, meta),
    ):
        if ref is not None and value is None:
            msg = f"the {kind} Secret {ns}/{ref.name} does not exist (or has no {kind!r} or 'value' key)"
            raise LookupError(msg)
    return instance_info.config_drive(state, user_data=user, network_data=network, meta_overlay=meta)
