"""One-tap check-ins: one per reminder; tapping again changes the answer."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.storage import repositories
from reminderbot.storage.models import CheckIn, Delivery, Mood, Person


class CheckInResult(enum.Enum):
    RECORDED = "recorded"
    CHANGED = "changed"
    NOT_FOUND = "not_found"  # unknown delivery, or one that belongs to someone else


@dataclass(frozen=True, slots=True)
class CheckInOutcome:
    result: CheckInResult
    delivery: Delivery | None = None
    checkin: CheckIn | None = None
    # Who tapped, whatever the result (None: nobody we know): the caller needs them anyway.
    person: Person | None = None
    # The answer a change replaced (None for a first tap): whether it was one they share.
    previous: Mood | None = None


async def record(
    session: AsyncSession, telegram_user_id: int, delivery_id: int, mood: Mood, now: datetime
) -> CheckInOutcome:
    # One statement for the usual tap: the person, their reminder and any earlier answer to it.
    query = (
        select(Person, Delivery, CheckIn)
        .join(Delivery, Delivery.person_id == Person.id)
        .outerjoin(CheckIn, CheckIn.delivery_id == Delivery.id)
        .where(Person.telegram_user_id == telegram_user_id, Delivery.id == delivery_id)
    )
    found = (await session.execute(query)).one_or_none()
    if found is None:
        # Someone else's reminder looks exactly like a missing one: nothing leaks either way.
        person = await repositories.person_by_telegram_id(session, telegram_user_id)
        return CheckInOutcome(CheckInResult.NOT_FOUND, person=person)
    person, delivery, existing = found  # existing: None while the reminder has no answer
    if existing is not None:
        previous = existing.mood
        existing.mood = mood
        existing.updated_at = now
        return CheckInOutcome(CheckInResult.CHANGED, delivery, existing, person, previous)
    checkin = CheckIn(
        person_id=person.id, delivery_id=delivery.id, mood=mood, created_at=now, updated_at=now
    )
    session.add(checkin)
    await session.flush()
    return CheckInOutcome(CheckInResult.RECORDED, delivery, checkin, person)
