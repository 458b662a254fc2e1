from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.aggregates.backoff import MAX_EXPONENT, retry_delay, retry_not_before
from tests.core.aggregates.histories import NOW


@pytest.mark.parametrize(
    ("error_count", "minutes"),
    [
        pytest.param(1, 2, id="1st error: 2 min"),
        pytest.param(2, 4, id="2nd error: 4 min"),
        pytest.param(5, 32, id="5th error: 32 min"),
        pytest.param(9, 512, id="9th error: 512 min"),
        pytest.param(10, 512, id="10th error: still 512 min"),
        pytest.param(1000, 512, id="1000th error: still 512 min"),
    ],
)
def test_delay_without_jitter_is_two_to_the_error_count_minutes_capped_at_two_to_the_ninth(
    error_count: int, minutes: int
) -> None:
    assert retry_delay(error_count, 0.0) == timedelta(minutes=minutes)


def test_jitter_takes_off_a_proportional_share_of_half_the_delay() -> None:
    assert retry_delay(3, 0.5) == timedelta(minutes=6)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(error_count=st.integers(min_value=1, max_value=50), jitter=st.floats(0.0, 1.0, exclude_max=True))
def test_delay_stays_between_half_and_all_of_the_base_delay(error_count: int, jitter: float) -> None:
    base = timedelta(minutes=2 ** min(error_count, MAX_EXPONENT))

    delay = retry_delay(error_count, jitter)

    assert base / 2 <= delay <= base


@settings(max_examples=100, derandomize=True, deadline=None)
@given(error_count=st.integers(min_value=1, max_value=20), jitter=st.floats(0.0, 1.0, exclude_max=True))
def test_more_errors_never_wait_less(error_count: int, jitter: float) -> None:
    assert retry_delay(error_count + 1, jitter) >= retry_delay(error_count, jitter)


def test_retry_time_is_now_plus_the_delay() -> None:
    assert retry_not_before(NOW, 2, 0.25) == NOW + timedelta(minutes=3.5)


@pytest.mark.parametrize("error_count", [pytest.param(0, id="zero"), pytest.param(-1, id="negative")])
def test_delay_needs_at_least_one_error(error_count: int) -> None:
    with pytest.raises(ValueError, match="error_count"):
        retry_delay(error_count, 0.0)


@pytest.mark.parametrize(
    "jitter",
    [pytest.param(-0.1, id="negative"), pytest.param(1.0, id="one"), pytest.param(2.0, id="above one")],
)
def test_jitter_must_be_in_the_unit_interval(jitter: float) -> None:
    with pytest.raises(ValueError, match="jitter"):
        retry_delay(1, jitter)
