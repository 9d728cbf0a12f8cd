"""A person's own choices: when, what and how reminders reach them.

Each change takes a session, plain values and ``now``, and returns the ids of the people whose
rows it changed (empty when nothing applied), so the caller can tell the dispatcher once the
transaction has committed.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services import pairing, schedules
from reminderbot.services.timekeeping import quiet_covered
from reminderbot.storage.models import Audience, Person, SharingLevel

People = frozenset[int]
NOBODY: People = frozenset()

TIME_PRESETS: dict[str, tuple[time, ...]] = {
    "morning": (time(8, 30),),
    "evening": (time(20, 0),),
    "both": (time(8, 30), time(20, 0)),
}
QUIET_PRESETS: dict[str, tuple[time, time] | None] = {
    "off": None,
    "22-07": (time(22, 0), time(7, 0)),
    "21-08": (time(21, 0), time(8, 0)),
}
DAY_PRESETS = {
    "all": schedules.WEEKDAYS_ALL,
    "work": schedules.WEEKDAYS_WORK,
    "end": schedules.WEEKEND,
}
# Bit i of Person.weekdays is DAY_KEYS[i] (Monday first, as datetime.weekday counts).
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KIND_FLAGS = {
    "affirmation": "wants_affirmations",
    "practice": "wants_practices",
    "checkin_prompt": "wants_checkin_prompts",
}


def _just(person: Person) -> People:
    return frozenset({person.id})


async def set_timezone(session: AsyncSession, person: Person, name: str, now: datetime) -> People:
    await schedules.set_timezone(session, person, name, now)
    return _just(person)


async def set_times(
    session: AsyncSession, person: Person, times: Sequence[time], now: datetime
) -> People:
    await schedules.set_times(session, person, times, now)
    return _just(person)


async def move_time(
    session: AsyncSession, person: Person, was: time, to: time, now: datetime
) -> People:
    """Move one daily time (offered when quiet hours cover it). Nobody changes when that time
    is no longer one of theirs: the offer was older than a later change."""
    times = await schedules.times_of(session, person.id)
    if was not in times:
        return NOBODY
    # Judged by what is stored now, not by when the button was offered: once quiet hours no
    # longer cover that time (/quiet off, or other hours), an old "Move 07:30" does nothing. A
    # time still covered may move to the offered place; the caller warns again if that place
    # is inside the new quiet hours.
    if was not in quiet_covered(times, person.quiet_start, person.quiet_end):
        return NOBODY
    await schedules.set_times(session, person, [t for t in times if t != was] + [to], now)
    return _just(person)


async def set_weekdays(session: AsyncSession, person: Person, mask: int, now: datetime) -> People:
    await schedules.set_weekdays(session, person, mask, now)
    return _just(person)


async def toggle_weekday(session: AsyncSession, person: Person, day: int, now: datetime) -> People:
    """Day 0 is Monday."""
    if not 0 <= day < len(DAY_KEYS):
        return NOBODY
    return await set_weekdays(session, person, person.weekdays ^ (1 << day), now)


def set_quiet(person: Person, window: tuple[time, time] | None) -> People:
    """Quiet hours from start to end each night; None turns them off."""
    person.quiet_start, person.quiet_end = window or (None, None)
    return _just(person)


def toggle_kind(person: Person, kind: str) -> People:
    flag = KIND_FLAGS.get(kind)
    if flag is None:
        return NOBODY
    setattr(person, flag, not getattr(person, flag))
    return _just(person)


def set_audience(person: Person, audience: Audience) -> People:
    person.audience = audience
    return _just(person)


def set_language(person: Person, language: str, languages: Collection[str]) -> People:
    """The language they read; only one the practice has words in (``languages``) applies. It
    is read when each message is written, so the next one is in it."""
    if language not in languages or language == person.language:
        return NOBODY
    person.language = language
    return _just(person)


def set_keep_checkins(person: Person, days: int, choices: Collection[int]) -> People:
    """How many days their check-ins and notes are kept; only one of ``choices`` (the
    practice's, services/retention.RetentionPolicy.choices) applies. The purge does the rest."""
    if days not in choices:
        return NOBODY
    person.keep_checkins_days = days
    return _just(person)


def toggle_discreet_preview(person: Person) -> People:
    person.discreet_preview = not person.discreet_preview
    return _just(person)


def toggle_silent(person: Person) -> People:
    person.silent = not person.silent
    return _just(person)


# Partner choices: each is the person's own; the partner is never told it changed.
async def set_sharing(session: AsyncSession, person: Person, level: SharingLevel) -> People:
    return _just(person) if await pairing.set_sharing(session, person, level) else NOBODY


async def set_couple_prompts(session: AsyncSession, person: Person, wanted: bool) -> People:
    """Both partners' rows change: couple prompts go out only while both said yes."""
    if not await pairing.set_couple_prompts(session, person, wanted):
        return NOBODY
    return await _couple_of(session, person)


async def set_receives_checkins(session: AsyncSession, person: Person, wanted: bool) -> People:
    return _just(person) if await pairing.set_receives_checkins(session, person, wanted) else NOBODY


async def _couple_of(session: AsyncSession, person: Person) -> People:
    if person.couple_id is None:
        return _just(person)
    query = select(Person.id).where(Person.couple_id == person.couple_id)
    return frozenset((await session.execute(query)).scalars()) | _just(person)
