"""The Metal3Machine aggregate: a machine's placement, data, provisioning and release.

The lifecycle follows CAPM3's Metal3Machine controller:

    pending --AssociateHost--> associated --RecordHostProvisioned--> provisioned
       \\______________________________\\______ RequestMachineDeletion --> deleting
    deleting --StartDeprovisioning--> --RecordHostReleased--> (+ ReleaseRenderedData) --> deleted

The machine never changes its host directly. The machine process manager chooses a host
(``host_selection``), claims it with the host aggregate's ``ClaimHost`` (which refuses a second
consumer, so two machines cannot win one host), and only then records ``AssociateHost`` here;
giving the host back is ``ReleaseHost`` on the host, then ``RecordHostReleased`` here. Deletion
completes by itself once the host is released and the data claim (if the machine has a data
template) is gone.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from core.aggregates import machine_commands as cmd
from core.aggregates.base import AggregateDefinition
from core.aggregates.label_selectors import SelectorInvalid, compile_selector
from core.aggregates.machine_state import INITIAL, MachineState, evolve
from core.errors import AggregateNotFound, CommandRejected
from core.events import machines as ev
from core.events.base import Event
from core.events.host_values import HardwareDetails, SecretRef
from core.events.machine_values import MachineAddress, MachineImage, MachineSpec

PROVIDER_ID_PREFIX = "metal3://"


def provider_id(namespace: str, host: str, machine: str) -> str:
    """CAPM3's provider ID: ``metal3://<namespace>/<host>/<metal3machine>``."""
    return f"{PROVIDER_ID_PREFIX}{namespace}/{host}/{machine}"


def machine_addresses(hardware: HardwareDetails | None) -> tuple[MachineAddress, ...]:
    """``status.addresses`` as CAPM3 derives them: each NIC's IP, then the hostname twice."""
    if hardware is None:
        return ()
    addresses = [MachineAddress(type="InternalIP", address=nic.ip) for nic in hardware.nics if nic.ip]
    if hardware.hostname:
        addresses.append(MachineAddress(type="Hostname", address=hardware.hostname))
        addresses.append(MachineAddress(type="InternalDNS", address=hardware.hostname))
    return tuple(addresses)


def _reject(state: MachineState, rule: str, detail: str) -> CommandRejected:
    return CommandRejected(rule=rule, state=state.phase, detail=detail)


# --- spec validation (CAPM3's webhook) -----------------------------------------------------------------


def _is_url(text: str) -> bool:
    parts = urlsplit(text)
    return bool(parts.scheme and (parts.netloc or parts.path)) or text.startswith("/")


def _image_problems(image: MachineImage | None) -> list[str]:
    if image is None or not image.url:
        return ["spec.image.url: either image or customDeploy is required"]
    problems = [] if _is_url(image.url) else [f"spec.image.url: {image.url!r} is not a valid URL"]
    if image.url.startswith("oci://"):
        if image.checksum:
            problems.append("spec.image.checksum: must be empty for OCI images")
        if image.checksum_type:
            problems.append("spec.image.checksumType: must be empty for OCI images")
        return problems
    if image.disk_format != "live-iso":
        if not image.checksum:
            problems.append("spec.image.checksum: cannot be empty (only live-iso and oci:// images skip it)")
        elif image.checksum.startswith(("http://", "https://")) and not _is_url(image.checksum):
            problems.append(f"spec.image.checksum: {image.checksum!r} is not a valid URL")
    return problems


def _spec_problems(namespace: str, spec: MachineSpec) -> list[str]:
    problems = [] if spec.custom_deploy and spec.custom_deploy.method else _image_problems(spec.image)
    secrets = (("userData", spec.user_data), ("metaData", spec.meta_data), ("networkData", spec.network_data))
    for name, ref in secrets:
        if ref is not None and ref.namespace and ref.namespace != namespace:
            problems.append(f"spec.{name}.namespace: cross-namespace secret references are not allowed")
    try:
        compile_selector(spec.host_selector)
    except SelectorInvalid as exc:
        problems.append(str(exc))
    return problems


def _apply_spec(state: MachineState, c: cmd.ApplyMachineSpec) -> list[Event]:
    if state.exists and not state.deleted:
        if c.uid != state.uid:
            raise _reject(
                state,
                "one-object-per-machine",
                f"machine {state.id} still exists with uid {state.uid}; "
                "finish deleting it before re-creating",
            )
        if c.generation <= state.generation:
            return []
    elif state.deleted and c.uid == state.uid:
        raise _reject(state, "deleted-is-final", f"machine {state.id} with uid {c.uid} was deleted")
    problems = _spec_problems(c.namespace, c.spec)
    if problems:
        raise _reject(
            state, "machine-spec-invalid", f"Metal3Machine {c.namespace}/{c.name}: {'; '.join(problems)}"
        )
    if state.exists and not state.deleted:
        return [ev.MachineSpecChanged(generation=c.generation, spec=c.spec)]
    return [
        ev.MachineCreated(namespace=c.namespace, name=c.name, uid=c.uid, generation=c.generation, spec=c.spec)
    ]


# --- placement and provisioning -------------------------------------------------------------------------


def _associate(state: MachineState, c: cmd.AssociateHost) -> list[Event]:
    if state.host is not None:
        if state.host == c.host:
            return []
        raise _reject(
            state,
            "one-host-per-machine",
            f"machine {state.id} already runs on host {state.host}; it cannot move to {c.host}",
        )
    if state.deletion_requested:
        raise _reject(state, "no-association-while-deleting", f"machine {state.id} is being deleted")
    if c.host.namespace != state.namespace:
        raise _reject(
            state,
            "host-in-machine-namespace",
            f"host {c.host} is not in namespace {state.namespace} of machine {state.id}",
        )
    if not c.bootstrap_data_secret:
        raise _reject(
            state,
            "waiting-for-bootstrap-data",
            f"machine {state.id}: the Machine's bootstrap data Secret is not set yet",
        )
    user_data = state.spec.user_data or SecretRef(name=c.bootstrap_data_secret, namespace=state.namespace)
    if not user_data.namespace:
        user_data = SecretRef(name=user_data.name, namespace=state.namespace)
    return [ev.HostAssociated(host=c.host, user_data=user_data, via_node_reuse=c.via_node_reuse)]


def _record_data(state: MachineState, c: cmd.RecordRenderedData) -> list[Event]:
    if state.spec.data_template is None:
        raise _reject(state, "no-data-template", f"machine {state.id} has no spec.dataTemplate to render")
    if state.data_released:
        raise _reject(state, "data-released", f"machine {state.id} already released its rendered data")

    def secret(name: str | None) -> SecretRef | None:
        return None if name is None else SecretRef(name=name, namespace=state.namespace)

    recorded = ev.RenderedDataRecorded(
        data_name=c.data_name,
        meta_data=secret(c.meta_data_secret),
        network_data=secret(c.network_data_secret),
    )
    if state.data_name is not None:
        same = (state.data_name, state.meta_data, state.network_data) == (
            recorded.data_name,
            recorded.meta_data,
            recorded.network_data,
        )
        if same:
            return []
        raise _reject(
            state,
            "rendered-data-fixed",
            f"machine {state.id} already has rendered data {state.data_name}; it is never re-rendered",
        )
    return [recorded]


def _provisioned(state: MachineState, c: cmd.RecordHostProvisioned) -> list[Event]:
    if state.host is None:
        raise _reject(state, "no-host", f"machine {state.id} has no host yet")
    if state.deletion_requested:
        raise _reject(state, "no-provisioning-while-deleting", f"machine {state.id} is being deleted")
    wanted = c.provider_id or state.provider_id or provider_id(state.namespace, state.host.name, state.name)
    events: list[Event] = []
    if state.provider_id is None:
        events.append(ev.ProviderIDSet(provider_id=wanted))
    elif wanted != state.provider_id:
        raise _reject(
            state,
            "provider-id-immutable",
            f"machine {state.id} has provider ID {state.provider_id}, not {wanted}; "
            "check for two Nodes claiming the same host",
        )
    if not state.provisioned:
        events.append(ev.MachineProvisioned())
    return events


# --- deletion -------------------------------------------------------------------------------------------


def _finish_if_released(state: MachineState, events: list[Event]) -> list[Event]:
    after = state
    for event in events:
        after = evolve(after, event)
    if after.releasable and not after.deleted:
        events.append(ev.MachineDeleted())
    return events


def _deleting(state: MachineState, command: object) -> None:
    if not state.deletion_requested:
        raise _reject(
            state,
            "delete-first",
            f"{type(command).__name__} is part of deleting machine {state.id}, "
            "which was not asked to be deleted",
        )


def _release_host(state: MachineState, c: cmd.RecordHostReleased) -> list[Event]:
    _deleting(state, c)
    if state.host is None:
        return []
    if not state.deprovisioning:
        raise _reject(
            state,
            "release-after-deprovisioning",
            f"machine {state.id} must start deprovisioning host {state.host} before releasing it",
        )
    return _finish_if_released(state, [ev.HostReleased(host=state.host, node_reuse_label=c.node_reuse_label)])


def _declare(state: MachineState, command: cmd.MachineCommand) -> list[Event]:
    match command:
        case cmd.ApplyMachineSpec():
            return _apply_spec(state, command)
        case cmd.AssociateHost():
            return _associate(state, command)
        case cmd.RecordRenderedData():
            return _record_data(state, command)
        case cmd.ObserveHostHardware():
            if state.host is None:
                raise _reject(state, "no-host", f"machine {state.id} has no host to observe")
            addresses = machine_addresses(command.hardware)
            return [] if addresses == state.addresses else [ev.AddressesChanged(addresses=addresses)]
        case cmd.RecordHostProvisioned():
            return _provisioned(state, command)
        case cmd.RequestMachineDeletion():
            if state.deletion_requested:
                return []
            return _finish_if_released(state, [ev.MachineDeletionRequested()])
        case cmd.StartDeprovisioning():
            _deleting(state, command)
            if state.host is None or state.deprovisioning:
                return []
            return [ev.DeprovisioningStarted()]
        case cmd.RecordHostReleased():
            return _release_host(state, command)
        case cmd.ReleaseRenderedData():
            _deleting(state, command)
            if state.data_released or state.spec.data_template is None:
                return []
            return _finish_if_released(state, [ev.RenderedDataReleased()])


def decide(state: MachineState, command: cmd.MachineCommand) -> list[Event]:
    """The events that record ``command``."""
    if isinstance(command, cmd.ApplyMachineSpec):
        return _apply_spec(state, command)
    if not state.exists:
        raise AggregateNotFound(f"machine {state.id if state.name else '(unknown)'}")
    if state.deleted:
        raise _reject(state, "deleted-is-final", f"machine {state.id} was deleted")
    return _declare(state, command)


DEFINITION: AggregateDefinition[MachineState, cmd.MachineCommand] = AggregateDefinition(
    type=ev.AGGREGATE_TYPE,
    codec=ev.CODEC,
    initial=INITIAL,
    decide=decide,
    evolve=evolve,
)

__all__ = ["DEFINITION", "MachineState", "decide", "evolve", "machine_addresses", "provider_id"]
