"""Host Secrets held in memory: BMC credentials and user/network/meta data for dev stacks and tests.

In production the provisioner reads the Kubernetes Secrets a BareMetalHost names (the Kubernetes
adapter implements ``adapters.ironic.ports.HostSecrets``). Without a cluster (the dev stack, the
end-to-end tests, the benchmarks) this static store plays that part: values are set in code, and
every change of a host's credentials gets a new version, as a Secret's ``resourceVersion`` would,
so the provisioner knows to send them to Ironic again.

Credentials are trimmed like Metal3 trims a Secret's values; nothing here logs or shows them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from adapters.ironic.ports import BmcCredentials


class StaticHostSecrets:
    """``HostSecrets`` from dictionaries, keyed by ``(namespace, secret name)``."""

    def __init__(self) -> None:
        self._credentials: dict[tuple[str, str], BmcCredentials] = {}
        self._user_data: dict[tuple[str, str], str] = {}
        self._network_data: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._meta_data: dict[tuple[str, str], Mapping[str, Any]] = {}
        self._versions = itertools.count(1)

    # -- setting ---------------------------------------------------------------------------------

    def set_bmc_credentials(self, namespace: str, name: str, *, username: str, password: str) -> str:
        """Create or replace the credentials Secret ``namespace/name``; returns its new version."""
        version = str(next(self._versions))
        self._credentials[(namespace, name)] = BmcCredentials(username.strip(), password.strip(), version)
        return version

    def set_user_data(self, namespace: str, name: str, user_data: str) -> None:
        self._user_data[(namespace, name)] = user_data

    def set_network_data(self, namespace: str, name: str, network_data: Mapping[str, Any]) -> None:
        self._network_data[(namespace, name)] = network_data

    def set_meta_data(self, namespace: str, name: str, meta_data: Mapping[str, Any]) -> None:
        self._meta_data[(namespace, name)] = meta_data

    def delete(self, namespace: str, name: str) -> None:
        """Remove every value stored under ``namespace/name``."""
        key = (namespace, name)
        for values in (self._credentials, self._user_data, self._network_data, self._meta_data):
            values.pop(key, None)

    # -- HostSecrets -----------------------------------------------------------------------------

    async def bmc_credentials(self, namespace: str, name: str) -> BmcCredentials | None:
        return self._credentials.get((namespace, name))

    async def user_data(self, namespace: str, name: str) -> str | None:
        return self._user_data.get((namespace, name))

    async def network_data(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._network_data.get((namespace, name))

    async def meta_data(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._meta_data.get((namespace, name))

    def __repr__(self) -> str:
        return f"StaticHostSecrets({len(self._credentials)} credentials)"


__all__ = ["StaticHostSecrets"]
