"""BMC address + credentials -> Ironic node driver settings: where the BMC and Ironic adapters meet.

The Ironic adapter may not import the BMC adapter (import-linter independence contract), so the
provisioner asks a ``DriverMapping`` port and this module implements it with the BMC adapter's
address parser, which reads ``spec.bmc.address`` exactly as Metal3 does. An address Metal3 would
refuse raises ``ValueError`` with Metal3's message ("Unknown BMC type ..."), which the provisioner
records as a registration error; so do credentials missing a username or password.

Two deviations from Metal3's table, both Metal3's own runtime choices:

* ``inspect_interface`` is ``agent`` (inspection by the ramdisk) and the BMC's out-of-band
  interface (``redfish``) is offered for ``inspectionMode: fast`` only.
* ``fake_deploy`` (dev and test stacks without an agent image) keeps the real protocol for power,
  management and out-of-band inspection and fakes deploy and boot, through
  ``adapters.ironic.ports.with_fake_deploy`` (which also carries the Ironic 39 Redfish validation
  workaround). In that mode ``fake-hardware://<anything>`` addresses give nodes with no BMC.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from adapters.bmc import addresses
from adapters.bmc import errors as bmc_errors
from adapters.bmc.credentials import Credentials
from adapters.ironic.capacity import VIRTUAL_MEDIA_BOOT
from adapters.ironic.ports import FAKE_HARDWARE, BmcCredentials, NodeDriverSpec, with_fake_deploy

FAKE_HARDWARE_SCHEME: Final = "fake-hardware"
"""Address scheme of hosts with no BMC, accepted only with ``fake_deploy``."""
AGENT_INSPECT: Final = "agent"


class BmcDriverMapping:
    """``DriverMapping`` from Metal3's BMC address schemes (``adapters.bmc.addresses``)."""

    def __init__(
        self,
        *,
        fake_deploy: bool = False,
        deploy_kernel_url: str | None = None,
        deploy_ramdisk_url: str | None = None,
        deploy_iso_url: str | None = None,
    ) -> None:
        self.fake_deploy = fake_deploy
        self._deploy_kernel = deploy_kernel_url
        self._deploy_ramdisk = deploy_ramdisk_url
        self._deploy_iso = deploy_iso_url

    def __call__(
        self, address: str, *, disable_certificate_verification: bool, credentials: BmcCredentials
    ) -> NodeDriverSpec:
        """The node settings for one host; ``ValueError`` with a message for the user if unusable."""
        try:
            if self.fake_deploy and address.partition("://")[0].lower() == FAKE_HARDWARE_SCHEME:
                Credentials(credentials.username, credentials.password).validate()
                return with_fake_deploy(NodeDriverSpec(driver=FAKE_HARDWARE))
            details = addresses.parse(
                address, disable_certificate_verification=disable_certificate_verification
            )
            checked = Credentials(credentials.username, credentials.password).validate()
        except bmc_errors.BmcConfigurationError as e:
            # Messages name the address, never the Secret's content; scrub anyway in case the
            # password also appears in the address text.
            raise ValueError(bmc_errors.scrub(e.message, (credentials.password,))) from None
        spec = self._spec(details, checked)
        return with_fake_deploy(spec) if self.fake_deploy else spec

    def _spec(self, details: addresses.BmcAccessDetails, credentials: Credentials) -> NodeDriverSpec:
        interfaces: dict[str, str] = {
            kind: name for kind, name in msgspec.structs.asdict(details.interfaces).items() if name
        }
        fast = interfaces.pop("inspect", None) if details.capabilities.supports_fast_inspection else None
        interfaces.pop("inspect", None)
        if not self.fake_deploy:
            interfaces["inspect"] = AGENT_INSPECT
        virtual_media = details.interfaces.boot in VIRTUAL_MEDIA_BOOT
        driver_info: dict[str, Any] = dict(details.driver_info(credentials))
        if self.fake_deploy:
            pass  # fake boot loads no agent
        elif virtual_media and self._deploy_iso:
            driver_info["deploy_iso"] = self._deploy_iso
        elif self._deploy_kernel and self._deploy_ramdisk:
            driver_info["deploy_kernel"] = self._deploy_kernel
            driver_info["deploy_ramdisk"] = self._deploy_ramdisk
        return NodeDriverSpec(
            driver=details.driver,
            interfaces=interfaces,
            driver_info=driver_info,
            fast_inspect_interface=fast,
            virtual_media=virtual_media,
        )

    def __repr__(self) -> str:
        return f"BmcDriverMapping(fake_deploy={self.fake_deploy})"


__all__ = ["FAKE_HARDWARE_SCHEME", "BmcDriverMapping"]
