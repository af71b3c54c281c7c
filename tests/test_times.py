"""One form of time for every command: '-2h', '1 hour ago', 'today', ISO 8601."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tendr.base.times import given_time

NOW = datetime(2026, 12, 5, 8, 30, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=10**7))
def test_a_duration_before_now_is_that_long_before(seconds: int) -> None:
    assert given_time(f"-{seconds}s", NOW) == NOW - timedelta(seconds=seconds)
    minutes = seconds // 60
    assert given_time(f"-{minutes}min", NOW) == given_time(f"{minutes} minutes ago", NOW)


@given(st.datetimes(timezones=st.just(UTC)))
def test_an_iso_time_with_its_offset_is_that_time(when: datetime) -> None:
    assert given_time(when.isoformat(), NOW) == when


def test_the_words_and_forms_people_type() -> None:
    local = NOW.astimezone()
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    assert given_time("today", NOW) == midnight
    assert given_time("Yesterday", NOW) == (midnight - timedelta(days=1)).astimezone()
    assert given_time("-1d12h", NOW) == NOW - timedelta(hours=36)
    assert given_time("1 hour ago", NOW) == NOW - timedelta(hours=1)
    assert given_time("2026-11-28 08:00", NOW) == datetime(2026, 11, 28, 8).astimezone()


@pytest.mark.parametrize("text", ["soon", "", "-", "-2x", "2 months ago", "-2h; rm -rf /"])
def test_anything_else_is_no_time(text: str) -> None:
    with pytest.raises(ValueError):
        given_time(text, NOW)
