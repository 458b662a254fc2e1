from __future__ import annotations

from datetime import timedelta

from core.aggregates import hosts
from core.events.host_values import ProvisioningState
from projections import history
from tests.projections.records import Recorder


def test_each_entry_lists_the_fields_its_event_changed() -> None:
    rec = Recorder()
    rec.to_provisioned()
    entries = history.history(hosts.DEFINITION, rec.records)
    assert len(entries) == len(rec.records)
    created = entries[0]
    assert created.envelope.event_type == "host.created"
    fields = {c.field for c in created.changes}
    assert fields >= {"exists", "namespace", "name", "uid", "spec.bmc", "spec.online"}
    to_registering = entries[1]
    assert to_registering.envelope.event_type == "host.provisioning_state_changed"
    change = next(c for c in to_registering.changes if c.field == "provisioning_state")
    assert (change.before, change.after) == ("", "registering")


def test_state_at_a_time_and_at_a_position_replays_only_what_was_recorded_by_then() -> None:
    rec = Recorder()
    rec.to_provisioned()
    registration = next(r for r in rec.records if r.envelope.event_type == "host.registration_succeeded")
    at_time = history.state_at(hosts.DEFINITION, rec.records, at=registration.envelope.occurred_at)
    at_position = history.state_at(hosts.DEFINITION, rec.records, position=registration.envelope.position)
    assert at_time == at_position
    assert at_time.provisioning_id == "node-1"
    assert at_time.provisioning_state is ProvisioningState.REGISTERING
    now = history.state_at(hosts.DEFINITION, rec.records)
    assert now.provisioning_state is ProvisioningState.PROVISIONED


def test_state_before_the_first_event_is_the_initial_state() -> None:
    rec = Recorder()
    rec.create()
    before = rec.records[0].envelope.occurred_at - timedelta(seconds=1)
    assert history.state_at(hosts.DEFINITION, rec.records, at=before) == hosts.DEFINITION.initial


def test_replaying_the_history_gives_the_live_state() -> None:
    rec = Recorder()
    rec.to_provisioned()
    entries = history.history(hosts.DEFINITION, rec.records)
    assert entries[-1].state == rec.state
