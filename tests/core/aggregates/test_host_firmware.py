"""BIOS settings and firmware updates: declared by HostFirmwareSettings/Components, applied by preparing."""

from __future__ import annotations

import msgspec
import pytest

from core.aggregates import host_commands as cmd
from core.aggregates.hosts import DEFINITION
from core.events import hosts as ev
from core.events.base import Event
from core.events.host_values import FirmwareUpdate, ProvisioningState
from tests.core.aggregates.gwt import given, step
from tests.core.aggregates.histories import NOW, available_host, moved, preparing_host, provisioned_host

PS = ProvisioningState
SETTINGS = {"ProcTurboMode": "Disabled", "BootMode": "Uefi"}
BMC_UPDATE = FirmwareUpdate(component="bmc", url="https://firmware.example/bmc-1.2.bin")
NIC_UPDATE = FirmwareUpdate(component="nic:NIC.Slot.1-1", url="https://firmware.example/nic.bin")


def _apply(
    settings: dict[str, str] | None = None,
    updates: tuple[FirmwareUpdate, ...] = (),
    *,
    settings_generation: int = 1,
    updates_generation: int = 1,
) -> cmd.ApplyFirmwareConfig:
    return cmd.ApplyFirmwareConfig(
        now=NOW,
        settings=SETTINGS if settings is None else settings,
        updates=updates,
        settings_generation=settings_generation,
        updates_generation=updates_generation,
    )


def _changed(
    settings: dict[str, str] | None = None,
    updates: tuple[FirmwareUpdate, ...] = (),
    *,
    settings_generation: int = 1,
    updates_generation: int = 1,
) -> ev.FirmwareConfigChanged:
    return ev.FirmwareConfigChanged(
        settings=SETTINGS if settings is None else settings,
        updates=updates,
        settings_generation=settings_generation,
        updates_generation=updates_generation,
    )


def _prepared(settings: dict[str, str], updates: tuple[FirmwareUpdate, ...] = ()) -> list[Event]:
    return [
        ev.PreparationCompleted(firmware_settings=settings, firmware_updates=updates),
        moved(PS.PREPARING, PS.AVAILABLE, "preparation complete", NOW),
    ]


def test_new_settings_take_an_available_host_through_preparing_and_back() -> None:
    history = step(
        available_host(),
        _apply(updates=(BMC_UPDATE,)),
        _changed(updates=(BMC_UPDATE,)),
        moved(PS.AVAILABLE, PS.PREPARING, "firmware settings or updates changed", NOW),
    )
    history = step(history, cmd.RecordPreparation(now=NOW), *_prepared(SETTINGS, (BMC_UPDATE,)))
    state = given(history).state
    assert state.provisioning_state is PS.AVAILABLE
    assert state.prepared_firmware_settings == SETTINGS
    assert state.prepared_firmware_updates == (BMC_UPDATE,)


def test_unchanged_settings_with_a_newer_generation_do_not_prepare_again() -> None:
    history = [
        *available_host(),
        _changed(),
        moved(PS.AVAILABLE, PS.PREPARING, "x", NOW),
        *_prepared(SETTINGS),
    ]
    given(history).when(_apply(settings_generation=2)).then_nothing()


def test_a_changed_setting_prepares_again() -> None:
    history = [
        *available_host(),
        _changed(),
        moved(PS.AVAILABLE, PS.PREPARING, "x", NOW),
        *_prepared(SETTINGS),
    ]
    changed = {**SETTINGS, "ProcTurboMode": "Enabled"}
    given(history).when(_apply(changed, settings_generation=2)).then(
        _changed(changed, settings_generation=2),
        moved(PS.AVAILABLE, PS.PREPARING, "firmware settings or updates changed", NOW),
    )


def test_preparation_records_what_the_provisioner_applied() -> None:
    """Settings declared while cleaning ran are not marked applied: the host prepares again."""
    history = [*preparing_host(), _changed({"A": "1"})]
    given(history).when(
        cmd.RecordPreparation(now=NOW, firmware_settings={"A": "0"}, firmware_updates=())
    ).then(
        ev.PreparationCompleted(firmware_settings={"A": "0"}),
        moved(PS.PREPARING, PS.AVAILABLE, "preparation complete", NOW),
        moved(PS.AVAILABLE, PS.PREPARING, "firmware settings or updates changed", NOW),
    )


def test_an_older_generation_of_either_object_is_ignored() -> None:
    history = [*provisioned_host(), _changed(settings_generation=3, updates_generation=2)]
    given(history).when(_apply({"A": "1"}, settings_generation=2, updates_generation=2)).then_nothing()
    given(history).when(_apply({"A": "1"}, settings_generation=3, updates_generation=1)).then_nothing()


def test_a_provisioned_host_records_the_declaration_but_stays_provisioned() -> None:
    """Metal3 applies firmware changes to provisioned hosts only by servicing, which is not offered."""
    state = given(provisioned_host()).when(_apply()).then(_changed())
    assert state.provisioning_state is PS.PROVISIONED
    assert state.firmware_settings == SETTINGS


def test_accepted_while_paused_but_preparing_waits_for_resume() -> None:
    history = [*available_host(), ev.Paused()]
    state = given(history).when(_apply()).then(_changed())
    assert state.provisioning_state is PS.AVAILABLE
    given([*history, _changed()]).when(cmd.Resume(now=NOW)).then(
        ev.Resumed(), moved(PS.AVAILABLE, PS.PREPARING, "firmware settings or updates changed", NOW)
    )


@pytest.mark.parametrize(
    ("settings", "updates", "rule", "fragment"),
    [
        pytest.param(
            {},
            (FirmwareUpdate(component="raid", url="https://x/fw.bin"),),
            "firmware-component",
            "spec.updates[0].component 'raid' is not supported; use bmc, bios or nic:<id>",
            id="unknown component",
        ),
        pytest.param(
            {},
            (FirmwareUpdate(component="nic:", url="https://x/fw.bin"),),
            "firmware-component",
            "'nic:' is not supported",
            id="nic without id",
        ),
        pytest.param(
            {},
            (BMC_UPDATE, NIC_UPDATE, BMC_UPDATE),
            "firmware-component",
            "spec.updates[2].component 'bmc' appears twice",
            id="duplicate component",
        ),
        pytest.param(
            {},
            (FirmwareUpdate(component="bios", url=""),),
            "firmware-url",
            "spec.updates[0].url is empty",
            id="empty url",
        ),
        pytest.param({" ": "1"}, (), "firmware-setting-name", "empty setting name", id="empty setting name"),
    ],
)
def test_invalid_declarations_are_rejected_with_the_field_to_fix(
    settings: dict[str, str], updates: tuple[FirmwareUpdate, ...], rule: str, fragment: str
) -> None:
    rejected = given(available_host()).when(_apply(settings, updates)).then_rejected(rule=rule)
    assert fragment in str(rejected)


def test_nic_and_bios_components_are_accepted() -> None:
    update = FirmwareUpdate(component="bios", url="https://firmware.example/bios.bin")
    state = (
        given(available_host())
        .when(_apply({}, (update, NIC_UPDATE)))
        .then(
            _changed({}, (update, NIC_UPDATE)),
            moved(PS.AVAILABLE, PS.PREPARING, "firmware settings or updates changed", NOW),
        )
    )
    assert state.firmware_updates == (update, NIC_UPDATE)


def test_preparation_completed_from_before_firmware_support_still_decodes() -> None:
    old = msgspec.json.encode(
        {"type": "host.preparation_completed", "rootDeviceHints": {"deviceName": "/dev/sda"}}
    )
    decoded = ev.CODEC.decode(old)
    assert isinstance(decoded, ev.PreparationCompleted)
    assert decoded.firmware_settings == {}
    assert decoded.firmware_updates == ()
    state = DEFINITION.evolve(given(preparing_host()).state, decoded)
    assert state.prepared_firmware_settings == {}
