from __future__ import annotations

import typing

import pytest

from metalstream import settings


def test_defaults_need_no_environment() -> None:
    config = settings.load({})
    assert config.nats.urls == ("nats://127.0.0.1:4222",)
    assert config.nats.request_timeout == 5.0
    assert config.log.format == "auto"


def test_environment_lists_are_comma_separated_and_numbers_are_parsed() -> None:
    config = settings.load(
        {"METALSTREAM_NATS_URLS": "nats://a:4222, nats://b:4222", "METALSTREAM_NATS_REQUEST_TIMEOUT": "2.5"}
    )
    assert config.nats.urls == ("nats://a:4222", "nats://b:4222")
    assert config.nats.request_timeout == 2.5


def test_overrides_win_over_environment_and_none_means_unset() -> None:
    config = settings.load(
        {"METALSTREAM_NATS_URLS": "nats://env:4222", "METALSTREAM_LOG_LEVEL": "debug"},
        overrides={"nats": {"urls": ["nats://flag:4222"]}, "log": {"level": None}},
    )
    assert config.nats.urls == ("nats://flag:4222",)
    assert config.log.level == "debug"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("METALSTREAM_NATS_REQUEST_TIMEOUT", "soon", id="not-a-number"),
        pytest.param("METALSTREAM_LOG_LEVEL", "loud", id="not-an-enum-value"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(settings.SettingsError, match=variable):
        settings.load({variable: value})


def test_every_reference_table_row_is_one_line() -> None:
    rows = [line for line in settings.reference().splitlines() if line.startswith("| `METALSTREAM_")]
    assert rows
    assert all(line.endswith(" |") and line.count(" | ") >= 2 for line in rows), "a docstring broke a row"
    assert len(rows) == sum(
        len(type(getattr(settings.Settings(), group)).__struct_fields__)
        for group in typing.get_type_hints(settings.Settings)
    )


def test_reference_documents_every_field() -> None:
    text = settings.reference()
    for group in ("nats", "log"):
        group_type = type(getattr(settings.Settings(), group))
        for field in group_type.__struct_fields__:
            assert f"METALSTREAM_{group.upper()}_{field.upper()}" in text


def test_docs_settings_reference_is_up_to_date() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
    assert path.read_text() == settings.reference() + "\n", "regenerate docs/settings.md (make docs)"
