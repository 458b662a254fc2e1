"""Discovery of optional API groups against the real API server."""

from __future__ import annotations

import pytest

from adapters.k8s.connection import Connection
from adapters.k8s.discovery import preferred_version
from adapters.k8s.resources import Resource

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60, func_only=True)]


async def test_a_served_group_gives_its_preferred_version(conn: Connection, gadgets: Resource) -> None:
    assert await preferred_version(conn, gadgets.group) == gadgets.version
    assert await preferred_version(conn, "coordination.k8s.io") == "v1"


async def test_a_group_that_is_not_served_gives_none(conn: Connection) -> None:
    assert await preferred_version(conn, "not-installed.metalstream.example") is None
