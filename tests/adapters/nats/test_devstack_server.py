"""The nats-server harness: ready on a free port, restartable on the same port and store."""

from __future__ import annotations

from pathlib import Path

import nats
import pytest

from metalstream.devstack.nats import NatsServer, NatsServerError


def alive(server: NatsServer) -> bool:
    return server.running


async def test_a_restart_keeps_the_port_and_the_store(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats", monitor=True)
    async with server:
        port = server.port
        assert server.monitor_url is not None
        assert alive(server)
        assert "sync_interval: always" in server.config_path.read_text()
        client = await nats.connect(server.url)
        await client.jetstream().add_stream(name="KEEP", subjects=["keep.>"])
        await client.jetstream().publish("keep.1", b"x")
        await client.close()
        await server.stop()
        assert not alive(server)
        await server.start()
        assert server.port == port
        client = await nats.connect(server.url)
        info = await client.jetstream().stream_info("KEEP")
        await client.close()
    assert info.state.messages == 1
    assert not alive(server)


async def test_a_server_that_cannot_start_names_its_log(tmp_path: Path) -> None:
    taken = NatsServer(tmp_path / "first")
    async with taken:
        clash = NatsServer(tmp_path / "second", port=taken.port, ready_timeout=5)
        with pytest.raises(NatsServerError, match=r"nats-server\.log") as raised:
            await clash.start()
    assert "address already in use" in str(raised.value)
    assert not alive(clash)
