"""Pausing takes effect at once: the dispatcher re-checks it right before every send."""

from __future__ import annotations

import enum
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services.resting import is_resting
from reminderbot.services.timekeeping import local_instant, zone
from reminderbot.storage.models import Person


class PauseLength(enum.StrEnum):
    TODAY = "today"
    THREE_DAYS = "3d"
    WEEK = "week"
    UNTIL_RESUMED = "open"


def is_paused(person: Person, now: datetime) -> bool:
    return is_resting(person.paused_at, person.paused_until, now)


def pause_end(person: Person, length: PauseLength, now: datetime) -> datetime | None:
    """When a pause of this length started now ends; None for 'until I resume'."""
    tz = zone(person.timezone)
    today = now.astimezone(tz).date()
    match length:
        case PauseLength.TODAY:
            return local_instant(today + timedelta(days=1), time(0, 0), tz)
        case PauseLength.THREE_DAYS:
            return now + timedelta(days=3)
        case PauseLength.WEEK:
            return now + timedelta(days=7)
        case PauseLength.UNTIL_RESUMED:
            return None


async def pause(
    session: AsyncSession, person: Person, length: PauseLength, now: datetime
) -> datetime | None:
    person.paused_at = now
    person.paused_until = pause_end(person, length, now)
    await session.flush()
    return person.paused_until


async def resume(session: AsyncSession, person: Person) -> bool:
    """End a pause now. False when the person was not paused."""
    was_paused = person.paused_at is not None
    person.paused_at = None
    person.paused_until = None
    await session.flush()
    return was_paused
