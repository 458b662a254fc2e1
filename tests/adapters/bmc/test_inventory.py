from __future__ import annotations

import msgspec

from adapters.bmc import inventory


def test_hardware_details_use_metal3_wire_names_and_omit_empty_fields() -> None:
    details = inventory.HardwareDetails(
        system_vendor=inventory.HardwareSystemVendor(
            manufacturer="Dell", product_name="R640", serial_number="X1"
        ),
        firmware=inventory.Firmware(bios=inventory.BIOS(version="2.1")),
        ram_mebibytes=16384,
        nics=(
            inventory.NIC(
                name="eth0",
                mac="52:54:00:00:00:01",
                speed_gbps=25,
                vlan_id=10,
                pxe=True,
                lldp=inventory.LLDP(switch_id="aa:bb", port_id="Eth1/1"),
                pci_address="0000:01:00.0",
            ),
        ),
        storage=(
            inventory.Storage(
                name="/dev/sda",
                type="SSD",
                size_bytes=10,
                wwn_with_extension="0x1",
                wwn_vendor_extension="0x2",
            ),
        ),
        cpu=inventory.CPU(arch="x86_64", model="Xeon", clock_megahertz=2400.0, count=32),
        hostname="node-1",
    )

    wire = msgspec.json.decode(msgspec.json.encode(details))

    assert wire == {
        "systemVendor": {"manufacturer": "Dell", "productName": "R640", "serialNumber": "X1"},
        "firmware": {"bios": {"version": "2.1"}},
        "ramMebibytes": 16384,
        "nics": [
            {
                "name": "eth0",
                "mac": "52:54:00:00:00:01",
                "speedGbps": 25,
                "vlanId": 10,
                "pxe": True,
                "lldp": {"switchID": "aa:bb", "portID": "Eth1/1"},
                "pciAddress": "0000:01:00.0",
            }
        ],
        "storage": [
            {
                "name": "/dev/sda",
                "type": "SSD",
                "sizeBytes": 10,
                "wwnVendorExtension": "0x2",
                "wwnWithExtension": "0x1",
            }
        ],
        "cpu": {"arch": "x86_64", "model": "Xeon", "clockMegahertz": 2400.0, "count": 32},
        "hostname": "node-1",
    }
    assert msgspec.json.decode(msgspec.json.encode(details), type=inventory.HardwareDetails) == details


def test_redfish_facts_map_like_ironic_inspection() -> None:
    facts = inventory.SystemFacts(
        system_id="/redfish/v1/Systems/1",
        manufacturer="Contoso",
        model="Box 9000",
        serial_number="SN1",
        bios_version="1.2.3",
        hostname="box",
        processor_summary_count=2,
        memory_gib=31.5,
        processors=(
            inventory.ProcessorFacts(
                model="Xeon Gold",
                architecture="x86",
                instruction_set="x86-64",
                max_speed_mhz=3100,
                total_threads=16,
            ),
            inventory.ProcessorFacts(
                model="Xeon Gold", architecture="x86", max_speed_mhz=3000, total_threads=16
            ),
        ),
        nics=(
            inventory.NicFacts(id="NIC.1", mac="52:54:00:AA:BB:CC", speed_mbps=25000),
            inventory.NicFacts(id="NIC.2", mac=None),
        ),
        drives=(
            inventory.DriveFacts(
                name="Disk 0", capacity_bytes=480 * 10**9, media_type="SSD", protocol="SATA"
            ),
            inventory.DriveFacts(
                name="Disk 1", capacity_bytes=10**12, media_type="HDD", manufacturer="Seagate"
            ),
            inventory.DriveFacts(name="NVMe 0", capacity_bytes=2 * 10**12, media_type="SSD", protocol="NVMe"),
        ),
        simple_storage_devices=(inventory.DriveFacts(name="ignored", capacity_bytes=1),),
    )

    details = inventory.hardware_details(facts)

    assert details.cpu == inventory.CPU(arch="x86_64", model="Xeon Gold", clock_megahertz=3100.0, count=32)
    assert details.ram_mebibytes == 32256
    assert details.nics == (inventory.NIC(name="NIC.1", mac="52:54:00:aa:bb:cc", speed_gbps=25),)
    assert [(s.name, s.type, s.rotational, s.size_bytes) for s in details.storage] == [
        ("Disk 0", "SSD", False, 480 * 10**9),
        ("Disk 1", "HDD", True, 10**12),
        ("NVMe 0", "NVME", False, 2 * 10**12),
    ]
    assert details.storage[1].vendor == "Seagate"
    assert details.system_vendor == inventory.HardwareSystemVendor(
        manufacturer="Contoso", product_name="Box 9000", serial_number="SN1"
    )
    assert details.firmware.bios.version == "1.2.3"
    assert details.hostname == "box"


def test_simple_storage_and_summary_are_fallbacks() -> None:
    facts = inventory.SystemFacts(
        system_id="s",
        processor_summary_count=6,
        processors=(inventory.ProcessorFacts(architecture="ARM"),),
        simple_storage_devices=(inventory.DriveFacts(name="sda", capacity_bytes=5),),
    )

    details = inventory.hardware_details(facts)

    assert details.cpu.count == 6
    assert details.cpu.arch == "aarch64"
    assert details.storage == (inventory.Storage(name="sda", size_bytes=5),)


def test_an_empty_system_gives_empty_details() -> None:
    details = inventory.hardware_details(inventory.SystemFacts(system_id="s"))

    assert msgspec.json.encode(details) == b'{"systemVendor":{},"firmware":{"bios":{}},"cpu":{}}'
