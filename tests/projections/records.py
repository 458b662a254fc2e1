"""Build recorded host events without a store, by running commands through ``decide``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.aggregates import host_commands as cmd
from core.aggregates import hosts
from core.aggregates.host_state import HostState
from core.events.base import Envelope, Event, RecordedEvent, event_type_of
from core.events.host_values import CPU, BMCDetails, HardwareDetails, HostSpec, Image

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def spec(*, image: str | None = None, online: bool = True) -> HostSpec:
    return HostSpec(
        bmc=BMCDetails(address="redfish://192.0.2.10/redfish/v1/Systems/1", credentials_name="bmc-secret"),
        online=online,
        image=Image(url=image, checksum="abc") if image else None,
    )


class Recorder:
    """Runs commands for one host and keeps the recorded events with envelopes."""

    def __init__(
        self, namespace: str = "default", name: str = "worker-0", *, first_position: int = 1
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.state: HostState = hosts.DEFINITION.initial
        self.records: list[RecordedEvent] = []
        self.position = first_position - 1
        self.clock = T0

    def run(self, command: cmd.HostCommand, *, actor: str = "test") -> list[Event]:
        events = hosts.decide(self.state, command)
        for event in events:
            self.position += 1
            self.clock += timedelta(seconds=1)
            self.state = hosts.evolve(self.state, event)
            self.records.append(
                RecordedEvent(
                    envelope=Envelope(
                        event_id=f"e{self.position}",
                        aggregate_type="host",
                        aggregate_id=f"{self.namespace}/{self.name}",
                        version=len(self.records) + 1,
                        position=self.position,
                        event_type=event_type_of(event),
                        schema_version=1,
                        occurred_at=self.clock,
                        actor=actor,
                        correlation_id="c1",
                    ),
                    event=event,
                )
            )
        return events

    def create(self, *, image: str | None = None) -> None:
        self.run(
            cmd.ApplySpec(
                namespace=self.namespace,
                name=self.name,
                uid="uid-1",
                generation=1,
                spec=spec(image=image),
                now=T0,
            )
        )

    def to_provisioned(self, image: str = "http://images/os-1.qcow2") -> None:
        self.create(image=image)
        self.run(cmd.RecordRegistration(provisioning_id="node-1", now=T0), actor="ironic")
        self.run(cmd.RecordInspection(hardware=hosts_hardware(), now=T0), actor="ironic")
        self.run(cmd.RecordPreparation(now=T0), actor="ironic")
        self.run(cmd.RecordProvisioned(now=T0), actor="ironic")


def hosts_hardware() -> HardwareDetails:
    return HardwareDetails(ram_mebibytes=16384, cpu=CPU(arch="x86_64", count=4))
