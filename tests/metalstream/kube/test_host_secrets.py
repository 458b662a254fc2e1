from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from metalstream.kube.host_secrets import KubeHostSecrets, SecretValueError


def _secret(version: str = "41", **data: str) -> dict[str, Any]:
    return {
        "metadata": {"resourceVersion": version},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def _reader(secrets: Mapping[tuple[str, str], dict[str, Any]]) -> Any:
    async def read(namespace: str, name: str) -> Mapping[str, Any] | None:
        return secrets.get((namespace, name))

    return read


async def test_bmc_credentials_are_trimmed_and_carry_the_secret_version() -> None:
    secrets = KubeHostSecrets(_reader({("ns", "bmc"): _secret(username=" admin\n", password="pw\n")}))
    creds = await secrets.bmc_credentials("ns", "bmc")
    assert creds is not None
    assert (creds.username, creds.password, creds.version) == ("admin", "pw", "41")
    assert "pw" not in repr(creds)
    assert await secrets.bmc_credentials("ns", "missing") is None


async def test_config_drive_data_uses_metal3_keys_and_fallbacks() -> None:
    secrets = KubeHostSecrets(
        _reader(
            {
                ("ns", "ud"): _secret(userData="#cloud-config\n"),
                ("ns", "ud-value"): _secret(value="#!/bin/sh\n"),
                ("ns", "nd"): _secret(networkData="links: []\nnetworks: []\n"),
                ("ns", "md"): _secret(value='{"local-hostname": "w0"}'),
            }
        )
    )
    assert await secrets.user_data("ns", "ud") == "#cloud-config\n"
    assert await secrets.user_data("ns", "ud-value") == "#!/bin/sh\n"
    assert await secrets.network_data("ns", "nd") == {"links": [], "networks": []}
    assert await secrets.meta_data("ns", "md") == {"local-hostname": "w0"}


async def test_a_bad_value_names_the_secret_and_key_never_the_content() -> None:
    bad = {
        ("ns", "nd"): _secret(networkData="- just\n- a list with s3cret\n"),
        ("ns", "raw"): {"metadata": {}, "data": {"userData": "%%% not base64 s3cret"}},
    }
    secrets = KubeHostSecrets(_reader(bad))
    with pytest.raises(SecretValueError, match=r"ns/nd: key 'networkData' must hold a mapping") as caught:
        await secrets.network_data("ns", "nd")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(SecretValueError, match="not base64") as caught:
        await secrets.user_data("ns", "raw")
    assert "s3cret" not in str(caught.value)
