"""Metal3 IPAM driven with ``kubectl``: a real kube-apiserver and nats-server, the IPAM service.

A user's IPPool and IPClaim manifests (written for Metal3's ip-address-manager) go in through
``kubectl apply``; the IPAM service (``metalstream.kube.ipam``, as the control plane runs it)
decides every allocation with the ``ippool`` aggregate on JetStream, and the tests look only at
what a Metal3 user looks at: IPAddress objects, claim and pool status, deletions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import pytest

from adapters.k8s import crd_install
from adapters.k8s.connection import ConnectionSettings, connect
from adapters.k8s.crds import ipam as ipam_crds
from core.aggregates import ippool_commands as cmd
from core.aggregates import ippools
from core.aggregates.ippool_state import PoolState
from metalstream import settings, wiring
from metalstream.commanding import CommandHandler
from metalstream.devstack.kube import KubeApiServer
from metalstream.devstack.nats import NatsServer
from metalstream.kube.ipam import IpamControllerService
from tests.kube import Kubectl

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240, func_only=True)]

WAIT: Final = "90s"
LIMIT: Final = 120.0


@contextlib.asynccontextmanager
async def ipam_service(nats: NatsServer, kube: KubeApiServer) -> AsyncIterator[IpamControllerService]:
    """The IPAM service on its own store and connection, ready (informers listed, view caught up)."""
    config = settings.load({}, {"nats": {"urls": [nats.url]}})
    conn_settings = ConnectionSettings(kubeconfig=str(kube.kubeconfig), qps=200.0, burst=200)
    async with wiring.event_store(config) as store, connect(conn_settings) as conn:
        await crd_install.install(conn.api_client, ipam_crds.DECLARATIONS, request_timeout=30.0)
        handler: CommandHandler[PoolState, cmd.PoolCommand] = CommandHandler(store, ippools.DEFINITION)
        service = IpamControllerService(conn=conn, store=store, handler=handler)
        task = asyncio.create_task(service.run(), name="ipam")
        try:
            async with asyncio.timeout(60):
                waiter = asyncio.create_task(service.ready.wait())
                done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if task in done:
                    waiter.cancel()
                    task.result()
                    pytest.fail("the IPAM service stopped before it was ready")
            yield service
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _namespace(kubectl: Kubectl) -> str:
    name = f"ipam-{uuid.uuid4().hex[:8]}"
    await kubectl.run("create", "namespace", name)
    return name


def _pool(namespace: str, name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "ipam.metal3.io/v1alpha1",
        "kind": "IPPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def _claim(
    namespace: str, name: str, pool: str, *, annotations: dict[str, str] | None = None, **labels: str
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "ipam.metal3.io/v1alpha1",
        "kind": "IPClaim",
        "metadata": metadata,
        "spec": {"pool": {"name": pool}},
    }


async def _apply(kubectl: Kubectl, *docs: dict[str, Any]) -> None:
    await kubectl.run(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    )


async def _get(kubectl: Kubectl, namespace: str, *what: str) -> dict[str, Any]:
    result = await kubectl.run("get", "-n", namespace, *what, "-o", "json")
    obj: dict[str, Any] = json.loads(result.stdout)
    return obj


async def _eventually(check: Callable[[], Awaitable[bool]], what: str, limit: float = LIMIT) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``limit`` seconds."""
    try:
        async with asyncio.timeout(limit):
            while not await check():  # noqa: ASYNC110 - polling the API server; nothing to wait on
                await asyncio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"{what} did not happen within {limit:g}s")


async def _wait_address(kubectl: Kubectl, namespace: str, claim: str, name: str | None = None) -> str:
    if name is not None:
        await kubectl.run(
            "wait", "-n", namespace, f"ipclaim/{claim}",
            f"--for=jsonpath={{.status.address.name}}={name}", f"--timeout={WAIT}", limit=LIMIT,
        )  # fmt: skip
        return name
    found: list[str] = []

    async def bound() -> bool:
        status = (await _get(kubectl, namespace, "ipclaim", claim)).get("status") or {}
        found[:] = [((status.get("address") or {}).get("name") or "")]
        return bool(found[0])

    await _eventually(bound, f"claim {claim} getting an address")
    return found[0]


async def _addresses(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, Any]]:
    listed = await _get(kubectl, namespace, "ipaddresses.ipam.metal3.io")
    return {item["metadata"]["name"]: item for item in listed["items"]}


async def test_metal3_pools_and_claims_get_addresses_release_them_and_delete_in_order(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    ns = await _namespace(kubectl)
    pool = _pool(
        ns,
        "pool1",
        clusterName="cluster1",
        namePrefix="test1-prov",
        pools=[{"start": "192.168.0.10", "end": "192.168.0.13", "prefix": 25, "gateway": "192.168.0.1"}],
        prefix=24,
        gateway="192.168.1.1",
        dnsServers=["8.8.8.8"],
        preAllocations={"claim-pre": "192.168.0.12"},
    )
    claims = [
        _claim(ns, "claim-a", "pool1", annotations={"ipAddress": "192.168.0.13"}),
        _claim(ns, "claim-pre", "pool1"),
        _claim(ns, "claim-b", "pool1", role="worker"),
        _claim(ns, "claim-c", "pool1"),
    ]
    async with NatsServer(tmp_path / "nats") as nats, ipam_service(nats, kube_apiserver) as service:
        await _apply(kubectl, pool, *claims)
        await _wait_address(kubectl, ns, "claim-a", "test1-prov-192-168-0-13")
        await _wait_address(kubectl, ns, "claim-pre", "test1-prov-192-168-0-12")
        b_name = await _wait_address(kubectl, ns, "claim-b")
        c_name = await _wait_address(kubectl, ns, "claim-c")
        assert {b_name, c_name} == {"test1-prov-192-168-0-10", "test1-prov-192-168-0-11"}

        objects = await _addresses(kubectl, ns)
        assert set(objects) == {f"test1-prov-192-168-0-{n}" for n in (10, 11, 12, 13)}
        b_obj = objects[b_name]
        assert b_obj["spec"]["prefix"] == 25
        assert b_obj["spec"]["gateway"] == "192.168.0.1"
        assert b_obj["spec"]["dnsServers"] == ["8.8.8.8"]
        assert b_obj["spec"]["pool"]["name"] == "pool1"
        assert b_obj["spec"]["claim"]["name"] == "claim-b"
        assert b_obj["metadata"]["labels"] == {"role": "worker"}
        assert b_obj["metadata"]["finalizers"] == ["ipaddress.ipam.metal3.io"]
        assert [o["kind"] for o in b_obj["metadata"]["ownerReferences"]] == ["IPPool", "IPClaim"]

        expected = {
            "claim-a": "192.168.0.13",
            "claim-pre": "192.168.0.12",
            "claim-b": b_obj["spec"]["address"],
            "claim-c": objects[c_name]["spec"]["address"],
        }

        async def indexed() -> bool:
            status = (await _get(kubectl, ns, "ippool", "pool1")).get("status") or {}
            return bool(status.get("indexes") == expected and status.get("lastUpdated"))

        await _eventually(indexed, "pool1 status.indexes listing every claim")
        pool_obj = await _get(kubectl, ns, "ippool", "pool1")
        assert pool_obj["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "cluster1"
        assert pool_obj["metadata"]["labels"]["cluster.x-k8s.io/provider"] == "ipam-metal3"
        assert "ippool.ipam.metal3.io" in pool_obj["metadata"]["finalizers"]
        table = await kubectl.run("get", "ippools", "-n", ns)
        assert "cluster1" in table.stdout

        # The pool is full: the next claim gets Metal3's message ...
        await _apply(kubectl, _claim(ns, "claim-d", "pool1"))
        await kubectl.run(
            "wait", "-n", ns, "ipclaim/claim-d", "--for=jsonpath={.status.errorMessage}=Exhausted IP Pools",
            f"--timeout={WAIT}", limit=LIMIT,
        )  # fmt: skip
        # ... until a claim is deleted: its IPAddress goes and the address is handed out again.
        await kubectl.run("delete", "ipclaim", "-n", ns, "claim-b", f"--timeout={WAIT}", limit=LIMIT)
        await _wait_address(kubectl, ns, "claim-d", b_name)
        d_obj = (await _addresses(kubectl, ns))[b_name]
        assert d_obj["spec"]["claim"]["name"] == "claim-d"
        assert "errorMessage" not in (await _get(kubectl, ns, "ipclaim", "claim-d"))["status"]

        # Deleting the pool waits for its claims.
        await kubectl.run("delete", "ippool", "-n", ns, "pool1", "--wait=false")

        async def deletion_recorded() -> bool:
            state, _ = await service.handler.load(f"{ns}/pool1")
            service.handler.forget(f"{ns}/pool1")
            return state.deletion_requested

        await _eventually(deletion_recorded, "the pool's deletion being recorded")
        still = await _get(kubectl, ns, "ippool", "pool1")
        assert still["metadata"]["deletionTimestamp"]
        await kubectl.run("delete", "ipclaims", "-n", ns, "--all", "--wait=false")
        await kubectl.run("wait", "-n", ns, "ippool/pool1", "--for=delete", f"--timeout={WAIT}", limit=LIMIT)
        assert await _addresses(kubectl, ns) == {}
        assert (await _get(kubectl, ns, "ipclaims"))["items"] == []


async def test_ipam_1437_pools_sharing_a_name_prefix_never_share_an_ipaddress(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    ns = await _namespace(kubectl)
    ranges = [{"start": "10.0.0.10", "end": "10.0.0.11"}]
    docs = [
        _pool(ns, "pool-x", namePrefix="shared", pools=ranges, prefix=24),
        _pool(ns, "pool-y", namePrefix="shared", pools=ranges, prefix=24),
        *(_claim(ns, f"x{n}", "pool-x") for n in range(2)),
        *(_claim(ns, f"y{n}", "pool-y") for n in range(2)),
    ]
    async with NatsServer(tmp_path / "nats") as nats, ipam_service(nats, kube_apiserver):
        await _apply(kubectl, *docs)
        names = {claim: await _wait_address(kubectl, ns, claim) for claim in ("x0", "x1", "y0", "y1")}
        assert len(set(names.values())) == 4
        objects = await _addresses(kubectl, ns)
        assert set(objects) == set(names.values())
        for claim, name in names.items():
            assert objects[name]["spec"]["claim"]["name"] == claim
            assert objects[name]["spec"]["pool"]["name"] == f"pool-{claim[0]}"
        plain = {"shared-10-0-0-10", "shared-10-0-0-11"}
        assert plain <= set(objects)
        assert all(n in plain or n.startswith(tuple(f"{p}-" for p in plain)) for n in objects)

        # Deleting every claim of one pool leaves the other pool's objects alone.
        await kubectl.run("delete", "ipclaim", "-n", ns, "y0", "y1", f"--timeout={WAIT}", limit=LIMIT)
        left = await _addresses(kubectl, ns)
        assert set(left) == {names["x0"], names["x1"]}
        assert all(obj["spec"]["pool"]["name"] == "pool-x" for obj in left.values())


async def test_forty_claims_applied_at_once_get_forty_distinct_addresses(
    kubectl: Kubectl, kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    ns = await _namespace(kubectl)
    count = 40
    pool = _pool(ns, "bulk", namePrefix="bulk", pools=[{"subnet": "10.20.0.0/24"}])
    claims = [_claim(ns, f"node-{n:02d}", "bulk") for n in range(count)]
    async with NatsServer(tmp_path / "nats") as nats, ipam_service(nats, kube_apiserver) as service:
        await _apply(kubectl, pool, *claims)

        async def all_bound() -> bool:
            items = (await _get(kubectl, ns, "ipclaims"))["items"]
            return sum(bool((i.get("status") or {}).get("address")) for i in items) == count

        await _eventually(all_bound, f"{count} claims getting addresses")
        objects = await _addresses(kubectl, ns)
        assert len(objects) == count
        assert len({o["spec"]["address"] for o in objects.values()}) == count
        assert {o["spec"]["claim"]["name"] for o in objects.values()} == {
            c["metadata"]["name"] for c in claims
        }
        assert all(o["spec"]["prefix"] == 24 for o in objects.values())

        async def indexed() -> bool:
            status = (await _get(kubectl, ns, "ippool", "bulk")).get("status") or {}
            return len(status.get("indexes") or {}) == count

        await _eventually(indexed, "the pool's status.indexes listing all claims")
        _, before = await service.handler.load(f"{ns}/bulk")

        # A second process (a restart, or a standby replica) reconciles everything again and records
        # nothing new.
        async with ipam_service(nats, kube_apiserver) as restarted:

            async def settled() -> bool:
                return restarted.claim_queue.idle and restarted.pool_queue.idle

            await _eventually(settled, "the second service working through every object")
            _, after = await restarted.handler.load(f"{ns}/bulk")
        assert after.version == before.version
        assert len(await _addresses(kubectl, ns)) == count
