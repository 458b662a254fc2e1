"""The ``ironic`` settings group and what the composition root builds from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from metalstream import settings
from metalstream.provisioning import running


def test_ironic_defaults_are_metal3s() -> None:
    ironic = settings.load({}).ironic
    assert (ironic.provisioning_limit, ironic.short_requeue, ironic.long_requeue) == (20, 3.0, 10.0)
    assert ironic.max_provisioning_retries == 5
    assert ironic.fake_deploy is False
    timing = running.provisioner_settings(ironic)
    assert (timing.short_requeue, timing.long_requeue, timing.provisioning_limit) == (3.0, 10.0, 20)


def test_ironic_settings_come_from_the_environment() -> None:
    config = settings.load(
        {
            "METALSTREAM_IRONIC_URL": "https://ironic.example:6385/v1/",
            "METALSTREAM_IRONIC_INSECURE": "true",
            "METALSTREAM_IRONIC_PROVISIONING_LIMIT": "5",
            "METALSTREAM_IRONIC_SHORT_REQUEUE": "0.5",
            "METALSTREAM_IRONIC_CONCURRENCY": "3",
            "METALSTREAM_IRONIC_FAKE_DEPLOY": "1",
        }
    )
    assert config.ironic.insecure is True
    assert config.ironic.provisioning_limit == 5
    assert config.ironic.short_requeue == 0.5
    assert config.ironic.concurrency == 3
    assert running.driver_mapping(config.ironic).fake_deploy is True


def test_the_ironic_password_never_shows() -> None:
    config = settings.load(
        {"METALSTREAM_IRONIC_USERNAME": "metal3", "METALSTREAM_IRONIC_PASSWORD": "Ironic-pw-1c9d"}
    )
    assert config.ironic.password == "Ironic-pw-1c9d"
    for shown in (repr(config), str(config), repr(config.ironic), f"{config.ironic}"):
        assert "Ironic-pw-1c9d" not in shown
        assert "metal3" not in shown
    assert "password='***'" in repr(config.ironic)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        pytest.param(
            {"METALSTREAM_IRONIC_PASSWORD": "a", "METALSTREAM_IRONIC_PASSWORD_FILE": "/f"},
            "password or password_file",
            id="both-password-sources",
        ),
        pytest.param({"METALSTREAM_IRONIC_URL": "ironic:6385"}, "http:// or https://", id="no-scheme"),
        pytest.param({"METALSTREAM_IRONIC_CONCURRENCY": "0"}, "concurrency", id="no-workers"),
        pytest.param({"METALSTREAM_IRONIC_TIMEOUT": "soon"}, "METALSTREAM_IRONIC_TIMEOUT", id="not-a-number"),
    ],
)
def test_unusable_ironic_settings_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(settings.SettingsError, match=message):
        settings.load(environ)


async def test_the_endpoint_reads_basic_auth_from_files_and_drops_the_v1_suffix(tmp_path: Path) -> None:
    (tmp_path / "username").write_text("metal3\n")
    (tmp_path / "password").write_text("Ironic-pw-77\n")
    config = settings.load(
        {
            "METALSTREAM_IRONIC_URL": "https://ironic.example:6385/v1",
            "METALSTREAM_IRONIC_USERNAME_FILE": str(tmp_path / "username"),
            "METALSTREAM_IRONIC_PASSWORD_FILE": str(tmp_path / "password"),
            "METALSTREAM_IRONIC_CA_FILE": "/etc/ironic/ca.crt",
            "METALSTREAM_IRONIC_TIMEOUT": "12",
        }
    )
    endpoint = await running.ironic_endpoint(config.ironic)
    assert endpoint.url == "https://ironic.example:6385"
    assert (endpoint.username, endpoint.password) == ("metal3", "Ironic-pw-77")
    assert (endpoint.ca_file, endpoint.insecure, endpoint.timeout) == ("/etc/ironic/ca.crt", False, 12.0)
    assert "Ironic-pw-77" not in repr(endpoint)


async def test_an_unreadable_password_file_names_the_variable(tmp_path: Path) -> None:
    config = settings.load(
        {
            "METALSTREAM_IRONIC_USERNAME": "metal3",
            "METALSTREAM_IRONIC_PASSWORD_FILE": str(tmp_path / "missing"),
        }
    )
    with pytest.raises(settings.SettingsError, match="METALSTREAM_IRONIC_PASSWORD_FILE"):
        await running.ironic_endpoint(config.ironic)


async def test_a_password_needs_a_username() -> None:
    config = settings.load({"METALSTREAM_IRONIC_PASSWORD": "pw"})
    with pytest.raises(settings.SettingsError, match="without a username"):
        await running.ironic_endpoint(config.ironic)


def test_the_reference_documents_the_ironic_group() -> None:
    text = settings.reference()
    for field in settings.IronicSettings.__struct_fields__:
        assert f"METALSTREAM_IRONIC_{field.upper()}" in text
