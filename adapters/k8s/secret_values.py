"""Reading values out of a Secret object as the API server serves it (base64 ``data``).

The BareMetalHost controller checks a credentials Secret is usable and the provisioner reads the
values it needs; both decode the same way and both report a bad key by the Secret's and the key's
name, never by its content.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any


class SecretValueError(ValueError):
    """A key of a Secret cannot be used; the message names the Secret and the key, never the value."""


def secret_text(secret: Mapping[str, Any], *keys: str, what: str = "") -> str | None:
    """The first of ``keys`` present in ``secret``'s data, decoded; None when none is present.

    ``what`` names the Secret at the start of errors (e.g. ``Secret metal3/worker-0-bmc``) when the
    caller's own message does not already.
    """
    data = secret.get("data") or {}
    for key in keys:
        raw = data.get(key)
        if raw is None:
            continue
        try:
            return base64.b64decode(raw, validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            msg = f"{what + ': ' if what else ''}key {key!r} is not base64-encoded UTF-8 text"
            raise SecretValueError(msg) from None
    return None
