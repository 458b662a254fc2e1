"""Pure mappings: instance_info, root device hints, config drive, inventory, capacity, driver specs."""

from __future__ import annotations

import pytest

from adapters.ironic import instance_info, inventory, wire
from adapters.ironic.capacity import Capacity, is_busy
from adapters.ironic.ports import BmcCredentials, NodeDriverSpec, with_fake_deploy
from core.aggregates.host_state import HostState
from core.events.host_values import CustomDeploy, HostSpec, Image, RootDeviceHints, SecretRef


def host(**spec: object) -> HostState:
    return HostState(exists=True, namespace="ns", name="h-0", uid="uid-1", spec=HostSpec(**spec))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param(
            Image(url="http://i/a.qcow2", checksum="abc", format="qcow2"),
            {"image_source": "http://i/a.qcow2", "image_checksum": "abc", "image_disk_format": "qcow2"},
            id="legacy-checksum",
        ),
        pytest.param(
            Image(url="http://i/a", checksum="f" * 64, checksum_type="sha256"),
            {"image_source": "http://i/a", "image_os_hash_algo": "sha256", "image_os_hash_value": "f" * 64},
            id="hash-algo",
        ),
        pytest.param(
            Image(url="http://i/a", checksum="http://i/a.sha", checksum_type="auto"),
            {"image_source": "http://i/a", "image_checksum": "http://i/a.sha"},
            id="auto",
        ),
        pytest.param(
            Image(url="http://i/live.iso", format="live-iso"), {"boot_iso": "http://i/live.iso"}, id="live"
        ),
    ],
)
def test_image_fields(image: Image, expected: dict[str, str]) -> None:
    assert instance_info.image_fields(image) == expected


def test_root_device_hints_use_ironic_operators() -> None:
    hints = RootDeviceHints(
        device_name="/dev/disk/by-path/pci-0000:00:1f.2-ata-1",
        hctl="1:0:0:0",
        model="Fast SSD",
        vendor="ACME",
        serial_number="S123",
        min_size_gigabytes=100,
        wwn="0x5000",
        wwn_with_extension="0x5000e",
        wwn_vendor_extension="0x1",
        rotational=False,
    )
    assert instance_info.root_device_hints(hints) == {
        "by_path": "s== /dev/disk/by-path/pci-0000:00:1f.2-ata-1",
        "hctl": "s== 1:0:0:0",
        "model": "<in> Fast SSD",
        "vendor": "<in> ACME",
        "serial": "s== S123",
        "size": ">= 100",
        "wwn": "s== 0x5000",
        "wwn_with_extension": "s== 0x5000e",
        "wwn_vendor_extension": "s== 0x1",
        "rotational": "false",
    }
    assert instance_info.root_device_hints(RootDeviceHints(device_name="/dev/sda")) == {
        "name": "s== /dev/sda"
    }


def test_instance_info_capabilities_deploy_interface_and_steps() -> None:
    state = host(
        image=Image(url="http://i/a", checksum="c"),
        boot_mode="UEFISecureBoot",
        root_device_hints=RootDeviceHints(min_size_gigabytes=10),
    )
    info = instance_info.instance_info(state)
    assert info["capabilities"] == {"secure_boot": "true"}
    assert info["root_device"] == {"size": ">= 10"}
    assert instance_info.boot_mode_capability("UEFISecureBoot") == "boot_mode:uefi,secure_boot:true"
    assert instance_info.boot_mode_capability("legacy") == "boot_mode:bios"
    assert instance_info.deploy_interface(state, "direct") == "direct"
    custom = host(custom_deploy=CustomDeploy(method="install_coreos"))
    assert instance_info.deploy_interface(custom, None) == "custom-agent"
    assert instance_info.deploy_steps(custom) == [
        wire.Step(interface="deploy", step="install_coreos", priority=80, args={})
    ]
    live = host(image=Image(url="http://i/l.iso", format="live-iso"))
    assert instance_info.deploy_interface(live, None) == "ramdisk"
    assert instance_info.config_drive(live, user_data="x", network_data=None, meta_overlay=None) is None


def test_config_drive_meta_data_defaults_are_overlaid_by_the_secret() -> None:
    state = host(user_data=SecretRef(name="ud"))
    drive = instance_info.config_drive(
        state,
        user_data="#cloud-config\n",
        network_data={"links": []},
        meta_overlay={"name": "custom", "x": 1},
    )
    assert drive is not None
    assert drive.meta_data == {
        "uuid": "uid-1",
        "metal3-namespace": "ns",
        "metal3-name": "h-0",
        "local-hostname": "h-0",
        "local_hostname": "h-0",
        "name": "custom",
        "x": 1,
    }
    assert drive.network_data == {"links": []}
    assert "cloud-config" not in repr(drive)


def test_agent_inventory_maps_to_metal3_hardware_details() -> None:
    found = {
        "cpu": {
            "model_name": "Xeon",
            "frequency": "2400.0",
            "count": 16,
            "architecture": "x86_64",
            "flags": ["vmx", "aes"],
        },
        "memory": {"total": 34359738368, "physical_mb": 32768},
        "interfaces": [
            {"name": "eth1", "mac_address": "52:54:00:00:00:02", "ipv4_address": None, "speed_mbps": 1000},
            {
                "name": "eth0",
                "mac_address": "52:54:00:00:00:01",
                "ipv4_address": "192.0.2.5",
                "vendor": "0x8086",
                "product": "0x1572",
                "speed_mbps": 10000,
            },
        ],
        "disks": [
            {
                "name": "/dev/sda",
                "size": 107374182400,
                "rotational": True,
                "model": "HD",
                "serial": "S1",
                "hctl": "0:0:0:0",
            },
            {"name": "/dev/nvme0n1", "size": 2000, "rotational": False, "by_path": "/dev/disk/by-path/x"},
        ],
        "system_vendor": {
            "manufacturer": "ACME",
            "product_name": "Box",
            "serial_number": "SN1",
            "firmware": {"vendor": "ACME", "version": "1.2", "build_date": "2024-01-01"},
        },
        "boot": {"current_boot_mode": "uefi", "pxe_interface": "52:54:00:00:00:01"},
        "hostname": "node-1",
    }
    details = inventory.hardware_details(found)
    assert details.cpu.count == 16
    assert details.cpu.clock_megahertz == 2400.0
    assert details.cpu.flags == ("aes", "vmx")
    assert details.ram_mebibytes == 32768
    assert [(n.name, n.pxe, n.speed_gbps, n.model) for n in details.nics] == [
        ("eth0", True, 10, "0x8086 0x1572"),
        ("eth1", False, 1, ""),
    ]
    assert [(s.name, s.type, s.alternate_names) for s in details.storage] == [
        ("/dev/nvme0n1", "NVME", ("/dev/disk/by-path/x",)),
        ("/dev/sda", "HDD", ()),
    ]
    assert details.system_vendor.manufacturer == "ACME"
    assert details.firmware.bios.version == "1.2"
    assert details.hostname == "node-1"
    assert (
        inventory.from_properties({"memory_mb": 4096, "cpu_arch": "aarch64", "local_gb": 10})
        .storage[0]
        .size_bytes
        == 10 * 1024**3
    )


async def test_capacity_counts_busy_nodes_except_virtual_media_ones() -> None:
    nodes = [
        wire.Node(uuid="a", provision_state="deploying", boot_interface="ipxe"),
        wire.Node(uuid="b", provision_state="clean wait", boot_interface="redfish-virtual-media"),
        wire.Node(uuid="c", provision_state="available"),
    ]
    assert [is_busy(n) for n in nodes] == [True, False, False]

    async def listing() -> list[wire.Node]:
        return nodes

    capacity = Capacity(listing, limit=2, ttl=60)
    assert await capacity.admit("a")  # already busy
    assert await capacity.admit("c")
    assert not await capacity.admit("d")
    assert await capacity.admit("c")


def test_fake_deploy_keeps_the_real_bmc_protocol_and_hides_secrets() -> None:
    creds = BmcCredentials("admin", "s3cret-pw", "7")
    spec = NodeDriverSpec(
        driver="redfish",
        interfaces={"boot": "ipxe", "inspect": "redfish", "raid": "redfish"},
        driver_info={
            "redfish_address": "http://bmc",
            "redfish_password": creds.password,
            "redfish_username": "admin",
        },
        fast_inspect_interface="redfish",
    )
    fake = with_fake_deploy(spec)
    assert fake.driver == "fake-hardware"
    assert fake.interfaces["power"] == "redfish"
    assert fake.interfaces["inspect"] == "redfish"
    assert (fake.interfaces["deploy"], fake.interfaces["boot"], fake.interfaces["raid"]) == (
        "fake",
        "fake",
        "fake",
    )
    assert fake.driver_info["redfish_verify_ca"] is False
    assert "s3cret-pw" not in repr(fake)
    assert "s3cret-pw" not in repr(creds)
    assert fake.public_driver_info() == {"redfish_address": "http://bmc", "redfish_verify_ca": False}
