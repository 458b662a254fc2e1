"""Names of the Kubernetes resources the adapter reads and writes.

One small value per kind, shared by the CRD declarations (which define them), the informers (which
list and watch them) and the writers (which patch them), so the group/version/plural triple of a
kind is spelled in one place and a typo cannot make a watch and a patch disagree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resource:
    """A served kind: ``group``/``version``/``plural`` as in its REST path, plus its ``kind``."""

    group: str
    """API group; empty for the core group (Secrets, Events)."""
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """``apiVersion`` as written in manifests: ``group/version``, or ``version`` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        """The REST path of the collection, or of one object (and one of its subresources)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{name}"
            if subresource is not None:
                base += f"/{subresource}"
        return base

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


SECRETS = Resource(group="", version="v1", plural="secrets", kind="Secret")
EVENTS = Resource(group="", version="v1", plural="events", kind="Event")
