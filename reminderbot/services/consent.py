"""Consent: nothing is stored before a person says yes, and nothing is sent after they stop."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services import schedules
from reminderbot.storage import repositories
from reminderbot.storage.models import ConsentState, Person, Schedule


@dataclass(frozen=True, slots=True)
class ConsentOutcome:
    person: Person
    first_time: bool


async def give_consent(
    session: AsyncSession,
    *,
    telegram_user_id: int,
    chat_id: int,
    language: str,
    timezone: str,
    default_time: time,
    now: datetime,
) -> ConsentOutcome:
    """Record a yes. A first yes creates the person with one daily reminder at the default time;
    a yes after /stop restarts their existing schedules from now."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None:
        person = Person(
            telegram_user_id=telegram_user_id,
            chat_id=chat_id,
            language=language,
            timezone=timezone,
            consent=ConsentState.GIVEN,
            consent_given_at=now,
            reachable=True,
            content_seed=secrets.randbits(48),
            content_position=0,
        )
        session.add(person)
        await session.flush()
        session.add(Schedule(person_id=person.id, local_time=default_time))
        await session.flush()
        await schedules.recompute(session, person, now)
        return ConsentOutcome(person, first_time=True)

    person.chat_id = chat_id
    person.consent = ConsentState.GIVEN
    person.consent_given_at = now
    person.consent_withdrawn_at = None
    person.reachable = True
    person.unreachable_since = None
    await schedules.recompute(session, person, now)
    return ConsentOutcome(person, first_time=False)


async def stop(session: AsyncSession, telegram_user_id: int, now: datetime) -> bool:
    """Stop all messages, keep the data. Returns False when there was nothing to stop."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id, for_update=True)
    if person is None or person.consent is ConsentState.STOPPED:
        return False
    person.consent = ConsentState.STOPPED
    person.consent_withdrawn_at = now
    return True


def is_active(person: Person | None) -> bool:
    return person is not None and person.consent is ConsentState.GIVEN


async def mark_reachable(
    session: AsyncSession, telegram_user_id: int, chat_id: int, now: datetime
) -> bool:
    """The person wrote to us, so Telegram will deliver to them again. True if that changed
    anything; a cheap read otherwise, since this runs for every update."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None or person.reachable:
        return False
    person.reachable = True
    person.unreachable_since = None
    person.chat_id = chat_id
    await schedules.recompute(session, person, now)
    return True
