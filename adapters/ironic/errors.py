"""What can go wrong talking to Ironic, as types the provisioner can act on.

``IronicError`` is the root. Callers decide by type, never by message:

* ``IronicTransientError``: Ironic could not be reached in time or failed on its side (timeouts,
  refused connections, 5xx, 503 "no conductor"). Try again later; not the host's fault.
* ``IronicConflict``: HTTP 409. ``IronicNodeLocked`` is the common case (another operation holds
  the node's lock); the client already retried it a few times before raising.
* ``IronicNotFound``: HTTP 404. For a node this means Ironic forgot it: register it again.
* ``IronicClientError``: any other 4xx. Ironic refused the request (validation, a state that does
  not allow the action); the message is Ironic's ``faultstring``, truncated.
* ``IronicAuthError`` (a ``IronicClientError``): HTTP 401/403, our credentials toward Ironic.
* ``IronicVersionError``: the server is older than the oldest API version we speak.

Messages never carry credentials: every text taken from Ironic goes through ``redact``, which
masks the values of ``*_password`` keys and any secret the request itself sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

MAX_MESSAGE_CHARS: Final = 1000
"""Ironic error text is cut after this many characters before it reaches errors and logs."""

_PASSWORD_ITEM: Final = re.compile(
    r"""(?P<key>["']?[\w-]*(?:password|passwd|secret|token)["']?\s*[:=]\s*)"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;}\]]+)""",
    re.IGNORECASE,
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with secret values masked and cut to ``MAX_MESSAGE_CHARS``."""
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")

    def mask(match: re.Match[str]) -> str:
        value = match.group("value")
        quote = value[0] if value[:1] in ("'", '"') else ""
        return f"{match.group('key')}{quote}***{quote}"

    text = _PASSWORD_ITEM.sub(mask, text)
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


class IronicError(Exception):
    """Root of every error the Ironic adapter raises."""

    def __init__(self, message: str, *, status: int | None = None, method: str = "", path: str = "") -> None:
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        where = f"{method} {path}".strip()
        prefix = f"Ironic {where}" if where else "Ironic"
        shown = f"{prefix}: HTTP {status}: {message}" if status is not None else f"{prefix}: {message}"
        super().__init__(shown)


class IronicTransientError(IronicError):
    """Ironic was unreachable, too slow, or failed on its side (timeout, refused, 5xx)."""


class IronicConflict(IronicError):
    """HTTP 409: the request conflicts with the node's current state or another object."""


class IronicNodeLocked(IronicConflict):
    """HTTP 409 NodeLocked: another operation holds the node; retried by the client already."""


class IronicNotFound(IronicError):
    """HTTP 404: the node (or port, or inventory) does not exist in Ironic."""


class IronicClientError(IronicError):
    """Any other HTTP 4xx: Ironic refused the request; ``message`` is Ironic's explanation."""


class IronicAuthError(IronicClientError):
    """HTTP 401/403: the basic-auth credentials toward Ironic are wrong or missing."""


class IronicVersionError(IronicError):
    """The server's newest API version is older than the oldest one this client supports."""


__all__ = [
    "MAX_MESSAGE_CHARS",
    "IronicAuthError",
    "IronicClientError",
    "IronicConflict",
    "IronicError",
    "IronicNodeLocked",
    "IronicNotFound",
    "IronicTransientError",
    "IronicVersionError",
    "redact",
]
