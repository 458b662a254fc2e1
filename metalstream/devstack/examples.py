"""The dev stack's fleet: which emulated servers exist, and the manifests that declare them.

``plan(count)`` decides the fleet from its size alone, so every run of ``metalstream dev`` on the
same state directory names the same hosts, system UUIDs and MAC addresses: a BareMetalHost's BMC
address may not change once it is registered, so nothing in it may be chosen at random. Most
hosts are Redfish systems of the one sushy-tools emulator (alternating ``redfish-virtualmedia``
and ``redfish`` addresses); up to two are IPMI BMCs of the pyghmi simulator.

The manifests are the YAML templates in ``deploy/examples/dev/`` (readable on their own, and
usable with ``kubectl apply`` after filling the ``${...}`` fields). ``apply`` fills them in and
sends each with server-side apply under one field manager, so running the stack again changes
nothing that is already there. The IPPool, the Metal3DataTemplate, the machine's user data and the
Metal3Machine are sent only when the API server serves their kinds; the Metal3Machine claims the
first host (the spare), so every host ends up provisioned, one of them through Cluster API.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from adapters.k8s import errors, objects
from adapters.k8s.connection import Connection
from adapters.k8s.crds import catalog
from adapters.k8s.resources import SECRETS, Resource

BmcKind = Literal["redfish-virtualmedia", "redfish", "ipmi"]

TEMPLATES: Final = Path(__file__).resolve().parents[2] / "deploy" / "examples" / "dev"
NAMESPACE: Final = "default"
FIELD_MANAGER: Final = "metalstream-dev"
APPLY: Final = "application/apply-patch+yaml"
BMC_USERNAME: Final = "admin"
MAX_IPMI_HOSTS: Final = 2
IMAGE_CHECKSUM: Final = hashlib.sha256(b"metalstream dev image").hexdigest()
"""Any sha256 will do: the dev stack's Ironic fakes the deploy and never downloads the image."""
SPARE_LABEL: Final = ("metalstream.io/pool", "spare")
"""The label the example Metal3Machine's hostSelector asks for; only the first host has it."""
_UUID_NAMESPACE: Final = uuid.UUID("6d657461-6c73-7472-6561-6d2d64657630")
_REQUEST_LIMIT: Final = 15.0


@dataclass(frozen=True, slots=True)
class DevHost:
    """One emulated server and the BareMetalHost that declares it."""

    name: str
    bmc_kind: BmcKind
    mac: str
    system_uuid: str
    """The Redfish system's UUID (also the IPMI BMC's identity)."""


@dataclass(frozen=True, slots=True)
class BmcEndpoints:
    """Where the emulators listen: sushy-tools' ``host:port`` and each IPMI BMC's UDP port."""

    redfish_host: str
    ipmi_ports: Mapping[str, int]


def plan(count: int) -> tuple[DevHost, ...]:
    """``count`` hosts ``dev-0`` .. ``dev-<count-1>``; the last ``min(2, count // 2)`` use IPMI."""
    if count < 1:
        msg = f"--hosts {count}: the dev stack needs at least one host"
        raise ValueError(msg)
    ipmi = min(MAX_IPMI_HOSTS, count // 2)
    hosts = []
    for index in range(count):
        kind: BmcKind = "redfish-virtualmedia" if index % 2 == 0 else "redfish"
        if index >= count - ipmi:
            kind = "ipmi"
        name = f"dev-{index}"
        hosts.append(
            DevHost(
                name=name,
                bmc_kind=kind,
                mac=f"52:54:00:6d:{index // 256:02x}:{index % 256:02x}",
                system_uuid=str(uuid.uuid5(_UUID_NAMESPACE, name)),
            )
        )
    return tuple(hosts)


def bmc_address(host: DevHost, endpoints: BmcEndpoints) -> str:
    """The host's ``spec.bmc.address``."""
    if host.bmc_kind == "ipmi":
        return f"ipmi://127.0.0.1:{endpoints.ipmi_ports[host.name]}"
    return f"{host.bmc_kind}+http://{endpoints.redfish_host}/redfish/v1/Systems/{host.system_uuid}"


def render(name: str, values: Mapping[str, str], templates: Path = TEMPLATES) -> dict[str, Any]:
    """Template ``<name>.yaml`` with ``values`` filled in, as an object (blocking: reads the file)."""
    text = string.Template((templates / f"{name}.yaml").read_text(encoding="utf-8")).substitute(values)
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        msg = f"{templates / name}.yaml does not hold one Kubernetes object"
        raise TypeError(msg)
    return document


def manifests(
    hosts: Sequence[DevHost], endpoints: BmcEndpoints, *, password: str, templates: Path = TEMPLATES
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(Secrets and BareMetalHosts, the optional CAPM3/IPAM examples), rendered (blocking).

    The first host is the spare: labelled for the example Metal3Machine and without an image, it
    is provisioned by that machine (with its user data and an address from the IPPool), the
    others directly by their own image.
    """
    hosts_part: list[dict[str, Any]] = []
    common = {"namespace": NAMESPACE, "image_checksum": IMAGE_CHECKSUM}
    for host in hosts:
        secret = render(
            "bmc-secret",
            {**common, "name": host.name, "username": BMC_USERNAME, "password": password},
            templates,
        )
        hosts_part.append(_encode_string_data(secret))
        values = {
            **common,
            "name": host.name,
            "mac": host.mac,
            "bmc_kind": host.bmc_kind,
            "bmc_address": bmc_address(host, endpoints),
        }
        host_object = render("baremetalhost", values, templates)
        if host.name == hosts[0].name:
            _make_spare(host_object)
        hosts_part.append(host_object)
    machine_values = {**common, "spare_mac": hosts[0].mac}
    optional = [
        render("ippool", common, templates),
        render("metal3datatemplate", machine_values, templates),
        _encode_string_data(render("user-data", common, templates)),
        render("metal3machine", common, templates),
    ]
    return hosts_part, optional


def _make_spare(host: dict[str, Any]) -> None:
    """The first host waits, available and unclaimed, for the example Metal3Machine to claim it."""
    host["metadata"]["labels"][SPARE_LABEL[0]] = SPARE_LABEL[1]
    del host["spec"]["image"]


def _encode_string_data(secret: dict[str, Any]) -> dict[str, Any]:
    """``stringData`` as base64 ``data``: server-side apply then owns the very field it reads back."""
    plain: Mapping[str, str] = secret.pop("stringData", None) or {}
    secret["data"] = {key: base64.b64encode(value.encode()).decode() for key, value in plain.items()}
    return secret


def resource_of(manifest: Mapping[str, Any]) -> Resource:
    """The ``Resource`` a manifest's ``kind`` names (Secrets or one of metalstream's CRDs)."""
    kind = str(manifest["kind"])
    resource = SECRETS if kind == "Secret" else catalog.by_kind(kind).resource
    version = str(manifest["apiVersion"]).rpartition("/")[2]
    return dataclasses.replace(resource, version=version)  # the version the manifest is written in


async def apply(conn: Connection, manifest: Mapping[str, Any]) -> None:
    """Server-side apply one object, forced, under ``FIELD_MANAGER``."""
    metadata = manifest["metadata"]
    path = objects.path_of(resource_of(manifest), metadata["name"], namespace=metadata.get("namespace"))
    await conn.request(
        "PATCH",
        path,
        query={"fieldManager": FIELD_MANAGER, "force": True},
        body=dict(manifest),
        content_type=APPLY,
        limit=_REQUEST_LIMIT,
    )


async def served(conn: Connection, resource: Resource) -> bool:
    """Whether the API server serves ``resource`` (its CRD is installed and established)."""
    try:
        await conn.request(
            "GET", resource.path(namespace=NAMESPACE), query={"limit": 1}, limit=_REQUEST_LIMIT
        )
    except errors.NotFound:
        return False
    return True


async def apply_all(
    conn: Connection, hosts: Sequence[DevHost], endpoints: BmcEndpoints, *, password: str
) -> tuple[str, ...]:
    """Apply every example; return what was skipped (kinds not served), as ``kind/name`` strings."""
    required, optional = await asyncio.to_thread(manifests, hosts, endpoints, password=password)
    for manifest in required:
        await apply(conn, manifest)
    skipped = []
    for manifest in optional:
        if await served(conn, resource_of(manifest)):
            await apply(conn, manifest)
        else:
            skipped.append(f"{manifest['kind']}/{manifest['metadata']['name']}")
    return tuple(skipped)
