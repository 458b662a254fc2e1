from __future__ import annotations

import pytest
from msgspec.structs import replace

from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import (
    BMCDetails,
    HardwareRAIDVolume,
    HostSpec,
    Image,
    RAIDConfig,
    RootDeviceHints,
    SoftwareRAIDVolume,
)
from tests.core.aggregates.gwt import given
from tests.core.aggregates.histories import (
    IMAGE,
    SECRET,
    SPEC,
    apply,
    available_host,
    create,
    detached_host,
    inspecting_host,
    provisioned_host,
    registering_host,
)

SOFT_1 = SoftwareRAIDVolume(level="1")

INVALID = [
    pytest.param(
        replace(SPEC, online=False, disable_power_off=True),
        "online-with-disablePowerOff",
        id="online false with disablePowerOff",
    ),
    pytest.param(replace(SPEC, image=Image(url="")), "image-url", id="image without url"),
    pytest.param(
        replace(SPEC, image=replace(IMAGE, checksum=None)), "image-checksum", id="qcow2 without checksum"
    ),
    pytest.param(
        replace(SPEC, image=Image(url="oci://quay.io/os/image:1", checksum="abc")),
        "image-checksum",
        id="oci image with a checksum",
    ),
    pytest.param(
        replace(
            SPEC,
            raid=RAIDConfig(
                hardware_raid_volumes=(HardwareRAIDVolume(level="1"),), software_raid_volumes=(SOFT_1,)
            ),
        ),
        "raid-exclusive",
        id="hardware and software RAID together",
    ),
    pytest.param(
        replace(SPEC, raid=RAIDConfig(software_raid_volumes=(SOFT_1, SOFT_1, SOFT_1))),
        "software-raid",
        id="three software RAID volumes",
    ),
    pytest.param(
        replace(SPEC, root_device_hints=RootDeviceHints(device_name="sda")),
        "root-device-name",
        id="root device name that is not a /dev path",
    ),
]


@pytest.mark.parametrize(("spec", "rule"), INVALID)
def test_host_cannot_be_created_with_an_invalid_spec(spec: HostSpec, rule: str) -> None:
    given().when(create(spec)).then_rejected(rule=rule)


@pytest.mark.parametrize(("spec", "rule"), INVALID)
def test_host_spec_cannot_be_changed_to_an_invalid_one(spec: HostSpec, rule: str) -> None:
    given(available_host()).when(apply(spec, available_host())).then_rejected(rule=rule)


VALID_IMAGES = [
    pytest.param(Image(url="oci://quay.io/os/image:1"), id="oci without checksum"),
    pytest.param(Image(url="http://192.0.2.1/live.iso", format="live-iso"), id="live-iso without checksum"),
    pytest.param(IMAGE, id="qcow2 with checksum"),
]


@pytest.mark.parametrize("image", VALID_IMAGES)
def test_image_spec_metal3_accepts_is_accepted(image: Image) -> None:
    spec = replace(SPEC, image=image, online=False)

    given(available_host()).when(apply(spec, available_host())).then(ev.SpecChanged(generation=2, spec=spec))


def test_empty_hardware_raid_list_clears_raid_and_is_accepted() -> None:
    spec = replace(SPEC, raid=RAIDConfig(hardware_raid_volumes=(), software_raid_volumes=(SOFT_1,)))

    given(registering_host()).when(apply(spec, registering_host())).then(
        ev.SpecChanged(generation=2, spec=spec)
    )


NEW_ADDRESS = BMCDetails(address="ipmi://192.0.2.77", credentials_name=SECRET)


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(registering_host(), id="registering"),
        pytest.param(detached_host(), id="detached"),
        pytest.param(detached_host(available_host()), id="detached while available"),
    ],
)
def test_bmc_address_may_change_while_registering_or_detached(history: list[Event]) -> None:
    state = given(history).state
    spec = replace(state.spec, bmc=NEW_ADDRESS)

    given(history).when(apply(spec, history)).then(ev.SpecChanged(generation=state.generation + 1, spec=spec))


@pytest.mark.parametrize(
    "history",
    [
        pytest.param(inspecting_host(), id="inspecting"),
        pytest.param(available_host(), id="available"),
        pytest.param(provisioned_host(), id="provisioned"),
    ],
)
def test_bmc_address_cannot_change_after_registration(history: list[Event]) -> None:
    spec = replace(given(history).state.spec, bmc=NEW_ADDRESS)

    given(history).when(apply(spec, history)).then_rejected(rule="bmc-address-immutable")


def test_boot_mac_address_cannot_change_once_set() -> None:
    spec = replace(SPEC, boot_mac_address="52:54:00:ff:ff:ff")

    given(registering_host()).when(apply(spec, registering_host())).then_rejected(rule="boot-mac-immutable")


def test_boot_mac_address_can_be_set_when_it_was_empty() -> None:
    history = registering_host(replace(SPEC, boot_mac_address=None))

    given(history).when(apply(SPEC, history)).then(ev.SpecChanged(generation=2, spec=SPEC))


def test_rejected_spec_change_names_the_current_state() -> None:
    spec = replace(SPEC, boot_mac_address="52:54:00:ff:ff:ff")

    rejection = (
        given(available_host()).when(apply(spec, available_host())).then_rejected(rule="boot-mac-immutable")
    )

    assert rejection.state == "available"
    assert "bootMACAddress" in str(rejection)
