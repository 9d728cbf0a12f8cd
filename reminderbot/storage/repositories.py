"""Queries on people and their rows. Repositories never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.storage.db import mark_erased
from reminderbot.storage.models import CheckIn, Delivery, Person, Schedule


async def person_by_telegram_id(
    session: AsyncSession, telegram_user_id: int, *, for_update: bool = False
) -> Person | None:
    query = select(Person).where(Person.telegram_user_id == telegram_user_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def person_by_id(session: AsyncSession, person_id: int) -> Person | None:
    return await session.get(Person, person_id)


async def schedules_of(session: AsyncSession, person_id: int) -> Sequence[Schedule]:
    query = select(Schedule).where(Schedule.person_id == person_id).order_by(Schedule.local_time)
    return (await session.execute(query)).scalars().all()


async def deliveries_of(session: AsyncSession, person_id: int) -> Sequence[Delivery]:
    query = select(Delivery).where(Delivery.person_id == person_id).order_by(Delivery.due_at)
    return (await session.execute(query)).scalars().all()


async def checkins_of(session: AsyncSession, person_id: int) -> Sequence[CheckIn]:
    query = select(CheckIn).where(CheckIn.person_id == person_id).order_by(CheckIn.created_at)
    return (await session.execute(query)).scalars().all()


async def delete_person(session: AsyncSession, person_id: int) -> None:
    """Erase a person: one DELETE, every dependent row goes with it through ON DELETE CASCADE,
    and once the caller's transaction commits, none of it is left in the database's files."""
    await session.execute(delete(Person).where(Person.id == person_id))
    mark_erased(session)
