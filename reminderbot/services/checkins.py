"""One-tap check-ins: one per reminder; tapping again changes the answer.

Telegram numbers a person's updates in the order they made them. With several instances, two
taps on one reminder may be handled at once, or the earlier one last; the answer is always the
tap numbered highest. One statement inserts the answer or changes it, and changes it only for a
higher number, so two instances inserting a reminder's first answer at once never meet a
unique-key error: the second simply becomes a change (or gives way to a newer answer).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.storage import repositories
from reminderbot.storage.models import CheckIn, Delivery, Mood, Person

# Taps are ordered by number only this close together. Telegram numbers updates in sequence,
# but after a week with no updates at all it starts again from a random number: a tap that
# much later always wins. Reordering across instances is a matter of seconds.
ORDERED_WITHIN = timedelta(hours=1)


class CheckInResult(enum.Enum):
    RECORDED = "recorded"
    CHANGED = "changed"
    # A tap older than the answer kept (Telegram numbered it lower): that answer stands.
    SUPERSEDED = "superseded"
    NOT_FOUND = "not_found"  # unknown delivery, or one that belongs to someone else
    # This very tap was handled before (Telegram delivered it again): nothing changes.
    REPEAT = "repeat"


@dataclass(frozen=True, slots=True)
class CheckInOutcome:
    result: CheckInResult
    delivery: Delivery | None = None
    # The answer as it now stands (after SUPERSEDED, the newer one, not the tapped mood).
    checkin: CheckIn | None = None
    # Who tapped, whatever the result (None: nobody we know): the caller needs them anyway.
    person: Person | None = None
    # The answer a change replaced (None for a first tap): whether it was one they share.
    previous: Mood | None = None


def _older(kept: CheckIn, tap: int | None, now: datetime) -> bool:
    """Whether ``tap`` came before the tap that set the kept answer. Unnumbered taps (answers
    kept before numbers were) never count as older or newer than anything."""
    if kept.update_id is None or tap is None or kept.updated_at < now - ORDERED_WITHIN:
        return False
    return tap <= kept.update_id


async def record(
    session: AsyncSession,
    telegram_user_id: int,
    delivery_id: int,
    mood: Mood,
    now: datetime,
    update_id: int | None = None,
) -> CheckInOutcome:
    """Keep ``mood`` as the answer to this reminder, unless a tap numbered higher than
    ``update_id`` (Telegram's number for this tap) already set it.

    With ``update_id``, the tap is also recorded as handled in this transaction, after the
    read (on SQLite the write lock is then held for the writes only); a tap recorded before
    is a REPEAT and changes nothing."""
    # One statement for the usual tap: the person, their reminder and any earlier answer to it.
    query = (
        select(Person, Delivery, CheckIn)
        .join(Delivery, Delivery.person_id == Person.id)
        .outerjoin(CheckIn, CheckIn.delivery_id == Delivery.id)
        .where(Person.telegram_user_id == telegram_user_id, Delivery.id == delivery_id)
    )
    found = (await session.execute(query)).one_or_none()
    if update_id is not None and not await repositories.record_handled(session, update_id, now):
        return CheckInOutcome(CheckInResult.REPEAT)
    if found is None:
        # Someone else's reminder looks exactly like a missing one: nothing leaks either way.
        person = await repositories.person_by_telegram_id(session, telegram_user_id)
        return CheckInOutcome(CheckInResult.NOT_FOUND, person=person)
    person, delivery, existing = found  # existing: None while the reminder has no answer
    previous = existing.mood if existing is not None else None  # read before the upsert
    if existing is not None and _older(existing, update_id, now):
        return CheckInOutcome(CheckInResult.SUPERSEDED, delivery, existing, person)
    insert = repositories.upsert(session, CheckIn).values(
        person_id=person.id,
        delivery_id=delivery.id,
        mood=mood,
        created_at=now,
        updated_at=now,
        update_id=update_id,
    )
    # Another instance may have answered since the read above: then this is a change, made
    # only if this tap is the newer one (PostgreSQL re-checks the row once it holds its lock).
    newer = (
        None
        if update_id is None
        else or_(
            CheckIn.update_id.is_(None),
            CheckIn.update_id < update_id,
            CheckIn.updated_at < now - ORDERED_WITHIN,
        )
    )
    statement = insert.on_conflict_do_update(
        index_elements=[CheckIn.delivery_id],
        set_={"mood": mood, "updated_at": now, "update_id": update_id},
        where=newer,
    ).returning(CheckIn)
    kept = (
        await session.scalars(statement, execution_options={"populate_existing": True})
    ).one_or_none()
    if kept is None:
        # A newer tap, handled by another instance meanwhile, holds the answer.
        standing = select(CheckIn).where(CheckIn.delivery_id == delivery.id)
        current = (
            await session.scalars(standing, execution_options={"populate_existing": True})
        ).one()
        return CheckInOutcome(CheckInResult.SUPERSEDED, delivery, current, person)
    first = existing is None and kept.created_at == now
    result = CheckInResult.RECORDED if first else CheckInResult.CHANGED
    return CheckInOutcome(result, delivery, kept, person, previous)
