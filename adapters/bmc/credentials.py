"""BMC credentials: read from a Secret's data, trimmed like Metal3, and hard to leak by accident.

Metal3 keeps BMC credentials in a Secret with the keys ``username`` and ``password`` and trims
surrounding whitespace from both, because ``echo "pw" | base64`` adds a trailing newline that is
never part of a real password. We do the same and refuse empty values with Metal3's messages.

The values are held in objects whose ``repr``/``str`` never show them and that msgspec refuses to
encode, so a credential cannot slip into an event, a log line or an error message by being
formatted or serialised along with something else. The only way to the clear text is an explicit
``reveal()`` at the point where a client library needs it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Final, Protocol

import msgspec

from adapters.bmc import errors

USERNAME_KEY: Final = "username"
PASSWORD_KEY: Final = "password"  # noqa: S105 - the Secret key name, not a password


class SecretStr:
    """A string that does not show itself: ``repr``/``str`` print a mask, ``reveal()`` the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The clear text; call only where a client library needs it."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretStr):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("SecretStr", len(self._value)))

    def __repr__(self) -> str:
        return "SecretStr('***')"

    __str__ = __repr__

    def __reduce__(self) -> str:
        msg = "BMC secrets are not picklable"
        raise TypeError(msg)


class Credentials:
    """A BMC username and password. Neither value is ever shown by ``repr`` or ``str``."""

    __slots__ = ("_password", "_username")

    def __init__(self, username: str, password: str) -> None:
        self._username = SecretStr(username)
        self._password = SecretStr(password)

    @property
    def username(self) -> SecretStr:
        return self._username

    @property
    def password(self) -> SecretStr:
        return self._password

    def secrets(self) -> tuple[str, str]:
        """Both clear-text values, for redacting library messages before they become errors."""
        return (self._username.reveal(), self._password.reveal())

    def validate(self) -> Credentials:
        """Return self, or raise Metal3's error for the first missing value."""
        if not self._username:
            raise errors.CredentialsValidationError("Missing BMC connection detail 'username' in credentials")
        if not self._password:
            raise errors.CredentialsValidationError(
                "Missing BMC connection details 'password' in credentials"
            )
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Credentials):
            return NotImplemented
        return self._username == other._username and self._password == other._password

    def __hash__(self) -> int:
        return hash((self._username, self._password))

    def __repr__(self) -> str:
        return "Credentials(username='***', password='***')"

    __str__ = __repr__

    def __reduce__(self) -> str:
        msg = "BMC credentials are not picklable"
        raise TypeError(msg)


def from_secret_data(data: Mapping[str, bytes | str]) -> Credentials:
    """Build validated credentials from a Secret's (already base64-decoded) ``data``.

    Surrounding whitespace is trimmed from both values, as Metal3 does; missing keys count as empty.
    """

    def text(key: str) -> str:
        raw = data.get(key, "")
        value = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        return value.strip()

    return Credentials(text(USERNAME_KEY), text(PASSWORD_KEY)).validate()


class SecretRef(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where a host's BMC credentials live: ``spec.bmc.credentialsName`` in the host's namespace.

    Only the reference goes into events; the values never do.
    """

    namespace: str
    name: str


class CredentialsSource(Protocol):
    """Resolves a Secret reference to credentials (implemented by the Kubernetes adapter)."""

    async def credentials(self, ref: SecretRef) -> Credentials:
        """Load and validate the Secret's ``username``/``password``.

        Raises ``CredentialsValidationError`` when either value is missing.
        """
        ...
