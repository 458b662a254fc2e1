"""The process's Prometheus metrics: Metal3's host metrics, and the event store's own.

Dashboards and alerts written for Metal3's Bare Metal Operator keep working because the host
metrics keep BMO's names and labels: ``metal3_host_error_total{error_type}``,
``metal3_provisioning_state_change_total{prev_state,new_state}``,
``metal3_operation_{register,inspect,provision,deprovision}_duration_seconds`` and
``metal3_delayed__{provisioning,deprovisioning}_total`` (BMO's double underscore kept). Only
BMO metrics that follow from a host's recorded state are exported; BMO's per-reconcile counters
(reconciles, missing credentials, provisioner not ready, ...) count iterations of a controller
loop this control plane does not have. BMO has no gauge of hosts per state; ``metalstream_hosts``
is ours.

Host metrics are derived, not recorded at the place things happen: ``HostMetrics`` compares a
host's state before and after each event, so the only wiring it needs is the hosts view's
``on_applied`` callback, and every number agrees with the log. Durations are taken from the
event times in ``operation_history`` (not from a clock), so replaying the same log gives the
same histogram.

Everything is registered on one ``CollectorRegistry`` owned by ``Metrics``, never on
prometheus_client's global registry, so tests (and several stacks in one interpreter) never
share counters.
"""

from __future__ import annotations

import collections
import enum
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from core.aggregates import hosts
from core.aggregates.host_state import INITIAL, HostState
from core.events import hosts as ev
from core.events.base import RecordedEvent
from core.events.host_values import OperationTimes, ProvisioningState
from projections.hosts_view import HostsView

PS = ProvisioningState

OPERATIONS: Final = ("register", "inspect", "provision", "deprovision")
"""The operations BMO times, named as in ``status.operationHistory``."""

OPERATION_BUCKETS: Final = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
"""Seconds. Registering takes seconds; inspecting and deploying real hardware take minutes (an
agent boot alone is one to five), and a stuck deploy is cut off after Ironic's 80 minutes."""

APPEND_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Seconds. An fsync'ed JetStream append is about a millisecond on an SSD; the top buckets catch
appends that ran into the request timeout."""

_TIMED: Final = {
    PS.REGISTERING: "register",
    PS.INSPECTING: "inspect",
    PS.PROVISIONING: "provision",
    PS.DEPROVISIONING: "deprovision",
}

_HOSTS_HELP: Final = "Hosts known to the hosts view, by provisioning state and operational status"


class CommandOutcome(enum.StrEnum):
    """The ``outcome`` label of ``metalstream_commands_total``."""

    RECORDED = "recorded"
    """The command was decided and its events appended."""
    UNCHANGED = "unchanged"
    """The command was valid and changed nothing (a repeated observation, an old generation)."""
    REJECTED = "rejected"
    """The aggregate refused it (``CommandRejected``, ``AggregateNotFound``)."""
    CONFLICT = "conflict"
    """The handler gave up after repeated concurrent writes."""
    UNAVAILABLE = "unavailable"
    """The event store did not answer in time."""
    FAILED = "failed"
    """Anything else: a bug."""


def state_label(state: ProvisioningState) -> str:
    """A provisioning state as a label value: Metal3's string, ``none`` for the empty initial state.

    Prometheus treats an empty label value as no label at all, so the initial state gets a name.
    """
    return str(state) or "none"


class _HostsCollector:
    """``metalstream_hosts``, counted from the current host population at every scrape."""

    def __init__(self) -> None:
        self.population: Callable[[], Iterable[HostState]] = tuple

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily(
                "metalstream_hosts", _HOSTS_HELP, labels=["provisioning_state", "operational_status"]
            )
        ]

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "metalstream_hosts", _HOSTS_HELP, labels=["provisioning_state", "operational_status"]
        )
        counts = collections.Counter(
            (state_label(state.provisioning_state), str(state.operational_status) or "none")
            for state in self.population()
        )
        for (provisioning, operational), count in sorted(counts.items()):
            family.add_metric([provisioning, operational], count)
        yield family


class Metrics:
    """Every metric metalstream exports, on one private registry, with typed recording methods."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry

        # --- Metal3 (BMO) names -----------------------------------------------------------------
        self.host_errors = Counter(
            "metal3_host_error_total",
            "Errors recorded on hosts, by Metal3 error type",
            ["error_type"],
            registry=r,
        )
        self.state_changes = Counter(
            "metal3_provisioning_state_change_total",
            "Provisioning state changes of hosts",
            ["prev_state", "new_state"],
            registry=r,
        )
        self.operation_durations: dict[str, Histogram] = {
            operation: Histogram(
                f"metal3_operation_{operation}_duration_seconds",
                f"Length of the {operation} operation of hosts, from its operationHistory times",
                buckets=OPERATION_BUCKETS,
                registry=r,
            )
            for operation in OPERATIONS
        }
        self.delayed_provisioning = Counter(
            "metal3_delayed__provisioning_total",
            "Times a host had to wait for provisioning capacity (PROVISIONING_LIMIT)",
            registry=r,
        )
        self.delayed_deprovisioning = Counter(
            "metal3_delayed__deprovisioning_total",
            "Times a host had to wait for deprovisioning capacity (PROVISIONING_LIMIT)",
            registry=r,
        )

        # --- metalstream's own --------------------------------------------------------------------
        self.append_seconds = Histogram(
            "metalstream_eventstore_append_seconds",
            "Time to append one command's events to the event store, conflicts included",
            ["aggregate"],
            buckets=APPEND_BUCKETS,
            registry=r,
        )
        self.append_conflicts = Counter(
            "metalstream_eventstore_append_conflicts_total",
            "Appends refused because another writer appended to the aggregate first",
            ["aggregate"],
            registry=r,
        )
        self.projection_lag = Gauge(
            "metalstream_projection_lag_events",
            "Log positions between the newest event and the last one a projection folded",
            ["projection"],
            registry=r,
        )
        self.dead_letters = Counter(
            "metalstream_dead_letters_total",
            "Events a reader could not handle and copied to the dead-letter stream",
            ["reader"],
            registry=r,
        )
        self.commands = Counter(
            "metalstream_commands_total",
            "Commands handled, by aggregate type, command and outcome",
            ["aggregate", "command", "outcome"],
            registry=r,
        )
        self._hosts = _HostsCollector()
        r.register(self._hosts)

    def set_host_population(self, population: Callable[[], Iterable[HostState]]) -> None:
        """Where ``metalstream_hosts`` counts hosts from at each scrape (e.g. the hosts view)."""
        self._hosts.population = population

    def observe_append(self, aggregate: str, seconds: float) -> None:
        self.append_seconds.labels(aggregate=aggregate).observe(seconds)

    def count_append_conflict(self, aggregate: str) -> None:
        self.append_conflicts.labels(aggregate=aggregate).inc()

    def set_projection_lag(self, projection: str, events: int) -> None:
        self.projection_lag.labels(projection=projection).set(max(0, events))

    def count_dead_letter(self, reader: str) -> None:
        self.dead_letters.labels(reader=reader).inc()

    def count_command(self, aggregate: str, command: str, outcome: CommandOutcome) -> None:
        self.commands.labels(aggregate=aggregate, command=command, outcome=str(outcome)).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (what ``/metrics`` serves)."""
        return generate_latest(self.registry)


class HostMetrics:
    """Derives Metal3's host metrics from successive states of each host.

    ``observe(before, after)`` counts what one change did. ``update`` and ``follow`` remember the
    last state seen per host so they can supply ``before`` themselves; a host whose previous
    state was never seen (restored from a checkpoint, say) is remembered without counting, so a
    restart never invents transitions. By default ``metalstream_hosts`` counts the remembered
    states; pass ``population`` (e.g. the hosts view's states) to count those instead.
    """

    def __init__(
        self, metrics: Metrics, *, population: Callable[[], Iterable[HostState]] | None = None
    ) -> None:
        self._metrics = metrics
        self._last: dict[str, HostState] = {}
        metrics.set_host_population(population if population is not None else self._last.values)

    def __len__(self) -> int:
        return len(self._last)

    def observe(self, before: HostState, after: HostState) -> None:
        """Count what changed between two consecutive states of one host."""
        m = self._metrics
        if after.error_type is not None and _error_of(before) != _error_of(after):
            m.host_errors.labels(error_type=str(after.error_type)).inc()
        if after.exists and before.provisioning_state is not after.provisioning_state:
            m.state_changes.labels(
                prev_state=state_label(before.provisioning_state),
                new_state=state_label(after.provisioning_state),
            ).inc()
            operation = _TIMED.get(before.provisioning_state)
            if operation is not None:
                seconds = _duration(getattr(after.operation_history, operation))
                if seconds is not None:
                    m.operation_durations[operation].observe(seconds)
        if after.delayed and not before.delayed:
            if after.provisioning_state is PS.DEPROVISIONING:
                m.delayed_deprovisioning.inc()
            else:
                m.delayed_provisioning.inc()

    def update(self, host_id: str, state: HostState | None, *, count: bool = True) -> None:
        """The newest state of ``host_id`` (None once deleted); counts the change from the last one.

        With ``count=False`` the state is only remembered (use it while catching up on history,
        so a restart does not count every past transition again).
        """
        before = self._last.get(host_id)
        if state is None or state.deleted:
            self._last.pop(host_id, None)
            return
        self._last[host_id] = state
        if count and before is not None:
            self.observe(before, state)

    def seed(self, states: Iterable[HostState]) -> None:
        """Remember states without counting anything (e.g. every host of a restored view)."""
        for state in states:
            if state.exists and not state.deleted:
                self._last[state.id] = state

    def follow(
        self, view: HostsView, *, live: Callable[[], bool] | None = None
    ) -> Callable[[RecordedEvent], None]:
        """An ``on_applied`` callback for the ``ProjectionRunner`` that folds ``view``.

        ``live`` says whether to count (typically ``runner.caught_up.is_set``): while it is false,
        states are only remembered. A host's ``HostCreated`` event starts from the initial
        state, so hosts created while live are counted from their very first transition.
        """

        def applied(record: RecordedEvent) -> None:
            envelope = record.envelope
            if envelope.aggregate_type != hosts.DEFINITION.type:
                return
            host_id = envelope.aggregate_id
            if isinstance(record.event, ev.HostCreated):
                self._last[host_id] = INITIAL  # a (re-)created host starts from nothing
            current = view.get(host_id)
            self.update(host_id, current.state if current is not None else None, count=live is None or live())

        return applied


def _error_of(state: HostState) -> tuple[object, ...]:
    # Each ErrorRecorded changes at least the count or the retry time, even for the same type.
    return (state.error_type, state.error_count, state.retry_not_before, state.error_message)


def _duration(times: OperationTimes) -> float | None:
    if times.start is None or times.end is None:
        return None
    try:
        seconds = (datetime.fromisoformat(times.end) - datetime.fromisoformat(times.start)).total_seconds()
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


__all__ = [
    "APPEND_BUCKETS",
    "OPERATIONS",
    "OPERATION_BUCKETS",
    "CommandOutcome",
    "HostMetrics",
    "Metrics",
    "state_label",
]
