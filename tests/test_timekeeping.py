"""Local times to UTC across daylight saving, quiet hours, weekdays, and what people type."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from reminderbot.services.schedules import WEEKDAYS_ALL, WEEKDAYS_WORK
from reminderbot.services.timekeeping import (
    in_quiet_hours,
    next_occurrence,
    parse_clock,
    parse_timezone,
    quiet_hours_end,
    suggest_timezones,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("tz", "before", "after"),
    [
        # Berlin: CET (UTC+1) until 2026-03-29, CEST (UTC+2) after; back on 2026-10-25.
        ("Europe/Berlin", utc(2026, 3, 28, 7, 30), utc(2026, 3, 29, 6, 30)),
        ("Europe/Berlin", utc(2026, 10, 24, 6, 30), utc(2026, 10, 25, 7, 30)),
        # New York: EST (UTC-5) until 2026-03-08, EDT (UTC-4) after; back on 2026-11-01.
        ("America/New_York", utc(2026, 3, 7, 13, 30), utc(2026, 3, 8, 12, 30)),
        ("America/New_York", utc(2026, 10, 31, 12, 30), utc(2026, 11, 1, 13, 30)),
    ],
)
def test_0830_stays_0830_local_across_dst(tz: str, before: datetime, after: datetime) -> None:
    first = next_occurrence(time(8, 30), tz, WEEKDAYS_ALL, before.replace(hour=0))
    assert first == before
    assert next_occurrence(time(8, 30), tz, WEEKDAYS_ALL, first) == after


def test_nonexistent_spring_forward_time_fires_at_first_valid_minute_berlin() -> None:
    # 02:30 does not exist in Berlin on 2026-03-29 (02:00 -> 03:00 CEST = 01:00 UTC).
    due = next_occurrence(time(2, 30), "Europe/Berlin", WEEKDAYS_ALL, utc(2026, 3, 28, 12))
    assert due == utc(2026, 3, 29, 1, 0)


def test_nonexistent_spring_forward_time_fires_at_first_valid_minute_new_york() -> None:
    # 02:15 does not exist in New York on 2026-03-08 (02:00 -> 03:00 EDT = 07:00 UTC).
    due = next_occurrence(time(2, 15), "America/New_York", WEEKDAYS_ALL, utc(2026, 3, 7, 12))
    assert due == utc(2026, 3, 8, 7, 0)


@pytest.mark.parametrize(
    ("tz", "at", "day_before", "first_utc", "next_day_utc"),
    [
        # 02:30 happens twice in Berlin on 2026-10-25: 00:30 UTC (CEST) and 01:30 UTC (CET).
        (
            "Europe/Berlin",
            time(2, 30),
            utc(2026, 10, 24, 12),
            utc(2026, 10, 25, 0, 30),
            utc(2026, 10, 26, 1, 30),
        ),
        # 01:30 happens twice in New York on 2026-11-01: 05:30 UTC (EDT) and 06:30 UTC (EST).
        (
            "America/New_York",
            time(1, 30),
            utc(2026, 10, 31, 12),
            utc(2026, 11, 1, 5, 30),
            utc(2026, 11, 2, 6, 30),
        ),
    ],
)
def test_ambiguous_fall_back_time_fires_once(
    tz: str, at: time, day_before: datetime, first_utc: datetime, next_day_utc: datetime
) -> None:
    first = next_occurrence(at, tz, WEEKDAYS_ALL, day_before)
    assert first == first_utc
    # After the first firing, the repeated wall-clock time that night is not a second occurrence.
    assert next_occurrence(at, tz, WEEKDAYS_ALL, first) == next_day_utc


def test_weekdays_only_skips_the_weekend() -> None:
    friday_evening = utc(2026, 11, 27, 20)  # a Friday
    due = next_occurrence(time(8, 30), "UTC", WEEKDAYS_WORK, friday_evening)
    assert due == utc(2026, 11, 30, 8, 30)  # Monday
    assert next_occurrence(time(8, 30), "UTC", 0, friday_evening) is None


def test_fixed_offset_timezone() -> None:
    due = next_occurrence(time(9, 0), "UTC+05:30", WEEKDAYS_ALL, utc(2026, 1, 1, 0))
    assert due == utc(2026, 1, 1, 3, 30)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ("Berlin", "Europe/Berlin"),
        ("new york", "America/New_York"),
        ("Munich", "Europe/Berlin"),
        ("UTC+2", "UTC+02:00"),
        ("utc-5:30", "UTC-05:30"),
        ("GMT+1", "UTC+01:00"),
        ("+3", "UTC+03:00"),
        ("UTC", "UTC"),
    ],
)
def test_parse_timezone(typed: str, stored: str) -> None:
    assert parse_timezone(typed) == stored


@pytest.mark.parametrize("typed", ["", "Atlantis", "UTC+15", "UTC+3:75", "Europe/Nowhere"])
def test_parse_timezone_refuses(typed: str) -> None:
    assert parse_timezone(typed) is None


def test_suggestions_for_a_misspelled_city() -> None:
    assert "Europe/Berlin" in suggest_timezones("Berlni")


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ("08:30", time(8, 30)),
        ("8:30", time(8, 30)),
        ("20.00", time(20)),
        ("7h15", time(7, 15)),
        ("9", time(9)),
    ],
)
def test_parse_clock(typed: str, parsed: time) -> None:
    assert parse_clock(typed) == parsed


@pytest.mark.parametrize("typed", ["24:00", "8:60", "eight", "8:3", "", "-1"])
def test_parse_clock_refuses(typed: str) -> None:
    assert parse_clock(typed) is None


def test_quiet_hours_across_midnight_in_local_time() -> None:
    start, end = time(22), time(7)
    # 21:30 UTC is 22:30 in Berlin (winter): quiet. 05:30 UTC is 06:30: quiet. 06:30 UTC: not.
    assert in_quiet_hours(utc(2026, 1, 10, 21, 30), "Europe/Berlin", start, end)
    assert in_quiet_hours(utc(2026, 1, 10, 5, 30), "Europe/Berlin", start, end)
    assert not in_quiet_hours(utc(2026, 1, 10, 6, 30), "Europe/Berlin", start, end)
    assert not in_quiet_hours(utc(2026, 1, 10, 12), "Europe/Berlin", None, None)
    assert quiet_hours_end(utc(2026, 1, 10, 21, 30), "Europe/Berlin", start, end) == utc(
        2026, 1, 11, 6, 0
    )
