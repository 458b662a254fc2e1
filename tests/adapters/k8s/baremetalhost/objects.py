"""BareMetalHost objects shaped as the API server returns them, for the pure controller tests."""

from __future__ import annotations

import base64
from typing import Any


def host_object(
    name: str = "worker-0",
    *,
    namespace: str = "metal",
    generation: int = 1,
    uid: str = "uid-1",
    annotations: dict[str, str] | None = None,
    finalizers: list[str] | None = None,
    deleting: bool = False,
    status: dict[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "online": True,
        "bootMACAddress": "52:54:00:aa:bb:01",
        "bmc": {"address": "redfish://10.0.0.1/redfish/v1/Systems/1", "credentialsName": "worker-0-bmc"},
    }
    body.update(spec)
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": uid,
        "generation": generation,
        "resourceVersion": str(100 + generation),
        "annotations": annotations or {},
        "finalizers": finalizers if finalizers is not None else ["baremetalhost.metal3.io"],
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-11-24T00:00:00Z"
    obj: dict[str, Any] = {
        "apiVersion": "metal3.io/v1alpha1",
        "kind": "BareMetalHost",
        "metadata": metadata,
        "spec": body,
    }
    if status is not None:
        obj["status"] = status
    return obj


def secret_object(
    name: str = "worker-0-bmc", *, namespace: str = "metal", version: str = "7", **data: str
) -> dict[str, Any]:
    values = data or {"username": "admin", "password": "s3cret-pw"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": version},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }
