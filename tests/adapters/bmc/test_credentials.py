from __future__ import annotations

import pickle

import msgspec
import pytest

from adapters.bmc import credentials, errors


@pytest.mark.parametrize(
    ("data", "username", "password"),
    [
        pytest.param({"username": b"admin", "password": b"secret"}, "admin", "secret", id="bytes"),
        pytest.param({"username": "admin", "password": "secret"}, "admin", "secret", id="str"),
        pytest.param({"username": b"admin\n", "password": b"  secret\n"}, "admin", "secret", id="trimmed"),
        pytest.param(
            {"username": b"ad min", "password": b"se cret"}, "ad min", "se cret", id="inner-space-kept"
        ),
    ],
)
def test_credentials_from_secret_are_trimmed_like_metal3(
    data: dict[str, bytes | str], username: str, password: str
) -> None:
    creds = credentials.from_secret_data(data)

    assert creds.username.reveal() == username
    assert creds.password.reveal() == password


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            {"password": b"x"},
            "Validation error with BMC credentials: Missing BMC connection detail 'username' in credentials",
            id="no-username",
        ),
        pytest.param(
            {"username": b" \n", "password": b"x"},
            "Validation error with BMC credentials: Missing BMC connection detail 'username' in credentials",
            id="blank-username",
        ),
        pytest.param(
            {"username": b"admin"},
            "Validation error with BMC credentials: Missing BMC connection details 'password' in credentials",
            id="no-password",
        ),
        pytest.param(
            {"username": b"admin", "password": b"\n"},
            "Validation error with BMC credentials: Missing BMC connection details 'password' in credentials",
            id="blank-password",
        ),
    ],
)
def test_missing_values_fail_with_metal3s_message(data: dict[str, bytes | str], message: str) -> None:
    with pytest.raises(errors.CredentialsValidationError) as caught:
        credentials.from_secret_data(data)

    assert str(caught.value) == message
    assert caught.value.kind == "permanent"


def test_credentials_never_show_their_values() -> None:
    creds = credentials.Credentials("root-user", "Sup3r-secret")
    shown = [repr(creds), str(creds), f"{creds}", repr(creds.password), str(creds.username), f"{creds!r}"]

    for text in shown:
        assert "Sup3r-secret" not in text
        assert "root-user" not in text


def test_credentials_refuse_serialisation() -> None:
    creds = credentials.Credentials("root-user", "Sup3r-secret")

    with pytest.raises(TypeError):
        msgspec.json.encode(creds)
    with pytest.raises(TypeError):
        msgspec.json.encode({"password": creds.password})
    with pytest.raises(TypeError):
        pickle.dumps(creds)


def test_credentials_compare_by_value() -> None:
    assert credentials.Credentials("a", "b") == credentials.Credentials("a", "b")
    assert credentials.Credentials("a", "b") != credentials.Credentials("a", "c")
    assert len({credentials.Credentials("a", "b"), credentials.Credentials("a", "b")}) == 1


def test_secret_reference_encodes_without_values() -> None:
    ref = credentials.SecretRef(namespace="metal3", name="bmh-0-bmc-secret")

    assert msgspec.json.encode(ref) == b'{"namespace":"metal3","name":"bmh-0-bmc-secret"}'
