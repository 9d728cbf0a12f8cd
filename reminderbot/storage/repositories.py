"""Queries on people and their rows. Repositories never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.storage.db import mark_erased
from reminderbot.storage.models import CheckIn, Delivery, HandledUpdate, Person, Schedule


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


def upsert(session: AsyncSession, model: type[Any]) -> Any:
    """An INSERT that can say ON CONFLICT, in the session's dialect (SQLite or PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


async def record_handled(session: AsyncSession, update_id: int, now: datetime) -> bool:
    """Note in this transaction that update ``update_id`` took effect. False if it already had
    (a second delivery): the caller then changes nothing. On PostgreSQL a second delivery
    handled at the same moment waits here for the first to commit or roll back, so exactly one
    of them goes on."""
    statement = (
        upsert(session, HandledUpdate)
        .values(update_id=update_id, handled_at=now)
        .on_conflict_do_nothing(index_elements=[HandledUpdate.update_id])
        .returning(HandledUpdate.update_id)
    )
    return (await session.execute(statement)).first() is not None


async def was_handled(session: AsyncSession, update_id: int) -> bool:
    found = await session.execute(
        select(HandledUpdate.update_id).where(HandledUpdate.update_id == update_id)
    )
    return found.first() is not None


async def forget_handled_before(session: AsyncSession, cutoff: datetime) -> None:
    await session.execute(delete(HandledUpdate).where(HandledUpdate.handled_at < cutoff))
