from __future__ import annotations

from core.aggregates import host_commands as cmd
from core.events.host_values import ProvisioningState
from projections.hosts_view import HostsView
from tests.projections.records import T0, Recorder


def test_view_follows_each_host_and_counts_states() -> None:
    view = HostsView()
    a, b = Recorder(name="a"), Recorder(name="b", first_position=1000)
    a.to_provisioned()
    b.create()
    for record in [*a.records, *b.records]:
        view.apply(record)
    assert view.get("default/a") is not None
    record_a = view.get("default/a")
    assert record_a is not None
    assert record_a.state == a.state
    assert record_a.version == len(a.records)
    assert view.count_by_state() == {"provisioned": 1, "registering": 1}


def test_deleted_hosts_leave_the_view() -> None:
    view = HostsView()
    rec = Recorder()
    rec.create()
    rec.run(cmd.RequestDeletion(now=T0))
    assert rec.state.provisioning_state is ProvisioningState.DELETING
    rec.run(cmd.RecordNodeDeleted(now=T0))
    for record in rec.records:
        view.apply(record)
    assert view.get("default/worker-0") is None
    assert len(view) == 0


def test_snapshot_restores_an_equal_view() -> None:
    view = HostsView()
    rec = Recorder()
    rec.to_provisioned()
    for record in rec.records:
        view.apply(record)
    restored = HostsView()
    restored.restore(view.snapshot())
    assert restored.all() == view.all()
