"""Which version of an optional API group the API server serves, if any.

Some groups metalstream works with belong to other projects and may not be installed (Cluster
API's ``cluster.x-k8s.io`` and ``ipam.cluster.x-k8s.io``), and which of their versions is served
depends on the installed release. Asking the group's discovery document once at start answers
both questions with one request.
"""

from __future__ import annotations

from adapters.k8s import errors
from adapters.k8s.connection import Connection


async def preferred_version(conn: Connection, group: str) -> str | None:
    """The group's preferred served version, or None when the group is not served."""
    try:
        document = await conn.request("GET", f"/apis/{group}")
    except errors.NotFound:
        return None
    version = str((document.get("preferredVersion") or {}).get("version") or "")
    return version or None
