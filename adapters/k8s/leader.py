"""Leader election on a ``coordination.k8s.io/v1`` Lease, so several replicas run but one leads.

The protocol is client-go's (``leaderelection``), which Metal3's operators use through
controller-runtime, so a Lease written by this module reads the same in ``kubectl get lease``:

* a candidate takes the Lease when it does not exist, when nobody holds it (a leader released
  it), or when its record has not changed for ``leaseDurationSeconds`` *by the candidate's own
  clock* (``leader_record``: clocks of different nodes are never compared);
* every write is a PUT carrying the ``resourceVersion`` that was read, so of two candidates that
  saw the same expired record only one write succeeds; the other gets 409 and stays a standby;
* the leader renews every ``retry_period``. If no renewal has succeeded for ``renew_deadline``
  (the API server unreachable, say), or it finds the Lease held by someone else, leadership is
  lost: ``hold`` raises ``LeadershipLost`` and the caller must stop acting at once. Because
  ``renew_deadline`` is shorter than the lease duration, a leader that cannot renew stops
  before any standby may take over;
* a leader that stops on purpose releases the Lease (no holder, one second), so a standby takes
  over at its next attempt instead of waiting out the duration (controller-runtime's
  ``LeaderElectionReleaseOnCancel``).

One deliberate difference from client-go: a leader that *sees* another holder gives up at once
instead of retrying until its renew deadline. It could not win the Lease back before then anyway,
since the other holder's record was just observed and is valid for longer than the deadline.

Use::

    elector = LeaderElector(conn, namespace="ns", name="my-lease")
    async with elector, asyncio.TaskGroup() as group:  # waits to lead; releases when done
        group.create_task(elector.hold())  # renews; raises LeadershipLost
        group.create_task(work())  # cancelled by the TaskGroup when leadership is lost

The elector should have a connection of its own: requests of the work would otherwise take the
rate-limit tokens a renewal needs, as client-go's separate leader-election client avoids.
"""

from __future__ import annotations

import asyncio
import datetime
import random
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, NoReturn, Self

import structlog

from adapters.k8s import errors, leader_record, objects
from adapters.k8s.connection import JSON, Connection, JsonObject
from adapters.k8s.leader_record import LeaseRecord, Observation
from adapters.k8s.resources import Resource

log = structlog.get_logger("metalstream.k8s.leader")

LEASES: Final = Resource(group="coordination.k8s.io", version="v1", plural="leases", kind="Lease")
SERVICE_ACCOUNT_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
"""Where the kubelet puts the pod's namespace (next to the service account token)."""
JITTER: Final = 1.2
"""A standby waits between ``retry_period`` and ``(1 + JITTER) * retry_period`` between attempts."""


class LeadershipLost(Exception):
    """This process no longer leads: the Lease was taken, or could not be renewed in time."""


@dataclass(frozen=True, slots=True)
class Timings:
    """How long a lease lasts and how often it is renewed; controller-runtime's defaults."""

    lease_duration: float = 15.0
    """Seconds a standby waits, from the last change of the record it saw, before taking over."""
    renew_deadline: float = 10.0
    """Seconds the leader keeps trying to renew before it gives up leadership."""
    retry_period: float = 2.0
    """Seconds between renewals (leader) and between attempts to acquire (standby, jittered)."""

    def __post_init__(self) -> None:
        if not 0 < self.retry_period * JITTER < self.renew_deadline < self.lease_duration:
            msg = (
                f"leader election timings {self.lease_duration:g}s/{self.renew_deadline:g}s/"
                f"{self.retry_period:g}s (lease duration/renew deadline/retry period) are unsafe: need "
                f"0 < {JITTER:g} x retry period < renew deadline < lease duration"
            )
            raise ValueError(msg)


def default_identity() -> str:
    """This process's candidate name: the host (pod) name and a random suffix, unique per start."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:12]}"


async def pod_namespace(path: Path = SERVICE_ACCOUNT_NAMESPACE) -> str | None:
    """The namespace of the pod this process runs in, or ``None`` outside a pod."""
    try:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    except OSError:
        return None
    return text.strip() or None


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaderElector:
    """Acquires, renews and releases one Lease for one candidate identity.

    ``async with`` waits until this candidate leads and releases the Lease on the way out (unless
    leadership was lost); ``hold`` renews it meanwhile. ``leading`` is set exactly while this
    candidate believes it leads (a readiness check can follow it).
    """

    def __init__(
        self,
        conn: Connection,
        *,
        namespace: str,
        name: str,
        identity: str | None = None,
        timings: Timings | None = None,
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.identity = identity if identity is not None else default_identity()
        self.timings = timings or Timings()
        self.leading = asyncio.Event()
        """Set while this candidate leads; cleared on loss and before a release."""
        self._conn = conn
        self._lease: JsonObject | None = None
        """The Lease as last read or written: its ``resourceVersion`` guards the next write."""
        self._observation: Observation | None = None
        self._renewed_at = 0.0
        self._duration = leader_record.whole_seconds(self.timings.lease_duration)

    @property
    def lease(self) -> str:
        """``namespace/name`` of the Lease."""
        return f"{self.namespace}/{self.name}"

    @property
    def holder(self) -> str | None:
        """The holder of the Lease as last observed (``""`` when released, ``None`` before a read)."""
        return self._observation.record.holder if self._observation is not None else None

    # -- acquiring ------------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.leading.is_set():
            await self.release()

    async def acquire(self) -> None:
        """Return once this candidate leads; until then try every retry period (jittered).

        Transient failures (no answer, 429, 5xx) are logged and retried; a refusal that will not
        change by itself (401, 403, a missing namespace) raises its ``errors.ApiError``.
        """
        shown: tuple[str | None, str | None] = (None, None)
        while True:
            started = time.monotonic()
            failure = None
            try:
                if await self._try_acquire_or_renew(started + self._conn.settings.request_timeout):
                    self._renewed_at = started
                    self.leading.set()
                    log.info("became leader", lease=self.lease, identity=self.identity)
                    return
            except errors.ApiError as error:
                if not error.retriable:
                    raise
                failure = str(error)
            except errors.Unreachable as error:
                failure = str(error)
            if (self.holder, failure) != shown:  # say it when it changes, not every two seconds
                shown = (self.holder, failure)
                if failure is not None:
                    log.warning("cannot read or take the lease; retrying", lease=self.lease, error=failure)
                else:
                    log.info(
                        "waiting for leadership", lease=self.lease, holder=self.holder, identity=self.identity
                    )
            await asyncio.sleep(self.timings.retry_period * (1 + random.random() * JITTER))

    # -- holding --------------------------------------------------------------------------------

    async def hold(self) -> NoReturn:
        """Renew the Lease every retry period until leadership is lost; then raise ``LeadershipLost``.

        Run it next to the work it guards, in the same TaskGroup, so that a loss cancels the work.
        """
        if not self.leading.is_set():
            msg = "hold() needs leadership: acquire the lease first (async with the elector)"
            raise RuntimeError(msg)
        wait = self.timings.retry_period
        failure: str | None = None
        while True:
            await asyncio.sleep(wait)
            deadline = self._renewed_at + self.timings.renew_deadline
            started = time.monotonic()
            if started >= deadline:
                why = f"not renewed for {self.timings.renew_deadline:g}s"
                raise self._lose(f"{why} (last error: {failure})" if failure else why)
            try:
                renewed = await self._try_acquire_or_renew(
                    min(deadline, started + self._conn.settings.request_timeout)
                )
            except errors.KubeError as error:
                renewed, failure = False, str(error)
                log.warning("lease not renewed; retrying", lease=self.lease, error=failure)
            if renewed:
                self._renewed_at, failure, wait = started, None, self.timings.retry_period
                continue
            if self.holder and self.holder != self.identity:
                raise self._lose(f"the lease is now held by {self.holder}")
            wait = max(0.0, min(self.timings.retry_period, deadline - time.monotonic()))

    def _lose(self, reason: str) -> LeadershipLost:
        self.leading.clear()
        log.error("lost leadership", lease=self.lease, identity=self.identity, reason=reason)
        return LeadershipLost(f"lease {self.lease}: {reason}")

    # -- releasing ------------------------------------------------------------------------------

    async def release(self) -> None:
        """Step down: write the Lease with no holder, so a standby takes over at once.

        Best effort and bounded by the renew deadline: if it fails, the Lease expires by itself.
        """
        if not self.leading.is_set() or self._observation is None:
            return
        self.leading.clear()
        record = leader_record.released(self._observation.record, _utc_now())
        deadline = time.monotonic() + min(self._conn.settings.request_timeout, self.timings.renew_deadline)
        try:
            await self._replace(record, deadline)
        except errors.Conflict:
            log.info("lease changed meanwhile; not released", lease=self.lease, identity=self.identity)
            return
        except errors.KubeError as error:
            log.warning(
                "lease not released; a standby takes over once it expires",
                lease=self.lease,
                expires_in=self._duration,
                error=str(error),
            )
            return
        log.info("leadership released", lease=self.lease, identity=self.identity)

    # -- one attempt ----------------------------------------------------------------------------

    async def _try_acquire_or_renew(self, deadline: float) -> bool:
        """One attempt to become or stay the holder; whether it succeeded. Conflicts mean no."""
        now = _utc_now()
        observation = self._observation
        if (
            self.leading.is_set()
            and self._lease is not None
            and observation is not None
            and observation.record.holder == self.identity
        ):
            # Fast path: the Lease is most likely as we last wrote it; write without reading.
            mine = observation.record
            try:
                await self._replace(
                    leader_record.claim(mine, identity=self.identity, lease_duration=self._duration, now=now),
                    deadline,
                )
            except errors.Conflict:
                pass  # someone else wrote it: read it and judge
            else:
                return True
        try:
            current = await objects.get(
                self._conn, LEASES, self.name, namespace=self.namespace, limit=self._left(deadline)
            )
        except errors.NotFound:
            return await self._create(now, deadline)
        self._lease = current
        record = leader_record.from_spec(current.get("spec"))
        seen = time.monotonic()
        self._observation = leader_record.observe(self._observation, record, seen)
        if not leader_record.may_claim(self._observation, self.identity, seen):
            return False
        claimed = leader_record.claim(record, identity=self.identity, lease_duration=self._duration, now=now)
        try:
            await self._replace(claimed, deadline)
        except errors.Conflict:
            return False  # another candidate wrote first
        return True

    async def _create(self, now: datetime.datetime, deadline: float) -> bool:
        record = leader_record.claim(None, identity=self.identity, lease_duration=self._duration, now=now)
        body = {
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": leader_record.to_spec(record),
        }
        try:
            self._lease = await objects.create(self._conn, LEASES, body, limit=self._left(deadline))
        except errors.AlreadyExists:
            return False  # another candidate created it first
        self._observation = Observation(record=record, at=time.monotonic())
        return True

    async def _replace(self, record: LeaseRecord, deadline: float) -> None:
        """PUT the last-seen Lease with ``record`` in its spec; ``errors.Conflict`` if it changed since."""
        lease = self._lease or {}
        spec: dict[str, Any] = {**(lease.get("spec") or {}), **leader_record.to_spec(record)}
        body = {**lease, "apiVersion": LEASES.api_version, "kind": LEASES.kind, "spec": spec}
        self._lease = await self._conn.request(
            "PUT",
            objects.path_of(LEASES, self.name, namespace=self.namespace),
            query={"fieldManager": self._conn.settings.field_manager},
            body=body,
            content_type=JSON,
            limit=self._left(deadline),
        )
        self._observation = Observation(record=record, at=time.monotonic())

    def _left(self, deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            msg = f"lease {self.lease}: no time left for another request before the deadline"
            raise errors.Unreachable(msg)
        return left
