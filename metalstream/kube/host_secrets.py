"""The provisioner's ``HostSecrets`` read from Kubernetes Secrets.

The BareMetalHost names its Secrets; the provisioner needs their values when it talks to Ironic
(credentials for ``driver_info``, user/network/meta data for the config drive). Values are read
when needed and never kept, logged or put in an error: a problem names the Secret and the key.
Keys and fallbacks are Metal3's: ``username``/``password`` (trimmed), ``userData`` or ``value``,
``networkData`` or ``value`` and ``metaData`` or ``value`` (YAML or JSON).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import yaml

from adapters.ironic.ports import BmcCredentials
from adapters.k8s.secret_values import SecretValueError, secret_text

SecretReader = Callable[[str, str], Awaitable[Mapping[str, Any] | None]]
"""``(namespace, name) -> Secret object or None``: a GET on the API server."""


def _text(secret: Mapping[str, Any], namespace: str, name: str, *keys: str) -> str | None:
    return secret_text(secret, *keys, what=f"Secret {namespace}/{name}")


def _document(secret: Mapping[str, Any], namespace: str, name: str, key: str) -> Mapping[str, Any] | None:
    text = _text(secret, namespace, name, key, "value")
    if text is None:
        return None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        msg = f"Secret {namespace}/{name}: key {key!r} is not YAML or JSON"
        raise SecretValueError(msg) from None
    if not isinstance(parsed, Mapping):
        msg = f"Secret {namespace}/{name}: key {key!r} must hold a mapping"
        raise SecretValueError(msg)
    return parsed


__all__ = ["KubeHostSecrets", "SecretValueError"]


class KubeHostSecrets:
    """``adapters.ironic.ports.HostSecrets`` on Kubernetes Secrets."""

    def __init__(self, read: SecretReader) -> None:
        self._read = read

    async def bmc_credentials(self, namespace: str, name: str) -> BmcCredentials | None:
        secret = await self._read(namespace, name)
        if secret is None:
            return None
        username = _text(secret, namespace, name, "username") or ""
        password = _text(secret, namespace, name, "password") or ""
        version = str(secret.get("metadata", {}).get("resourceVersion") or "")
        return BmcCredentials(username.strip(), password.strip(), version)

    async def user_data(self, namespace: str, name: str) -> str | None:
        secret = await self._read(namespace, name)
        return None if secret is None else _text(secret, namespace, name, "userData", "value")

    async def network_data(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        secret = await self._read(namespace, name)
        return None if secret is None else _document(secret, namespace, name, "networkData")

    async def meta_data(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        secret = await self._read(namespace, name)
        return None if secret is None else _document(secret, namespace, name, "metaData")
