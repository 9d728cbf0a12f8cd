"""Counts for the practice: aggregates only, never content and never ids.

``reminderbot stats``, the optional weekly summary to the admin chats and the
``reminderbot_people`` gauge all read from here. Printed numbers from 1 to 4 become "<5"
so that nobody can be singled out (the gauge, for the operator's monitoring, keeps exact figures
and has no label but the state).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.content import Catalog
from reminderbot.storage.models import CheckIn, ConsentState, Delivery, DeliveryStatus, Person

SMALL = 5
WEEKS = 8


@dataclass(frozen=True, slots=True)
class PracticeCounts:
    people: dict[str, int]  # active, paused, unreachable, stopped, paired
    since: datetime  # start of the oldest week counted (a Monday, 00:00 UTC)
    sent: int
    skipped: dict[str, int]  # reason -> count, in the same weeks
    checkins_per_week: tuple[tuple[datetime, int], ...]  # (Monday, count), oldest first


def shown(count: int) -> str:
    """A count as printed for the practice: 1 to 4 are not told apart, so nobody can be singled
    out; 0 is 0, since "nobody" singles nobody out and must not read as "a few"."""
    return f"<{SMALL}" if 0 < count < SMALL else str(count)


def _paused(now: datetime) -> ColumnElement[bool]:
    return and_(
        Person.paused_at.is_not(None),
        or_(Person.paused_until.is_(None), Person.paused_until > now),
    )


async def people_by_state(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Exact counts by state, in one query; each person is in exactly one of active, paused,
    unreachable, stopped, and may also be paired."""
    given = Person.consent == ConsentState.GIVEN
    paused = and_(given, _paused(now))
    unreachable = and_(given, ~_paused(now), Person.reachable.is_(False))
    active = and_(given, ~_paused(now), Person.reachable.is_(True))

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return func.count().filter(condition)

    query = select(
        count(active),
        count(paused),
        count(unreachable),
        count(Person.consent == ConsentState.STOPPED),
        count(Person.couple_id.is_not(None)),
    )
    row = (await session.execute(query)).one()
    names = ("active", "paused", "unreachable", "stopped", "paired")
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the week that holds ``now``."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


async def practice_counts(session: AsyncSession, now: datetime) -> PracticeCounts:
    mondays = [week_start(now) - timedelta(weeks=n) for n in range(WEEKS - 1, -1, -1)]
    since = mondays[0]
    finished = and_(Delivery.due_at >= since, Delivery.due_at <= now)
    sent = await session.scalar(
        select(func.count()).where(finished, Delivery.status == DeliveryStatus.SENT)
    )
    skipped_rows = await session.execute(
        select(Delivery.reason, func.count())
        .where(finished, Delivery.status == DeliveryStatus.SKIPPED)
        .group_by(Delivery.reason)
    )
    skipped = {str(reason or "unknown"): int(n) for reason, n in skipped_rows.all()}
    weeks: list[tuple[datetime, int]] = []
    for monday in mondays:
        n = await session.scalar(
            select(func.count()).where(
                CheckIn.created_at >= monday, CheckIn.created_at < monday + timedelta(weeks=1)
            )
        )
        weeks.append((monday, int(n or 0)))
    return PracticeCounts(
        people=await people_by_state(session, now),
        since=since,
        sent=int(sent or 0),
        skipped=dict(sorted(skipped.items())),
        checkins_per_week=tuple(weeks),
    )


def render(counts: PracticeCounts, catalog: Catalog, lang: str, practice_name: str) -> str:
    """The counts as the practice reads them, in the words of ``messages/``."""
    people = {name: shown(n) for name, n in counts.people.items()}
    since = counts.since.date().isoformat()
    lines = [
        catalog.text("stats.title", lang, practice_name=practice_name, since=since),
        catalog.text(
            "stats.people",
            lang,
            active=people["active"],
            paused=people["paused"],
            unreachable=people["unreachable"],
            stopped=people["stopped"],
            paired=people["paired"],
        ),
        catalog.text("stats.sent", lang, count=shown(counts.sent)),
        catalog.text("stats.skipped", lang, count=shown(sum(counts.skipped.values()))),
    ]
    lines += [
        catalog.text("stats.skipped_reason", lang, reason=reason, count=shown(n))
        for reason, n in counts.skipped.items()
    ]
    lines.append(catalog.text("stats.checkins", lang))
    lines += [
        catalog.text("stats.week", lang, monday=monday.date().isoformat(), count=shown(n))
        for monday, n in counts.checkins_per_week
    ]
    return "\n".join(lines)
