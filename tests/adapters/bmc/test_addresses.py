from __future__ import annotations

import msgspec
import pytest

from adapters.bmc import addresses, errors
from adapters.bmc.addresses import BmcProtocol
from adapters.bmc.credentials import Credentials

CREDS = Credentials("user", "pass-word")


@pytest.mark.parametrize(
    ("address", "bmc_type", "hostname", "port", "path"),
    [
        pytest.param("192.168.122.1", "ipmi", "192.168.122.1", "", "", id="bare-ipv4"),
        pytest.param("192.168.122.1:6233", "ipmi", "192.168.122.1", "6233", "", id="bare-ipv4-port"),
        pytest.param("my.favoritebmc.com", "ipmi", "my.favoritebmc.com", "", "", id="bare-dns"),
        pytest.param("[fe80::1]:623", "ipmi", "fe80::1", "623", "", id="bare-ipv6-port"),
        pytest.param(
            "[fe80::fc33:62ff:fe83:8a76]:6233",
            "ipmi",
            "fe80::fc33:62ff:fe83:8a76",
            "6233",
            "",
            id="bare-ipv6",
        ),
        pytest.param("ipmi://192.168.122.1:6233", "ipmi", "192.168.122.1", "6233", "", id="ipmi-url"),
        pytest.param("ipmi:192.168.122.1", "ipmi", "192.168.122.1", "", "", id="ipmi-opaque"),
        pytest.param("ipmi:192.168.122.1:6233", "ipmi", "192.168.122.1", "6233", "", id="ipmi-opaque-port"),
        pytest.param("IPMI://10.0.0.1", "ipmi", "10.0.0.1", "", "", id="scheme-case"),
        pytest.param("ipmi://[2001:db8::5]:1623", "ipmi", "2001:db8::5", "1623", "", id="ipmi-ipv6"),
        pytest.param(
            "libvirt://192.168.122.1:6233/?abc=def", "libvirt", "192.168.122.1", "6233", "/", id="libvirt"
        ),
        pytest.param("redfish://192.168.122.1", "redfish", "192.168.122.1", "", "", id="redfish"),
        pytest.param(
            "redfish://192.168.122.1:6233/foo", "redfish", "192.168.122.1", "6233", "/foo", id="redfish-path"
        ),
        pytest.param("redfish:192.168.122.1", "redfish", "192.168.122.1", "", "", id="redfish-opaque"),
        pytest.param(
            "redfish://[fe80::fc33:62ff:fe83:8a76]:6233/foo",
            "redfish",
            "fe80::fc33:62ff:fe83:8a76",
            "6233",
            "/foo",
            id="redfish-ipv6-port",
        ),
        pytest.param(
            "redfish://[2001:db8::1]/redfish/v1/Systems/1",
            "redfish",
            "2001:db8::1",
            "",
            "/redfish/v1/Systems/1",
            id="redfish-ipv6",
        ),
        pytest.param(
            "redfish:///redfish/v1/Systems/1", "redfish", "", "", "/redfish/v1/Systems/1", id="empty-host"
        ),
        # Not an IP for Go's net.ParseIP, but every label is a valid DNS label.
        pytest.param("ipmi://256.1.1.1", "ipmi", "256.1.1.1", "", "", id="ipv4-out-of-range-is-a-dns-name"),
    ],
)
def test_addresses_parse_like_metal3(
    address: str, bmc_type: str, hostname: str, port: str, path: str
) -> None:
    access = addresses.parse(address)

    assert (access.bmc_type, access.hostname, access.port, access.path) == (bmc_type, hostname, port, path)


@pytest.mark.parametrize(
    ("address", "driver", "boot", "other", "caps"),
    [
        pytest.param(
            "ipmi://192.168.122.1:6233",
            "ipmi",
            "ipxe",
            {"raid": "no-raid"},
            (False, False, False, True, False),
            id="ipmi",
        ),
        pytest.param(
            "libvirt://192.168.122.1",
            "ipmi",
            "ipxe",
            {"raid": "no-raid"},
            (True, False, False, True, False),
            id="libvirt",
        ),
        *[
            pytest.param(
                f"{scheme}://192.168.122.1",
                "redfish",
                "ipxe",
                {"firmware": "redfish", "inspect": "redfish", "raid": "redfish"},
                (False, True, False, True, True),
                id=scheme,
            )
            for scheme in (
                "redfish",
                "redfish+http",
                "redfish+https",
                "ilo5-redfish",
                "ilo5-redfish+http",
                "ilo5-redfish+https",
            )
        ],
        *[
            pytest.param(
                f"{scheme}://192.168.122.1",
                "redfish",
                "redfish-virtual-media",
                {"firmware": "redfish", "inspect": "redfish", "raid": "redfish"},
                (False, True, True, False, True),
                id=scheme,
            )
            for scheme in (
                "redfish-virtualmedia",
                "redfish-virtualmedia+http",
                "redfish-virtualmedia+https",
                "ilo5-virtualmedia",
                "ilo5-virtualmedia+http",
                "ilo5-virtualmedia+https",
            )
        ],
        *[
            pytest.param(
                f"{scheme}://192.168.122.1",
                "redfish",
                "redfish-https",
                {"firmware": "redfish", "inspect": "redfish", "raid": "redfish"},
                (False, True, True, False, True),
                id=scheme,
            )
            for scheme in ("redfish-uefihttp", "redfish-uefihttp+http", "redfish-uefihttp+https")
        ],
        *[
            pytest.param(
                f"{scheme}://192.168.122.1",
                "idrac",
                "ipxe",
                {
                    "bios": "idrac-redfish",
                    "firmware": "redfish",
                    "inspect": "redfish",
                    "management": "idrac-redfish",
                    "power": "idrac-redfish",
                    "raid": "idrac-redfish",
                    "vendor": "idrac-redfish",
                },
                (False, True, False, True, True),
                id=scheme,
            )
            for scheme in ("idrac-redfish", "idrac-redfish+http", "idrac-redfish+https")
        ],
        *[
            pytest.param(
                f"{scheme}://192.168.122.1",
                "idrac",
                "idrac-redfish-virtual-media",
                {
                    "bios": "idrac-redfish",
                    "firmware": "redfish",
                    "inspect": "redfish",
                    "management": "idrac-redfish",
                    "power": "idrac-redfish",
                    "raid": "idrac-redfish",
                    "vendor": "idrac-redfish",
                },
                (False, True, True, False, True),
                id=scheme,
            )
            for scheme in ("idrac-virtualmedia", "idrac-virtualmedia+http", "idrac-virtualmedia+https")
        ],
    ],
)
def test_each_scheme_selects_metal3s_driver_interfaces_and_capabilities(
    address: str, driver: str, boot: str, other: dict[str, str], caps: tuple[bool, ...]
) -> None:
    access = addresses.parse(address)

    expected = addresses.Interfaces(boot=boot, **other)
    assert access.driver == driver
    assert access.interfaces == expected
    c = access.capabilities
    assert (
        c.needs_mac,
        c.supports_secure_boot,
        c.supports_iso_preprovisioning_image,
        c.requires_provisioning_network,
        c.supports_fast_inspection,
    ) == caps
    assert access.protocol is (BmcProtocol.IPMI if driver == "ipmi" else BmcProtocol.REDFISH)


@pytest.mark.parametrize(
    ("address", "insecure", "expected"),
    [
        pytest.param(
            "ipmi://192.168.122.1",
            False,
            {
                "ipmi_port": "623",
                "ipmi_username": "user",
                "ipmi_password": "pass-word",
                "ipmi_address": "192.168.122.1",
                "ipmi_priv_level": "ADMINISTRATOR",
            },
            id="ipmi-defaults",
        ),
        pytest.param(
            "ipmi://192.168.122.1:6233?privilegelevel=OPERATOR",
            True,
            {
                "ipmi_port": "6233",
                "ipmi_username": "user",
                "ipmi_password": "pass-word",
                "ipmi_address": "192.168.122.1",
                "ipmi_priv_level": "OPERATOR",
                "ipmi_verify_ca": False,
            },
            id="ipmi-priv-port-insecure",
        ),
        pytest.param(
            "[fe80::1]:623",
            False,
            {
                "ipmi_port": "623",
                "ipmi_username": "user",
                "ipmi_password": "pass-word",
                "ipmi_address": "fe80::1",
                "ipmi_priv_level": "ADMINISTRATOR",
            },
            id="ipmi-ipv6",
        ),
        pytest.param(
            "redfish://192.168.122.1/redfish/v1/foo/bar",
            False,
            {
                "redfish_address": "https://192.168.122.1",
                "redfish_system_id": "/redfish/v1/foo/bar",
                "redfish_username": "user",
                "redfish_password": "pass-word",
            },
            id="redfish",
        ),
        pytest.param(
            "redfish+http://192.168.122.1/foo/bar",
            True,
            {
                "redfish_address": "http://192.168.122.1",
                "redfish_system_id": "/foo/bar",
                "redfish_username": "user",
                "redfish_password": "pass-word",
                "redfish_verify_ca": False,
            },
            id="redfish-http-insecure",
        ),
        pytest.param(
            "redfish://192.168.122.1:8080/foo/bar",
            False,
            {
                "redfish_address": "https://192.168.122.1:8080",
                "redfish_system_id": "/foo/bar",
                "redfish_username": "user",
                "redfish_password": "pass-word",
            },
            id="redfish-port",
        ),
        pytest.param(
            "redfish://[2001:db8::1]/redfish/v1/Systems/1",
            False,
            {
                "redfish_address": "https://[2001:db8::1]",
                "redfish_system_id": "/redfish/v1/Systems/1",
                "redfish_username": "user",
                "redfish_password": "pass-word",
            },
            id="redfish-ipv6",
        ),
        pytest.param(
            "redfish://[fe80::fc33:62ff:fe83:8a76]:8080/foo",
            False,
            {
                "redfish_address": "https://[fe80::fc33:62ff:fe83:8a76]:8080",
                "redfish_system_id": "/foo",
                "redfish_username": "user",
                "redfish_password": "pass-word",
            },
            id="redfish-ipv6-port",
        ),
        pytest.param(
            "redfish+https://192.168.122.1/",
            False,
            {
                "redfish_address": "https://192.168.122.1",
                "redfish_username": "user",
                "redfish_password": "pass-word",
            },
            id="redfish-root-path-has-no-system-id",
        ),
        pytest.param(
            "redfish-virtualmedia://192.168.122.1/redfish/v1/",
            False,
            {
                "redfish_address": "https://192.168.122.1",
                "redfish_username": "user",
                "redfish_password": "pass-word",
            },
            id="virtualmedia-service-root",
        ),
        pytest.param(
            "redfish-uefihttp://192.168.122.1",
            False,
            {
                "redfish_address": "https://192.168.122.1",
                "redfish_system_id": "",
                "redfish_username": "user",
                "redfish_password": "pass-word",
            },
            id="uefihttp-always-sets-system-id",
        ),
        pytest.param(
            "idrac-virtualmedia+https://192.168.122.1/redfish/v1/Systems/System.Embedded.1",
            True,
            {
                "redfish_address": "https://192.168.122.1",
                "redfish_system_id": "/redfish/v1/Systems/System.Embedded.1",
                "redfish_username": "user",
                "redfish_password": "pass-word",
                "redfish_verify_ca": False,
            },
            id="idrac-virtualmedia",
        ),
    ],
)
def test_driver_info_matches_metal3(address: str, *, insecure: bool, expected: dict[str, object]) -> None:
    access = addresses.parse(address, disable_certificate_verification=insecure)

    assert dict(access.driver_info(CREDS)) == expected


@pytest.mark.parametrize(
    ("address", "level"),
    [
        pytest.param("ipmi://10.0.0.1", "ADMINISTRATOR", id="default"),
        pytest.param("ipmi://10.0.0.1?privilegelevel=USER", "USER", id="user"),
        pytest.param("ipmi://10.0.0.1?privilegelevel=CALLBACK&x=1", "CALLBACK", id="other-keys"),
        pytest.param("ipmi:10.0.0.1:623?privilegelevel=OPERATOR", "OPERATOR", id="opaque-host"),
        pytest.param("ipmi://10.0.0.1?privilegelevel=USER&bad=%zz", "ADMINISTRATOR", id="unparseable-query"),
        pytest.param("ipmi://10.0.0.1?privilegelevel=USER;x=1", "ADMINISTRATOR", id="semicolon-query"),
        pytest.param("ipmi://10.0.0.1?PrivilegeLevel=USER", "ADMINISTRATOR", id="key-is-case-sensitive"),
    ],
)
def test_privilege_level_comes_from_the_query_with_metal3s_fallback(address: str, level: str) -> None:
    assert addresses.parse(address).privilege_level == level


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("ipmi://10.0.0.1?privilegelevel=ROOT", id="unknown-level"),
        pytest.param("ipmi://10.0.0.1?privilegelevel=operator", id="lower-case"),
        pytest.param("ipmi://10.0.0.1?privilegelevel=", id="empty"),
    ],
)
def test_privilege_levels_ironic_would_refuse_are_rejected_early(address: str) -> None:
    with pytest.raises(errors.InvalidBmcAddressError, match="invalid privilegelevel") as caught:
        addresses.parse(address)

    assert "ADMINISTRATOR, CALLBACK, OPERATOR, USER" in str(caught.value)


@pytest.mark.parametrize(
    ("address", "message"),
    [
        pytest.param("", "missing BMC address", id="empty"),
        pytest.param(
            "my-.examplehost.com",
            "failed to parse BMC address information: "
            "BMC address hostname/IP : [my-.examplehost.com] is invalid",
            id="bad-dns-label",
        ),
        pytest.param(
            "[fe80::fc33:62ff:fe33:8xff]:6223",
            "BMC address hostname/IP : [fe80::fc33:62ff:fe33:8xff] is invalid",
            id="bad-ipv6",
        ),
        pytest.param(
            "[fe80::fc33:62ff:fe83:8a76]",
            'parse "[fe80::fc33:62ff:fe83:8a76]": first path segment in URL cannot contain colon',
            id="ipv6-without-port",
        ),
        pytest.param("ipmi://[fe80::1", "missing ']' in host", id="unclosed-bracket"),
        pytest.param("ipmi://10.0.0.1:abc", 'invalid port ":abc" after host', id="bad-port"),
        pytest.param("192.168.1.1:abc", "[192.168.1.1:abc] is invalid", id="bare-bad-port"),
        pytest.param("redfish://bad_host/redfish/v1", "[bad_host] is invalid", id="underscore"),
        pytest.param("ipmi://bad host", "[ipmi://bad host] is invalid", id="space"),
        pytest.param("ipmi://fe80::1%eth0", 'invalid port ":1%eth0" after host', id="unbracketed-ipv6-zone"),
        # Go refuses these URLs, then reads the whole string as host:port, whose host is invalid.
        pytest.param("redfish://10.0.0.1/%zz", "[redfish://10.0.0.1/%zz] is invalid", id="bad-escape"),
        pytest.param("redfish://a\x7fb", "[redfish://a\x7fb] is invalid", id="control-char"),
        pytest.param("%zz", "[%zz] is invalid", id="bad-escape-without-colon"),
        # A bare host:port has no query in Go's reading: the query becomes part of the port.
        pytest.param(
            "10.0.0.1:623?privilegelevel=OPERATOR",
            "[10.0.0.1:623?privilegelevel=OPERATOR] is invalid",
            id="bare-host-with-query",
        ),
    ],
)
def test_bad_addresses_fail_with_metal3s_message(address: str, message: str) -> None:
    with pytest.raises(errors.InvalidBmcAddressError) as caught:
        addresses.parse(address)

    assert message in str(caught.value)
    assert caught.value.kind == "permanent"


@pytest.mark.parametrize(
    ("address", "bmc_type"),
    [
        pytest.param("foo://192.168.122.1", "foo", id="unknown"),
        pytest.param("idrac://192.168.122.1", "idrac", id="removed-idrac-wsman"),
        pytest.param("ibmc://192.168.122.1", "ibmc", id="removed-ibmc"),
        pytest.param("ilo4://192.168.122.1", "ilo4", id="removed-ilo4"),
        pytest.param("ilo4-virtualmedia://192.168.122.1", "ilo4-virtualmedia", id="removed-ilo4-vmedia"),
        pytest.param("ilo5://192.168.122.1", "ilo5", id="removed-ilo5"),
        pytest.param("irmc://192.168.122.1", "irmc", id="removed-irmc"),
        pytest.param("redfish+ftp://192.168.122.1", "redfish+ftp", id="unknown-transport"),
        pytest.param("libvirt+http://192.168.122.1", "libvirt+http", id="libvirt-has-no-transport-variants"),
        # Go reads "name:port" with a DNS name as scheme "name" and opaque "port", as Metal3 does.
        pytest.param("bmc.example.com:623", "bmc.example.com", id="dns-name-with-port"),
        pytest.param("//192.168.122.1", "", id="no-scheme-with-authority"),
    ],
)
def test_unknown_and_removed_schemes_fail_with_unknown_bmc_type(address: str, bmc_type: str) -> None:
    with pytest.raises(errors.UnknownBmcTypeError) as caught:
        addresses.parse(address)

    assert str(caught.value) == f"Unknown BMC type '{bmc_type}' for address {address}"
    assert caught.value.bmc_type == bmc_type


def test_removed_schemes_are_all_unknown() -> None:
    for scheme in addresses.REMOVED_SCHEMES:
        assert scheme not in addresses.SCHEMES


def test_userinfo_in_an_address_never_reaches_details_or_errors() -> None:
    access = addresses.parse("redfish+http://root:calvin@10.0.0.5:8000/redfish/v1/Systems/1")

    assert "calvin" not in msgspec.json.encode(access).decode()
    assert access.redfish_address == "http://10.0.0.5:8000"
    with pytest.raises(errors.UnknownBmcTypeError) as caught:
        addresses.parse("nope://root:calvin@10.0.0.5/")
    assert "calvin" not in str(caught.value)


def test_access_details_are_frozen_and_encode_without_credentials() -> None:
    access = addresses.parse("ipmi://10.0.0.1:6230")

    assert access.ipmi_port == 6230
    with pytest.raises(AttributeError):
        access.port = "1"  # type: ignore[misc]
    decoded = msgspec.json.decode(msgspec.json.encode(access), type=addresses.BmcAccessDetails)
    assert decoded == access


def test_driver_info_repr_masks_credentials() -> None:
    info = addresses.parse("redfish://10.0.0.1/redfish/v1/Systems/1").driver_info(CREDS)

    assert "pass-word" not in repr(info)
    assert "pass-word" not in str(info)
    assert "'user'" not in repr(info)
    assert info["redfish_password"] == "pass-word"
