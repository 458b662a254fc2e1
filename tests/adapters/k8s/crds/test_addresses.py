"""The IP address and subnet patterns accept what Go's parsers print and nothing that is not an address."""

from __future__ import annotations

import ipaddress
import re
from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.k8s.crds.addresses import IP_PATTERN, IPV4_PATTERN, IPV6_PATTERN, SUBNET_PATTERN

IP: Final = re.compile(IP_PATTERN)
IPV4: Final = re.compile(IPV4_PATTERN)
IPV6: Final = re.compile(IPV6_PATTERN)
SUBNET: Final = re.compile(SUBNET_PATTERN)


@given(st.ip_addresses(v=6))
def test_every_ipv6_form_is_accepted(address: ipaddress.IPv6Address) -> None:
    groups = address.exploded.split(":")
    for text in (str(address), address.exploded, ":".join(group.lstrip("0") or "0" for group in groups)):
        if "." not in text:  # IPv4-mapped forms are outside IPAM's IPv6 syntax
            assert IPV6.fullmatch(text), text
            assert IP.fullmatch(text), text
            assert not IPV4.fullmatch(text), text


@given(st.ip_addresses(v=4))
def test_every_ipv4_address_is_accepted(address: ipaddress.IPv4Address) -> None:
    assert IPV4.fullmatch(str(address))
    assert IP.fullmatch(str(address))
    assert not IPV6.fullmatch(str(address))


@given(st.ip_addresses(v=4) | st.ip_addresses(v=6), st.integers(min_value=0, max_value=128))
def test_subnets_take_a_prefix_length_within_the_family(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int
) -> None:
    text = f"{address.compressed}/{prefix}"
    assert bool(SUBNET.fullmatch(text)) == (prefix <= address.max_prefixlen), text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "01.2.3.4",
        "1.2.3.4 ",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        ":::",
        ":1",
        "1:",
        "12345::",
        "g::1",
        "fe80::1%eth0",
        "1.2.3.4/24",
        "aa:bb:cc:dd:ee:ff",
    ],
)
def test_non_addresses_are_refused(text: str) -> None:
    assert not IP.fullmatch(text)


@pytest.mark.parametrize(
    "text", ["10.0.0.0/33", "10.0.0.0", "10.0.0.0/08", "2001:db8::/129", "2001:db8::", "/24"]
)
def test_non_subnets_are_refused(text: str) -> None:
    assert not SUBNET.fullmatch(text)
