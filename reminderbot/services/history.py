"""A person's own recent check-ins, on their local calendar, for /checkins."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services.timekeeping import zone
from reminderbot.storage.models import CheckIn, Mood, Person

LIST_DAYS = 14  # the written list: the last two weeks
CHART_DAYS = 28  # the picture: the last four weeks


@dataclass(frozen=True, slots=True)
class Entry:
    at: datetime  # when they tapped, in their own timezone
    mood: Mood
    note: str | None


@dataclass(frozen=True, slots=True)
class History:
    today: date  # in their timezone
    entries: tuple[Entry, ...]  # oldest first, the last CHART_DAYS local days

    def days(self, count: int) -> tuple[date, ...]:
        """The last ``count`` local dates, oldest first, today last."""
        return tuple(self.today - timedelta(days=n) for n in range(count - 1, -1, -1))

    def within(self, count: int) -> tuple[Entry, ...]:
        first = self.today - timedelta(days=count - 1)
        return tuple(e for e in self.entries if e.at.date() >= first)

    def per_day(self, count: int) -> Counter[tuple[date, Mood]]:
        """How many check-ins of each mood on each of the last ``count`` days."""
        return Counter((e.at.date(), e.mood) for e in self.within(count))


async def recent(
    session: AsyncSession, person: Person, now: datetime, days: int = CHART_DAYS
) -> History:
    """Their check-ins of the last ``days`` local days."""
    tz = zone(person.timezone)
    today = now.astimezone(tz).date()
    # One day of slack covers any UTC offset; the exact local cut is made below.
    since = now - timedelta(days=days + 1)
    query = (
        select(CheckIn)
        .where(CheckIn.person_id == person.id, CheckIn.created_at >= since)
        .order_by(CheckIn.created_at, CheckIn.id)
    )
    rows = (await session.execute(query)).scalars().all()
    everything = History(
        today, tuple(Entry(r.created_at.astimezone(tz), r.mood, r.note) for r in rows)
    )
    return History(today, everything.within(days))
