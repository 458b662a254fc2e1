"""An Ironic client that records provision-state targets and can "die" right after a deploy starts.

Crash-recovery tests use it to stop a provisioner at the worst moment (the deploy was sent, nothing
was recorded yet) against the real Ironic, then check a new provisioner does not deploy again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from adapters.ironic import wire
from adapters.ironic.client import IronicClient


class SpyClient(IronicClient):
    """Records provision-state targets; can hang forever right after starting a deploy."""

    def __init__(self, *args: object, hang_after_deploy: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.targets: list[str] = []
        self.deploy_started = asyncio.Event()
        self._hang = hang_after_deploy

    async def set_provision_state(
        self,
        ident: str,
        target: wire.ProvisionTarget,
        *,
        configdrive: wire.ConfigDrive | None = None,
        clean_steps: Sequence[wire.Step] | None = None,
        deploy_steps: Sequence[wire.Step] | None = None,
        service_steps: Sequence[wire.Step] | None = None,
    ) -> None:
        await super().set_provision_state(
            ident,
            target,
            configdrive=configdrive,
            clean_steps=clean_steps,
            deploy_steps=deploy_steps,
            service_steps=service_steps,
        )
        self.targets.append(target)
        if target == "active":
            self.deploy_started.set()
            if self._hang:
                await asyncio.Event().wait()  # the process "dies" here: never returns
