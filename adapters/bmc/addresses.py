"""BMC addresses: what ``spec.bmc.address`` means, read exactly as Metal3 reads it.

An address selects three things at once: how metalstream itself talks to the BMC (Redfish or
IPMI), which Ironic hardware type and interfaces a node gets, and what the host may do (secure
boot, ISO boot, out-of-band inspection, whether a boot MAC or a provisioning network is needed).
``parse`` turns the string into a frozen ``BmcAccessDetails`` holding all of that; nothing in it is
secret, so it may go into events. Credentials only meet it in ``driver_info``.

Parsing follows BMO's ``pkg/hardwareutils/bmc``: Go URL rules (``_gourl``), bare ``host[:port]``
defaults to ``ipmi://``, opaque ``scheme:host`` is read as ``scheme://host``, the host must be an
IP or a DNS name, and unknown or removed schemes fail with Metal3's "Unknown BMC type" text.

One deliberate addition: an IPMI ``?privilegelevel=`` value that Ironic would refuse (anything but
ADMINISTRATOR, CALLBACK, OPERATOR, USER) is rejected here, where Metal3 passes it on and the node
fails Ironic validation later. An unparseable query still means ADMINISTRATOR, as in Metal3.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from typing import Final

import msgspec

from adapters.bmc import _gourl, errors
from adapters.bmc.credentials import Credentials

IPMI_DEFAULT_PORT: Final = "623"
DEFAULT_PRIVILEGE_LEVEL: Final = "ADMINISTRATOR"
PRIVILEGE_LEVELS: Final = ("ADMINISTRATOR", "CALLBACK", "OPERATOR", "USER")
"""What Ironic's ipmitool driver accepts as ``ipmi_priv_level``."""

REMOVED_SCHEMES: Final = frozenset({"idrac", "ibmc", "ilo4", "ilo4-virtualmedia", "ilo5", "irmc"})
"""Schemes Metal3 supported once; they now fail like any unknown scheme."""

_DNS_NAME: Final = re.compile(
    r"^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])\.)*"
    r"([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\-]{0,61}[A-Za-z0-9])$"
)

_REDFISH: Final = "redfish"
_IDRAC: Final = "idrac"
_IDRAC_REDFISH: Final = "idrac-redfish"


class BmcProtocol(enum.StrEnum):
    """The protocol metalstream's own client speaks to this BMC."""

    IPMI = "ipmi"
    REDFISH = "redfish"


class Interfaces(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Ironic interface names to set on the node; ``""`` leaves Ironic's default for the driver."""

    bios: str = ""
    boot: str = ""
    firmware: str = ""
    inspect: str = ""
    management: str = ""
    power: str = ""
    raid: str = ""
    vendor: str = ""


class Capabilities(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What the BMC type allows or requires of the host (BMO ``AccessDetails`` predicates)."""

    needs_mac: bool
    """A ``bootMACAddress`` is required even with inspection enabled (VirtualBMC)."""
    supports_secure_boot: bool
    supports_iso_preprovisioning_image: bool
    requires_provisioning_network: bool
    supports_fast_inspection: bool
    """Out-of-band (``inspectionMode: fast``) inspection through the inspect interface."""


class BmcAccessDetails(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How to reach one BMC and how Ironic should drive it. Holds no credentials."""

    address: str
    """The address as given (userinfo, if any, removed)."""
    bmc_type: str
    """The scheme as written, lower-cased: ``ipmi``, ``libvirt``, ``redfish+http``, ..."""
    driver: str
    """Ironic hardware type: ``ipmi``, ``redfish`` or ``idrac``."""
    protocol: BmcProtocol
    hostname: str
    """Host without port and without IPv6 brackets; empty if the address has none."""
    port: str
    """Port digits as written, ``""`` when absent."""
    path: str
    interfaces: Interfaces
    capabilities: Capabilities
    disable_certificate_verification: bool = False
    privilege_level: str = ""
    """IPMI only: the ``?privilegelevel=`` value, default ``ADMINISTRATOR``."""
    redfish_address: str = ""
    """Redfish only: ``<http|https>://host[:port]``, the base URL of the service."""
    redfish_system_id: str | None = None
    """Redfish only: the system path from the address, ``None`` for "the only system"."""

    @property
    def ipmi_port(self) -> int:
        """IPMI only: the UDP port, 623 when the address has none."""
        return int(self.port or IPMI_DEFAULT_PORT)

    @property
    def verify_ca(self) -> bool:
        return not self.disable_certificate_verification

    def driver_info(self, credentials: Credentials) -> DriverInfo:
        """The Ironic ``driver_info`` for this BMC, as Metal3 builds it (secrets included)."""
        username, password = credentials.username.reveal(), credentials.password.reveal()
        info = DriverInfo()
        if self.protocol is BmcProtocol.IPMI:
            info["ipmi_port"] = self.port or IPMI_DEFAULT_PORT
            info["ipmi_username"] = username
            info["ipmi_password"] = password
            info["ipmi_address"] = self.hostname
            info["ipmi_priv_level"] = self.privilege_level
            if self.disable_certificate_verification:
                info["ipmi_verify_ca"] = False
            return info
        info["redfish_username"] = username
        info["redfish_password"] = password
        info["redfish_address"] = self.redfish_address
        if self.bmc_type.partition("+")[0] == "redfish-uefihttp":
            info["redfish_system_id"] = self.path
        elif self.redfish_system_id is not None:
            info["redfish_system_id"] = self.redfish_system_id
        if self.disable_certificate_verification:
            info["redfish_verify_ca"] = False
        return info


class DriverInfo(dict[str, str | bool]):
    """Ironic ``driver_info``. Its ``repr`` masks every ``*_password`` and ``*_username`` value."""

    def __repr__(self) -> str:
        shown = {k: ("***" if k.endswith(("_password", "_username")) else v) for k, v in self.items()}
        return f"DriverInfo({shown!r})"

    __str__ = __repr__


class _Kind(msgspec.Struct, frozen=True, kw_only=True):
    driver: str
    protocol: BmcProtocol
    interfaces: Interfaces
    capabilities: Capabilities


_IPMI_INTERFACES: Final = Interfaces(boot="ipxe", raid="no-raid")
_IDRAC_COMMON: Final = {
    "bios": _IDRAC_REDFISH,
    "firmware": _REDFISH,
    "inspect": _REDFISH,
    "management": _IDRAC_REDFISH,
    "power": _IDRAC_REDFISH,
    "raid": _IDRAC_REDFISH,
    "vendor": _IDRAC_REDFISH,
}


def _caps(*, needs_mac: bool = False, redfish: bool, iso: bool) -> Capabilities:
    return Capabilities(
        needs_mac=needs_mac,
        supports_secure_boot=redfish,
        supports_iso_preprovisioning_image=iso,
        requires_provisioning_network=not iso,
        supports_fast_inspection=redfish,
    )


_IPMI: Final = _Kind(
    driver="ipmi",
    protocol=BmcProtocol.IPMI,
    interfaces=_IPMI_INTERFACES,
    capabilities=_caps(redfish=False, iso=False),
)
_LIBVIRT: Final = _Kind(
    driver="ipmi",
    protocol=BmcProtocol.IPMI,
    interfaces=_IPMI_INTERFACES,
    capabilities=_caps(needs_mac=True, redfish=False, iso=False),
)
_REDFISH_PXE: Final = _Kind(
    driver=_REDFISH,
    protocol=BmcProtocol.REDFISH,
    interfaces=Interfaces(boot="ipxe", firmware=_REDFISH, inspect=_REDFISH, raid=_REDFISH),
    capabilities=_caps(redfish=True, iso=False),
)
_REDFISH_VIRTUAL_MEDIA: Final = _Kind(
    driver=_REDFISH,
    protocol=BmcProtocol.REDFISH,
    interfaces=Interfaces(boot="redfish-virtual-media", firmware=_REDFISH, inspect=_REDFISH, raid=_REDFISH),
    capabilities=_caps(redfish=True, iso=True),
)
_REDFISH_UEFI_HTTP: Final = _Kind(
    driver=_REDFISH,
    protocol=BmcProtocol.REDFISH,
    interfaces=Interfaces(boot="redfish-https", firmware=_REDFISH, inspect=_REDFISH, raid=_REDFISH),
    capabilities=_caps(redfish=True, iso=True),
)
_IDRAC_PXE: Final = _Kind(
    driver=_IDRAC,
    protocol=BmcProtocol.REDFISH,
    interfaces=Interfaces(boot="ipxe", **_IDRAC_COMMON),
    capabilities=_caps(redfish=True, iso=False),
)
_IDRAC_VIRTUAL_MEDIA: Final = _Kind(
    driver=_IDRAC,
    protocol=BmcProtocol.REDFISH,
    interfaces=Interfaces(boot="idrac-redfish-virtual-media", **_IDRAC_COMMON),
    capabilities=_caps(redfish=True, iso=True),
)


def _with_http_variants(names: dict[str, _Kind]) -> dict[str, _Kind]:
    table = dict(names)
    for name, kind in names.items():
        table[f"{name}+http"] = kind
        table[f"{name}+https"] = kind
    return table


SCHEMES: Final[dict[str, _Kind]] = {
    "ipmi": _IPMI,
    "libvirt": _LIBVIRT,
    **_with_http_variants(
        {
            "redfish": _REDFISH_PXE,
            "ilo5-redfish": _REDFISH_PXE,
            "idrac-redfish": _IDRAC_PXE,
            "redfish-virtualmedia": _REDFISH_VIRTUAL_MEDIA,
            "ilo5-virtualmedia": _REDFISH_VIRTUAL_MEDIA,
            "redfish-uefihttp": _REDFISH_UEFI_HTTP,
            "idrac-virtualmedia": _IDRAC_VIRTUAL_MEDIA,
        }
    ),
}
"""Every accepted scheme and what it selects (BMO's factory registry)."""


def parse(address: str, *, disable_certificate_verification: bool = False) -> BmcAccessDetails:
    """Parse ``spec.bmc.address`` into access details, or raise a ``BmcConfigurationError``.

    ``disable_certificate_verification`` is ``spec.bmc.disableCertificateVerification``.
    """
    if address == "":
        raise errors.InvalidBmcAddressError("missing BMC address")
    url = parsed_url(address)
    shown = _without_userinfo(address) if url.has_userinfo else address
    kind = SCHEMES.get(url.scheme)
    if kind is None:
        raise errors.UnknownBmcTypeError(shown, url.scheme)
    privilege_level = redfish_address = ""
    system_id: str | None = None
    if kind.protocol is BmcProtocol.IPMI:
        privilege_level = _privilege_level(url.raw_query, shown)
    else:
        scheme = url.scheme.partition("+")[2] or "https"
        redfish_address = f"{scheme}://{url.host}"
        if url.path.strip("/") not in ("", "redfish/v1"):
            system_id = url.path
    return BmcAccessDetails(
        address=shown,
        bmc_type=url.scheme,
        driver=kind.driver,
        protocol=kind.protocol,
        hostname=url.hostname(),
        port=url.port(),
        path=url.path,
        interfaces=kind.interfaces,
        capabilities=kind.capabilities,
        disable_certificate_verification=disable_certificate_verification,
        privilege_level=privilege_level,
        redfish_address=redfish_address,
        redfish_system_id=system_id,
    )


def parsed_url(address: str) -> _gourl.GoURL:
    """BMO's ``GetParsedURL``: the URL Metal3 sees for an address, host validated."""
    try:
        url = _gourl.parse(address)
    except _gourl.GoURLError as e:
        # Not a URL, but maybe a bare host:port, which Go refuses ("first path segment in URL
        # cannot contain colon"). Accept it when net.SplitHostPort does, as BMO does.
        if ":" in address:
            try:
                _gourl.split_host_port_strict(address)
            except ValueError:
                raise errors.InvalidBmcAddressError(f"failed to parse BMC address information: {e}") from None
        url = _gourl.GoURL(scheme="ipmi", host=address)
    else:
        if url.opaque:
            url = _reparse(address.replace(":", "://", 1))
        if not url.scheme and not url.hostname():
            # No scheme at all: the host was read as a path.
            url = _reparse("ipmi://" + address)
    hostname = url.hostname()
    if hostname and not _is_ip(hostname) and not _DNS_NAME.match(hostname):
        raise errors.InvalidBmcAddressError(
            f"failed to parse BMC address information: BMC address hostname/IP : [{hostname}] is invalid"
        )
    return url


def _reparse(address: str) -> _gourl.GoURL:
    try:
        return _gourl.parse(address)
    except _gourl.GoURLError as e:
        raise errors.InvalidBmcAddressError(f"failed to parse BMC address information: {e}") from None


def _is_ip(host: str) -> bool:
    # Go's net.ParseIP: dotted IPv4 or IPv6 without a zone; no leading-zero octets.
    if "%" in host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _privilege_level(raw_query: str, address: str) -> str:
    values, error = _gourl.parse_query(raw_query)
    if error is not None or "privilegelevel" not in values:
        return DEFAULT_PRIVILEGE_LEVEL
    level = values["privilegelevel"][0]
    if level not in PRIVILEGE_LEVELS:
        raise errors.InvalidBmcAddressError(
            f"invalid privilegelevel {_gourl.go_quote(level)} in BMC address {address}: "
            f"use one of {', '.join(PRIVILEGE_LEVELS)}",
            address=address,
        )
    return level


def _without_userinfo(address: str) -> str:
    scheme, sep, rest = address.partition("://")
    if not sep:
        return address
    authority, slash, tail = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{tail}"
