"""IP address and subnet strings as schema patterns (IPAM's ``IPAddressStr``/``IPSubnetStr`` family).

Patterns rather than CEL ``isIP()``: an address sits inside lists and maps of unbounded size
(``preAllocations``, ``dnsServers``), where a CEL call per entry would blow the API server's
cost budget while a pattern costs nothing to admit. The expressions are built here from an
octet and a hextet so each is readable; they accept exactly the textual forms Go's parsers
produce for plain addresses: dotted-quad IPv4 without leading zeros, and IPv6 in full or
``::``-compressed form (no zone, no embedded IPv4), matching what Metal3's IPAM admits.
"""

from __future__ import annotations

from typing import Final

from adapters.k8s.crds.schema import Schema, string

_OCTET: Final = r"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_HEXTET: Final = r"[0-9a-fA-F]{1,4}"


def _ipv4() -> str:
    return rf"{_OCTET}(\.{_OCTET}){{3}}"


def _hextets(more: str) -> str:
    """One hextet and ``more`` (a regex repetition count) further ':'-prefixed ones."""
    return _HEXTET if more == "0" else rf"{_HEXTET}(:{_HEXTET}){{{more}}}"


def _ipv6() -> str:
    """Eight hextets, or ``left::right`` where the two sides hold at most seven hextets together."""
    forms = [_hextets("7")]
    for left in range(8):
        head = _hextets(str(left - 1)) if left else ""
        room = 7 - left
        tail = f"({_hextets(f'0,{room - 1}')})?" if room else ""
        forms.append(f"{head}::{tail}")
    return "(" + "|".join(f"({form})" for form in forms) + ")"


IPV4_PATTERN: Final = rf"^{_ipv4()}$"
IPV6_PATTERN: Final = rf"^{_ipv6()}$"
IP_PATTERN: Final = rf"^(({_ipv4()})|({_ipv6()}))$"
_V4_PREFIX: Final = r"(3[0-2]|[12]?[0-9])"
_V6_PREFIX: Final = r"(12[0-8]|1[01][0-9]|[0-9]{1,2})"
SUBNET_PATTERN: Final = rf"^(({_ipv4()})/{_V4_PREFIX}|({_ipv6()})/{_V6_PREFIX})$"


def ip_address(*, description: str | None = None) -> Schema:
    """``IPAddressStr``: an IPv4 or IPv6 address."""
    return string(pattern=IP_PATTERN, description=description)


def ipv4_address(*, description: str | None = None) -> Schema:
    return string(pattern=IPV4_PATTERN, description=description)


def ipv6_address(*, description: str | None = None) -> Schema:
    return string(pattern=IPV6_PATTERN, description=description)


def ip_subnet(*, description: str | None = None) -> Schema:
    """``IPSubnetStr``: an address with a prefix length, in CIDR notation."""
    return string(pattern=SUBNET_PATTERN, description=description)
