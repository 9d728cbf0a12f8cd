"""A person's reminder times and settings. Every change recomputes ``next_due_at`` in UTC, which
is all the dispatcher reads; no per-person job lives in memory."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services.timekeeping import next_occurrence
from reminderbot.storage.models import ConsentState, Person, Schedule

MAX_DAILY_TIMES = 6
WEEKDAYS_ALL = 0b1111111
WEEKDAYS_WORK = 0b0011111
WEEKEND = 0b1100000


def occurrence_after(person: Person, schedule: Schedule, after: datetime) -> datetime | None:
    return next_occurrence(schedule.local_time, person.timezone, person.weekdays, after)


async def recompute(session: AsyncSession, person: Person, now: datetime) -> None:
    """Set each schedule's next due time from now; none while the person has stopped or cannot
    be reached, so the dispatcher's index scan never sees them."""
    rows = (
        (await session.execute(select(Schedule).where(Schedule.person_id == person.id)))
        .scalars()
        .all()
    )
    active = person.consent is ConsentState.GIVEN and person.reachable
    for schedule in rows:
        schedule.next_due_at = occurrence_after(person, schedule, now) if active else None


async def clear_due(session: AsyncSession, person_id: int) -> None:
    await session.execute(
        update(Schedule).where(Schedule.person_id == person_id).values(next_due_at=None)
    )


async def set_times(
    session: AsyncSession, person: Person, times: Sequence[time], now: datetime
) -> list[time]:
    """Replace the person's daily times (deduplicated, sorted, at most MAX_DAILY_TIMES)."""
    wanted = sorted(set(times))[:MAX_DAILY_TIMES]
    existing = {
        s.local_time: s
        for s in (
            await session.execute(select(Schedule).where(Schedule.person_id == person.id))
        ).scalars()
    }
    for at, schedule in existing.items():
        if at not in wanted:
            await session.delete(schedule)
    for at in wanted:
        if at not in existing:
            session.add(Schedule(person_id=person.id, local_time=at))
    await session.flush()
    await recompute(session, person, now)
    return wanted


async def set_timezone(session: AsyncSession, person: Person, tz_name: str, now: datetime) -> None:
    person.timezone = tz_name
    await recompute(session, person, now)


async def set_weekdays(session: AsyncSession, person: Person, mask: int, now: datetime) -> None:
    person.weekdays = mask & WEEKDAYS_ALL
    await recompute(session, person, now)


async def times_of(session: AsyncSession, person_id: int) -> list[time]:
    query = (
        select(Schedule.local_time)
        .where(Schedule.person_id == person_id)
        .order_by(Schedule.local_time)
    )
    return list((await session.execute(query)).scalars())
