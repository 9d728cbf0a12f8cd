"""Local wall-clock times to UTC instants, daylight saving included, and parsing what people type.

Rules (product decisions, tested in tests/test_timekeeping.py):
- 08:30 stays 08:30 local across daylight-saving changes: we always compute from the local date.
- A local time that does not exist that day (spring forward) fires at the first valid minute
  after it (02:30 in Berlin on the last Sunday of March fires at 03:00).
- An ambiguous local time (fall back) fires once, at its first occurrence.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
_CLOCK = re.compile(r"^(\d{1,2})(?:[:.h](\d{2}))?$", re.IGNORECASE)

# Common cities people type that are not the name of an IANA zone themselves.
CITY_ALIASES: dict[str, str] = {
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "boston": "America/New_York",
    "washington": "America/New_York",
    "miami": "America/New_York",
    "atlanta": "America/New_York",
    "houston": "America/Chicago",
    "dallas": "America/Chicago",
    "munich": "Europe/Berlin",
    "hamburg": "Europe/Berlin",
    "frankfurt": "Europe/Berlin",
    "cologne": "Europe/Berlin",
    "zurich": "Europe/Zurich",
    "geneva": "Europe/Zurich",
    "barcelona": "Europe/Madrid",
    "milan": "Europe/Rome",
    "manchester": "Europe/London",
    "edinburgh": "Europe/London",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "mumbai": "Asia/Kolkata",
    "beijing": "Asia/Shanghai",
    "montreal": "America/Toronto",
    "ottawa": "America/Toronto",
    "melbourne": "Australia/Melbourne",
}


@cache
def _zone_index() -> dict[str, str]:
    """Lower-case IANA names and their city parts ("new york") -> canonical IANA name."""
    index: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if name.startswith(("Etc/", "SystemV/")) or "/" not in name:
            continue
        index[name.lower()] = name
        city = name.rsplit("/", 1)[1].replace("_", " ").lower()
        index.setdefault(city, name)
    for alias, name in CITY_ALIASES.items():
        index.setdefault(alias, name)
    index["utc"] = "UTC"
    return index


def zone(name: str) -> tzinfo:
    """The tzinfo for a stored timezone: an IANA name or a fixed offset like 'UTC+05:30'."""
    match = _OFFSET.match(name) if name.upper().startswith("UTC") and name != "UTC" else None
    if match:
        return _fixed_offset(match)
    return ZoneInfo(name)


def _fixed_offset(match: re.Match[str]) -> timezone:
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if sign == "-" else delta)


def parse_timezone(text: str) -> str | None:
    """What a person typed -> a stored timezone name, or None if we cannot tell."""
    cleaned = " ".join(text.strip().split())
    if not cleaned:
        return None
    offset = _OFFSET.match(cleaned.replace(" ", ""))
    if offset and (cleaned[0] in "+-" or cleaned[:3].upper() in {"UTC", "GMT"}):
        sign, hours, minutes = offset.group(1), int(offset.group(2)), int(offset.group(3) or 0)
        if hours > 14 or minutes >= 60 or (hours == 14 and minutes):
            return None
        return f"UTC{sign}{hours:02d}:{minutes:02d}"
    found = _zone_index().get(cleaned.lower().replace("_", " ")) or _zone_index().get(
        cleaned.lower()
    )
    if found:
        return found
    try:
        ZoneInfo(cleaned)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: zoneinfo opens the text as a path ("Europe" is a directory; a long text is
        # "File name too long"). Whatever it was, it is not a timezone.
        return None
    return cleaned


def suggest_timezones(text: str, limit: int = 3) -> list[str]:
    index = _zone_index()
    matches = difflib.get_close_matches(text.strip().lower(), index.keys(), n=limit, cutoff=0.6)
    seen: list[str] = []
    for key in matches:
        if index[key] not in seen:
            seen.append(index[key])
    return seen


def parse_clock(text: str) -> time | None:
    """'08:30', '8:30', '20.00', '7h15' or '9' -> a time; None for anything else."""
    match = _CLOCK.match(text.strip())
    if not match:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    if hours > 23 or minutes > 59:
        return None
    return time(hours, minutes)


def _exists(local: datetime) -> bool:
    round_trip = local.astimezone(UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) == local.replace(tzinfo=None)


def local_instant(day: date, at: time, tz: tzinfo) -> datetime:
    """The UTC instant of wall-clock ``at`` on ``day`` in ``tz``, by the rules above."""
    local = datetime.combine(day, at, tzinfo=tz).replace(fold=0)
    if not _exists(local):
        # In a gap: walk forward minute by minute (gaps are at most a few hours) to the first
        # wall-clock minute that exists.
        wall = local.replace(tzinfo=None)
        for _ in range(24 * 60):
            wall += timedelta(minutes=1)
            candidate = wall.replace(tzinfo=tz)
            if _exists(candidate):
                return candidate.astimezone(UTC)
    return local.astimezone(UTC)


def next_occurrence(
    at: time, tz_name: str, weekdays: int, after: datetime, *, horizon_days: int = 8
) -> datetime | None:
    """The first instant strictly after ``after`` at local time ``at`` on an allowed weekday
    (bitmask, Monday = bit 0); None when no weekday is allowed."""
    if not weekdays & 0b1111111:
        return None
    tz = zone(tz_name)
    day = after.astimezone(tz).date() - timedelta(days=1)
    for offset in range(horizon_days + 1):
        candidate_day = day + timedelta(days=offset)
        if not weekdays & (1 << candidate_day.weekday()):
            continue
        instant = local_instant(candidate_day, at, tz)
        if instant > after:
            return instant
    return None


def in_quiet_hours(instant: datetime, tz_name: str, start: time | None, end: time | None) -> bool:
    """Quiet hours run from start to end local time, across midnight when end < start."""
    local = instant.astimezone(zone(tz_name)).time().replace(tzinfo=None)
    return clock_in_quiet_hours(local, start, end)


def clock_in_quiet_hours(local: time, start: time | None, end: time | None) -> bool:
    """Whether a local clock time falls in quiet hours (start inclusive, end exclusive)."""
    if start is None or end is None or start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


# How far before quiet hours a covered time is offered to move to.
BEFORE_QUIET = timedelta(minutes=30)


def quiet_covered(times: Iterable[time], start: time | None, end: time | None) -> list[time]:
    """The chosen daily times that quiet hours cover: no reminder is ever sent at them."""
    return sorted(t for t in times if clock_in_quiet_hours(t, start, end))


def moves_out_of_quiet(at: time, start: time, end: time) -> list[time]:
    """Where a covered time could go instead: a little before quiet hours begin, and the
    moment they end; only places outside quiet hours."""
    before = (datetime.combine(date(2000, 1, 1), start) - BEFORE_QUIET).time()
    out: list[time] = []
    for candidate in (before, end):
        outside = not clock_in_quiet_hours(candidate, start, end)
        if outside and candidate != at and candidate not in out:
            out.append(candidate)
    return out


def quiet_hours_end(
    instant: datetime, tz_name: str, start: time | None, end: time | None
) -> datetime:
    """The first instant at or after ``instant`` outside quiet hours."""
    if not in_quiet_hours(instant, tz_name, start, end):
        return instant
    assert end is not None
    found = next_occurrence(end, tz_name, 0b1111111, instant - timedelta(microseconds=1))
    return found or instant


def place_name(name: str) -> str:
    """How a stored timezone reads to a person: the place its IANA name ends in ("New York"
    for "America/New_York"), a fixed offset as it is ("UTC+05:30"). ``Etc/GMT+5`` is five hours
    *behind* UTC (POSIX signs), so it reads "UTC-5"."""
    if name.startswith("Etc/"):
        rest = name.removeprefix("Etc/")
        if rest in {"UTC", "UCT", "GMT", "Universal", "Zulu", "Greenwich", "GMT0"}:
            return "UTC"
        if rest.startswith("GMT") and rest[3:4] in {"+", "-"}:
            return f"UTC{'-' if rest[3] == '+' else '+'}{rest[4:]}"
    return name.rsplit("/", 1)[-1].replace("_", " ")
