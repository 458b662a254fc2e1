"""The client against an Ironic that enforces HTTP basic auth and serves TLS only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import pytest

from adapters.ironic.client import IronicClient, IronicEndpoint
from adapters.ironic.errors import IronicAuthError, IronicTransientError
from metalstream.devstack.ironic import BasicAuth, IronicHarness
from tests.adapters.ironic.conftest import run_in_thread

USER: Final = "metal3"
PASSWORD: Final = "Ironic-basic-pw-4e1b"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IronicHarness]:
    harness = IronicHarness(
        state_dir=tmp_path_factory.mktemp("ironic-secured"),
        basic_auth=BasicAuth(USER, PASSWORD),
        tls=True,
        start_timeout=120,
        ipmitool=False,
    )
    run_in_thread(harness.start())
    try:
        yield harness
    finally:
        run_in_thread(harness.stop())


def endpoint(harness: IronicHarness, **options: object) -> IronicEndpoint:
    settings: dict[str, object] = {
        "url": harness.url,
        "username": USER,
        "password": PASSWORD,
        "ca_file": str(harness.ca_file),
        "timeout": 10.0,
    }
    settings.update(options)
    return IronicEndpoint(**settings)  # type: ignore[arg-type]


async def test_right_credentials_and_ca_file_work(secured: IronicHarness) -> None:
    assert secured.url.startswith("https://")
    async with IronicClient(endpoint(secured)) as client:
        drivers = {d.name for d in await client.list_drivers()}
        assert {"fake-hardware", "redfish"} <= drivers
        assert client.api_version == "1.110"


async def test_wrong_password_is_an_auth_error_without_the_password(secured: IronicHarness) -> None:
    async with IronicClient(endpoint(secured, password="wrong-password-0")) as client:
        with pytest.raises(IronicAuthError) as raised:
            await client.list_drivers()
    assert raised.value.status == 401
    assert "wrong-password-0" not in str(raised.value)
    assert PASSWORD not in repr(endpoint(secured))


async def test_missing_credentials_are_refused(secured: IronicHarness) -> None:
    async with IronicClient(endpoint(secured, username=None, password=None)) as client:
        with pytest.raises(IronicAuthError):
            await client.list_drivers()


async def test_unknown_ca_fails_verification_and_insecure_skips_it(secured: IronicHarness) -> None:
    async with IronicClient(endpoint(secured, ca_file=None)) as client:
        with pytest.raises(IronicTransientError, match="TLS verification"):
            await client.list_drivers()
    async with IronicClient(endpoint(secured, ca_file=None, insecure=True)) as client:
        assert await client.list_drivers()
