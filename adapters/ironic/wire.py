"""Ironic's JSON shapes, as far as metalstream reads or writes them.

Responses decode into these Structs (unknown fields ignored, absent fields defaulted, so a
``?fields=`` query or a newer Ironic decodes fine). Request bodies are built from Structs too,
with ``omit_defaults`` so that only what we mean to set is sent. Free-form Ironic dictionaries
(``instance_info``, ``properties``, ``extra``, inventory) stay ``dict[str, Any]``.
"""

from __future__ import annotations

import enum
from typing import Any, Literal

import msgspec


class ProvisionState(enum.StrEnum):
    """Ironic ``provision_state`` values (``ironic/common/states.py``)."""

    ENROLL = "enroll"
    VERIFYING = "verifying"
    MANAGEABLE = "manageable"
    AVAILABLE = "available"
    ACTIVE = "active"
    DEPLOYING = "deploying"
    DEPLOY_WAIT = "wait call-back"
    DEPLOY_FAILED = "deploy failed"
    DEPLOY_HOLD = "deploy hold"
    DELETING = "deleting"
    DELETED = "deleted"
    CLEANING = "cleaning"
    CLEAN_WAIT = "clean wait"
    CLEAN_FAILED = "clean failed"
    CLEAN_HOLD = "clean hold"
    INSPECTING = "inspecting"
    INSPECT_WAIT = "inspect wait"
    INSPECT_FAILED = "inspect failed"
    ADOPTING = "adopting"
    ADOPT_FAILED = "adopt failed"
    ERROR = "error"
    SERVICING = "servicing"
    SERVICE_WAIT = "service wait"
    SERVICE_FAILED = "service failed"
    SERVICE_HOLD = "service hold"
    RESCUE = "rescue"
    RESCUING = "rescuing"
    RESCUE_WAIT = "rescue wait"
    RESCUE_FAILED = "rescue failed"
    UNRESCUING = "unrescuing"
    UNRESCUE_FAILED = "unrescue failed"


ProvisionTarget = Literal[
    "manage",
    "provide",
    "inspect",
    "active",
    "rebuild",
    "deleted",
    "clean",
    "adopt",
    "abort",
    "service",
    "unhold",
]
PowerTarget = Literal["power on", "power off", "soft power off", "rebooting", "soft rebooting"]
POWER_ON = "power on"
POWER_OFF = "power off"

NODE_FIELDS = (
    "uuid",
    "name",
    "driver",
    "provision_state",
    "target_provision_state",
    "power_state",
    "target_power_state",
    "last_error",
    "maintenance",
    "maintenance_reason",
    "fault",
    "reservation",
    "instance_uuid",
    "instance_info",
    "driver_info",
    "properties",
    "extra",
    "automated_clean",
    "provision_updated_at",
    "inspection_started_at",
    "inspection_finished_at",
    "boot_interface",
    "deploy_interface",
    "inspect_interface",
    "management_interface",
    "power_interface",
    "raid_interface",
    "disable_power_off",
)
"""The node fields the provisioner reads (``?fields=`` keeps responses small)."""


class Node(msgspec.Struct, frozen=True, kw_only=True):
    """A node as Ironic returns it. Ironic masks secret ``driver_info`` values as ``******``."""

    uuid: str = ""
    name: str | None = None
    driver: str = ""
    provision_state: str | None = None
    target_provision_state: str | None = None
    power_state: str | None = None
    target_power_state: str | None = None
    last_error: str | None = None
    maintenance: bool = False
    maintenance_reason: str | None = None
    fault: str | None = None
    reservation: str | None = None
    instance_uuid: str | None = None
    instance_info: dict[str, Any] = {}
    driver_info: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    automated_clean: bool | None = None
    provision_updated_at: str | None = None
    inspection_started_at: str | None = None
    inspection_finished_at: str | None = None
    boot_interface: str | None = None
    deploy_interface: str | None = None
    inspect_interface: str | None = None
    management_interface: str | None = None
    power_interface: str | None = None
    raid_interface: str | None = None
    disable_power_off: bool | None = None

    @property
    def state(self) -> str:
        return self.provision_state or ""


class NodeList(msgspec.Struct, frozen=True, kw_only=True):
    nodes: list[Node] = []
    next: str | None = None


class NodeCreate(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``POST /v1/nodes`` body. ``driver_info`` may hold secrets: never log this object."""

    name: str
    driver: str
    driver_info: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    automated_clean: bool | None = None
    disable_power_off: bool | None = None
    bios_interface: str | None = None
    boot_interface: str | None = None
    deploy_interface: str | None = None
    firmware_interface: str | None = None
    inspect_interface: str | None = None
    management_interface: str | None = None
    power_interface: str | None = None
    raid_interface: str | None = None
    vendor_interface: str | None = None

    def __repr__(self) -> str:
        return f"NodeCreate(name={self.name!r}, driver={self.driver!r}, driver_info=<hidden>)"


class PatchOp(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One RFC 6902 JSON-patch operation (Ironic accepts add, replace and remove)."""

    op: Literal["add", "replace", "remove"]
    path: str
    value: Any = None

    @classmethod
    def add(cls, path: str, value: Any) -> PatchOp:
        return cls(op="add", path=path, value=value)

    @classmethod
    def remove(cls, path: str) -> PatchOp:
        return cls(op="remove", path=path)


class Port(msgspec.Struct, frozen=True, kw_only=True):
    uuid: str = ""
    address: str = ""
    node_uuid: str | None = None
    pxe_enabled: bool | None = None


class PortList(msgspec.Struct, frozen=True, kw_only=True):
    ports: list[Port] = []
    next: str | None = None


class PortCreate(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    node_uuid: str
    address: str
    pxe_enabled: bool = True


class ValidationResult(msgspec.Struct, frozen=True, kw_only=True):
    """One interface's entry in ``GET /v1/nodes/{id}/validate``."""

    result: bool | None = None
    reason: str | None = None


class ConfigDrive(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A config drive Ironic builds itself (API 1.56+). ``user_data`` may be secret: never log it."""

    meta_data: dict[str, Any] = {}
    user_data: str | None = None
    network_data: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"ConfigDrive(meta_data keys={sorted(self.meta_data)}, user_data=<hidden>)"


class Step(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A clean, deploy or service step (Ironic requires ``args``, even empty)."""

    interface: str
    step: str
    args: dict[str, Any]
    priority: int | None = None


class ProvisionStateRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    target: str
    configdrive: ConfigDrive | None = None
    clean_steps: list[Step] | None = None
    deploy_steps: list[Step] | None = None
    service_steps: list[Step] | None = None


class PowerStateRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    target: str
    timeout: int | None = None


class BootDeviceRequest(msgspec.Struct, frozen=True, kw_only=True):
    boot_device: str
    persistent: bool = False


class MaintenanceRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    reason: str | None = None


class RaidConfigRequest(msgspec.Struct, frozen=True, kw_only=True):
    logical_disks: list[dict[str, Any]]


class Inventory(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /v1/nodes/{id}/inventory`` (API 1.81): the agent-format inventory plus plugin data."""

    inventory: dict[str, Any] = {}
    plugin_data: dict[str, Any] = {}


class Driver(msgspec.Struct, frozen=True, kw_only=True):
    name: str = ""
    hosts: list[str] = []


class DriverList(msgspec.Struct, frozen=True, kw_only=True):
    drivers: list[Driver] = []


class ApiVersion(msgspec.Struct, frozen=True, kw_only=True):
    id: str = ""
    version: str = ""
    min_version: str = ""


class RootDocument(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /``: which API versions the server speaks."""

    default_version: ApiVersion | None = None
    versions: list[ApiVersion] = []


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Ironic's error envelope: ``error_message`` is a JSON *string* holding the fault."""

    error_message: Any = None


class Fault(msgspec.Struct, frozen=True, kw_only=True):
    faultstring: str = ""
    faultcode: str = ""
