from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, Counter

from core.aggregates import host_commands as cmd
from core.events.base import RecordedEvent
from core.events.host_values import ErrorType, ProvisioningState
from metalstream.observability.metrics import HostMetrics, Metrics, state_label
from projections.hosts_view import HostsView
from tests.projections.records import T0, Recorder, hosts_hardware


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _feed(view: HostsView, callback: Callable[[RecordedEvent], None], records: list[RecordedEvent]) -> None:
    for record in records:
        view.apply(record)
        callback(record)


def _failed_deploy() -> Recorder:
    """registering 5 s, inspecting 60 s, preparing 5 s, provisioning 10 s, then a failed deploy."""
    host = Recorder()
    host.create(image="http://images/os.qcow2")
    host.run(cmd.RecordRegistration(provisioning_id="node-1", now=T0 + timedelta(seconds=5)))
    host.run(cmd.RecordInspection(hardware=hosts_hardware(), now=T0 + timedelta(seconds=65)))
    host.run(cmd.RecordPreparation(now=T0 + timedelta(seconds=70)))
    failed = T0 + timedelta(seconds=80)
    host.run(cmd.RecordFailure(error_type=ErrorType.PROVISIONING, message="deploy failed", now=failed))
    return host


def test_state_changes_errors_and_durations_follow_the_hosts_states() -> None:
    metrics = Metrics()
    view = HostsView()
    host = _failed_deploy()
    _feed(view, HostMetrics(metrics).follow(view), host.records)

    changes = [
        ("none", "registering"),
        ("registering", "inspecting"),
        ("inspecting", "preparing"),
        ("preparing", "available"),
        ("available", "provisioning"),
        ("provisioning", "deprovisioning"),
    ]
    for prev, new in changes:
        assert _value(metrics, "metal3_provisioning_state_change_total", prev_state=prev, new_state=new) == 1
    assert _value(metrics, "metal3_host_error_total", error_type="provisioning error") == 1
    assert _value(metrics, "metal3_host_error_total", error_type="inspection error") == 0
    for operation, seconds in [("register", 5.0), ("inspect", 60.0), ("provision", 10.0)]:
        assert _value(metrics, f"metal3_operation_{operation}_duration_seconds_count") == 1
        assert _value(metrics, f"metal3_operation_{operation}_duration_seconds_sum") == seconds
    assert _value(metrics, "metal3_operation_deprovision_duration_seconds_count") == 0
    assert _value(metrics, "metal3_operation_inspect_duration_seconds_bucket", le="30.0") == 0
    assert _value(metrics, "metal3_operation_inspect_duration_seconds_bucket", le="60.0") == 1
    assert (
        _value(metrics, "metalstream_hosts", provisioning_state="deprovisioning", operational_status="error")
        == 1
    )


def test_every_recorded_error_counts_even_when_the_type_repeats() -> None:
    metrics = Metrics()
    view = HostsView()
    host = Recorder()
    host.create()
    host.run(cmd.RecordRegistration(provisioning_id="node-1", now=T0))
    host.run(cmd.RecordFailure(error_type=ErrorType.INSPECTION, message="agent lost", now=T0))
    retried = T0 + timedelta(minutes=5)
    host.run(cmd.RecordFailure(error_type=ErrorType.INSPECTION, message="agent lost", now=retried))
    _feed(view, HostMetrics(metrics).follow(view), host.records)
    assert _value(metrics, "metal3_host_error_total", error_type="inspection error") == 2


def test_waiting_for_capacity_counts_provisioning_and_deprovisioning_apart() -> None:
    metrics = Metrics()
    view = HostsView()
    follow = HostMetrics(metrics).follow(view)
    inspecting = Recorder(name="inspecting")
    inspecting.create()
    inspecting.run(cmd.RecordRegistration(provisioning_id="node-1", now=T0))
    inspecting.run(cmd.RecordDelayed(now=T0))
    deprovisioning = _failed_deploy()
    deprovisioning.run(cmd.RecordDelayed(now=T0 + timedelta(seconds=90)))
    _feed(view, follow, inspecting.records + deprovisioning.records)
    assert _value(metrics, "metal3_delayed__provisioning_total") == 1
    assert _value(metrics, "metal3_delayed__deprovisioning_total") == 1
    assert (
        _value(metrics, "metalstream_hosts", provisioning_state="inspecting", operational_status="delayed")
        == 1
    )


def test_catching_up_remembers_states_without_counting_history() -> None:
    metrics = Metrics()
    view = HostsView()
    host = _failed_deploy()
    live = False
    follow = HostMetrics(metrics).follow(view, live=lambda: live)
    _feed(view, follow, host.records)
    assert _value(metrics, "metal3_host_error_total", error_type="provisioning error") == 0
    assert (
        _value(metrics, "metal3_provisioning_state_change_total", prev_state="none", new_state="registering")
        == 0
    )
    assert _value(metrics, "metal3_operation_register_duration_seconds_count") == 0
    assert (
        _value(metrics, "metalstream_hosts", provisioning_state="deprovisioning", operational_status="error")
        == 1
    )

    live = True
    seen = len(host.records)
    host.run(cmd.RecordDeprovisioned(now=T0 + timedelta(seconds=95)))
    _feed(view, follow, host.records[seen:])
    changed = {"prev_state": "deprovisioning", "new_state": "available"}
    assert _value(metrics, "metal3_provisioning_state_change_total", **changed) == 1
    assert _value(metrics, "metal3_operation_deprovision_duration_seconds_sum") == 15.0
    assert (
        _value(metrics, "metal3_provisioning_state_change_total", prev_state="none", new_state="registering")
        == 0
    )


def test_a_host_first_seen_mid_life_is_counted_from_its_next_change() -> None:
    history = Recorder()
    history.create()
    history.run(cmd.RecordRegistration(provisioning_id="node-1", now=T0))
    restored = HostsView()
    _feed(restored, lambda record: None, history.records)
    view = HostsView()
    view.restore(restored.snapshot())  # as after a checkpoint: no callback saw these events

    metrics = Metrics()
    follow = HostMetrics(metrics).follow(view)
    seen = len(history.records)
    history.run(cmd.RecordFailure(error_type=ErrorType.INSPECTION, message="agent lost", now=T0))
    _feed(view, follow, history.records[seen:])
    # The first event after the restore only sets the baseline: its "before" was never seen.
    assert _value(metrics, "metal3_host_error_total", error_type="inspection error") == 0
    seen = len(history.records)
    retried = T0 + timedelta(minutes=5)
    history.run(cmd.RecordFailure(error_type=ErrorType.INSPECTION, message="agent lost", now=retried))
    _feed(view, follow, history.records[seen:])
    assert _value(metrics, "metal3_host_error_total", error_type="inspection error") == 1


def test_seeded_states_are_the_baseline_for_the_next_change() -> None:
    host = Recorder()
    host.create()
    metrics = Metrics()
    observer = HostMetrics(metrics)
    observer.seed([host.state])
    host.run(cmd.RecordRegistration(provisioning_id="node-1", now=T0))
    observer.update(host.state.id, host.state)
    assert (
        _value(
            metrics,
            "metal3_provisioning_state_change_total",
            prev_state="registering",
            new_state="inspecting",
        )
        == 1
    )
    assert (
        _value(metrics, "metal3_provisioning_state_change_total", prev_state="none", new_state="registering")
        == 0
    )


def test_hosts_gauge_drops_deleted_hosts_and_can_count_another_population() -> None:
    first, second = Recorder(name="a"), Recorder(name="b")
    first.create()
    second.create()
    metrics = Metrics()
    observer = HostMetrics(metrics)
    observer.seed([first.state, second.state])
    registering = {"provisioning_state": "registering", "operational_status": "OK"}
    assert _value(metrics, "metalstream_hosts", **registering) == 2
    observer.update(first.state.id, None)
    assert _value(metrics, "metalstream_hosts", **registering) == 1
    assert len(observer) == 1

    view = HostsView()
    _feed(view, lambda record: None, first.records)
    other = Metrics()
    HostMetrics(other, population=lambda: (record.state for record in view.all()))
    assert _value(other, "metalstream_hosts", **registering) == 1


def test_exposition_uses_metal3_names_on_a_private_registry() -> None:
    metrics = Metrics()
    text = metrics.render().decode()
    for name in [
        "metal3_host_error_total",
        "metal3_provisioning_state_change_total",
        "metal3_operation_register_duration_seconds_bucket",
        "metal3_operation_inspect_duration_seconds_bucket",
        "metal3_operation_provision_duration_seconds_bucket",
        "metal3_operation_deprovision_duration_seconds_bucket",
        "metal3_delayed__provisioning_total",
        "metal3_delayed__deprovisioning_total",
        "metalstream_eventstore_append_seconds",
        "metalstream_eventstore_append_conflicts_total",
        "metalstream_projection_lag_events",
        "metalstream_dead_letters_total",
        "metalstream_commands_total",
        "metalstream_hosts",
    ]:
        assert f"# TYPE {name.removesuffix('_bucket')} " in text or f"# HELP {name} " in text, name
    second = Metrics()  # a second set of the same metrics: no clash, nothing shared
    second.count_dead_letter("hosts-view")
    assert _value(second, "metalstream_dead_letters_total", reader="hosts-view") == 1
    assert _value(metrics, "metalstream_dead_letters_total", reader="hosts-view") == 0


def test_metrics_can_share_a_registry_given_by_the_caller() -> None:
    registry = CollectorRegistry()
    extra = Counter("other_component_total", "something else in the process", registry=registry)
    extra.inc()
    metrics = Metrics(registry)
    assert "other_component_total 1.0" in metrics.render().decode()
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Metrics(registry)


@pytest.mark.parametrize(
    ("state", "label"),
    [
        pytest.param(ProvisioningState.NONE, "none", id="initial"),
        pytest.param(ProvisioningState.EXTERNALLY_PROVISIONED, "externally provisioned", id="metal3-string"),
    ],
)
def test_state_labels_are_metal3_strings(state: ProvisioningState, label: str) -> None:
    assert state_label(state) == label


def test_projection_lag_is_never_negative() -> None:
    metrics = Metrics()
    metrics.set_projection_lag("hosts-view", -3)
    assert _value(metrics, "metalstream_projection_lag_events", projection="hosts-view") == 0
