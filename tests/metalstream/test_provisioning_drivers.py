"""BMC addresses and credentials -> Ironic node driver settings (pure, no Ironic)."""

from __future__ import annotations

import re

import pytest

from adapters.ironic.ports import BmcCredentials
from metalstream.provisioning.drivers import BmcDriverMapping

CREDS = BmcCredentials("admin", "S3cret-pw", "7")


def mapped(address: str, *, fake_deploy: bool = False, insecure: bool = False) -> dict[str, object]:
    mapping = BmcDriverMapping(
        fake_deploy=fake_deploy,
        deploy_kernel_url="http://images/ipa.kernel",
        deploy_ramdisk_url="http://images/ipa.initramfs",
        deploy_iso_url="http://images/ipa.iso",
    )
    spec = mapping(address, disable_certificate_verification=insecure, credentials=CREDS)
    return {
        "driver": spec.driver,
        "interfaces": dict(spec.interfaces),
        "driver_info": dict(spec.driver_info),
        "fast": spec.fast_inspect_interface,
        "virtual_media": spec.virtual_media,
    }


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param(
            "ipmi://192.0.2.1:6230?privilegelevel=OPERATOR",
            {
                "driver": "ipmi",
                "interfaces": {"boot": "ipxe", "raid": "no-raid", "inspect": "agent"},
                "driver_info": {
                    "ipmi_port": "6230",
                    "ipmi_username": "admin",
                    "ipmi_password": "S3cret-pw",
                    "ipmi_address": "192.0.2.1",
                    "ipmi_priv_level": "OPERATOR",
                    "deploy_kernel": "http://images/ipa.kernel",
                    "deploy_ramdisk": "http://images/ipa.initramfs",
                },
                "fast": None,
                "virtual_media": False,
            },
            id="ipmi",
        ),
        pytest.param(
            "redfish://bmc.example:8443/redfish/v1/Systems/1",
            {
                "driver": "redfish",
                "interfaces": {"boot": "ipxe", "firmware": "redfish", "raid": "redfish", "inspect": "agent"},
                "driver_info": {
                    "redfish_username": "admin",
                    "redfish_password": "S3cret-pw",
                    "redfish_address": "https://bmc.example:8443",
                    "redfish_system_id": "/redfish/v1/Systems/1",
                    "deploy_kernel": "http://images/ipa.kernel",
                    "deploy_ramdisk": "http://images/ipa.initramfs",
                },
                "fast": "redfish",
                "virtual_media": False,
            },
            id="redfish",
        ),
        pytest.param(
            "redfish-virtualmedia+http://10.0.0.5/redfish/v1/Systems/abc",
            {
                "driver": "redfish",
                "interfaces": {
                    "boot": "redfish-virtual-media",
                    "firmware": "redfish",
                    "raid": "redfish",
                    "inspect": "agent",
                },
                "driver_info": {
                    "redfish_username": "admin",
                    "redfish_password": "S3cret-pw",
                    "redfish_address": "http://10.0.0.5",
                    "redfish_system_id": "/redfish/v1/Systems/abc",
                    "deploy_iso": "http://images/ipa.iso",
                },
                "fast": "redfish",
                "virtual_media": True,
            },
            id="redfish-virtual-media",
        ),
    ],
)
def test_metal3_addresses_map_to_ironic_drivers(address: str, expected: dict[str, object]) -> None:
    assert mapped(address) == expected


def test_disabling_certificate_verification_reaches_driver_info() -> None:
    info = mapped("redfish://bmc.example/redfish/v1/Systems/1", insecure=True)["driver_info"]
    assert isinstance(info, dict)
    assert info["redfish_verify_ca"] is False


def test_fake_deploy_keeps_the_bmc_protocol_for_power_and_fakes_deploy_and_boot() -> None:
    redfish = mapped("redfish+http://127.0.0.1:8000/redfish/v1/Systems/1", fake_deploy=True)
    assert redfish["driver"] == "fake-hardware"
    interfaces = redfish["interfaces"]
    assert isinstance(interfaces, dict)
    assert {k: interfaces[k] for k in ("power", "management", "inspect", "deploy", "boot")} == {
        "power": "redfish",
        "management": "redfish",
        "inspect": "redfish",
        "deploy": "fake",
        "boot": "fake",
    }
    info = redfish["driver_info"]
    assert isinstance(info, dict)
    assert info["redfish_verify_ca"] is False, (
        "Ironic 39 fails Redfish validation on fake-hardware without it"
    )
    assert "deploy_kernel" not in info
    ipmi = mapped("ipmi://192.0.2.1", fake_deploy=True)
    assert isinstance(ipmi["interfaces"], dict)
    assert (ipmi["interfaces"]["power"], ipmi["interfaces"]["inspect"]) == ("ipmitool", "fake")


def test_fake_hardware_addresses_need_fake_deploy() -> None:
    spec = mapped("fake-hardware://node-1", fake_deploy=True)
    assert spec["driver"] == "fake-hardware"
    assert spec["driver_info"] == {}
    with pytest.raises(ValueError, match="Unknown BMC type 'fake-hardware'"):
        mapped("fake-hardware://node-1")


@pytest.mark.parametrize(
    ("address", "credentials", "message"),
    [
        pytest.param(
            "ilo4://192.0.2.1", CREDS, "Unknown BMC type 'ilo4' for address ilo4://192.0.2.1", id="removed"
        ),
        pytest.param("", CREDS, "missing BMC address", id="empty"),
        pytest.param(
            "ipmi://bad_host",
            CREDS,
            "failed to parse BMC address information: BMC address hostname/IP : [bad_host] is invalid",
            id="bad-host",
        ),
        pytest.param(
            "ipmi://192.0.2.1",
            BmcCredentials("admin", "", "1"),
            "Validation error with BMC credentials: Missing BMC connection details 'password' in credentials",
            id="no-password",
        ),
        pytest.param(
            "bogus://S3cret-pw@192.0.2.1",
            CREDS,
            "Unknown BMC type 'bogus' for address bogus://192.0.2.1",
            id="password-in-address",
        ),
    ],
)
def test_unusable_addresses_raise_value_error_with_metal3s_message(
    address: str, credentials: BmcCredentials, message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$") as raised:
        BmcDriverMapping()(address, disable_certificate_verification=False, credentials=credentials)
    assert raised.value.__cause__ is None
    assert "S3cret-pw" not in str(raised.value)


def test_driver_specs_do_not_show_credentials() -> None:
    spec = BmcDriverMapping()("ipmi://192.0.2.1", disable_certificate_verification=False, credentials=CREDS)
    assert "S3cret-pw" not in repr(spec)
    assert "S3cret-pw" not in repr(BmcDriverMapping())
