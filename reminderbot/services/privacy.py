"""What we hold about a person: a full export (/mydata) and complete erasure (/delete)."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.storage import repositories
from reminderbot.storage.models import Base

EXPORT_FORMAT = 1


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def row_to_dict(row: Base) -> dict[str, Any]:
    """Every column of a row, so a new column is exported without anyone remembering to."""
    return {attr.key: _plain(getattr(row, attr.key)) for attr in inspect(row).mapper.column_attrs}


async def export_person(
    session: AsyncSession, telegram_user_id: int, now: datetime
) -> dict[str, Any] | None:
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None:
        return None
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "person": row_to_dict(person),
        "schedules": [row_to_dict(r) for r in await repositories.schedules_of(session, person.id)],
        "deliveries": [
            row_to_dict(r) for r in await repositories.deliveries_of(session, person.id)
        ],
        "checkins": [row_to_dict(r) for r in await repositories.checkins_of(session, person.id)],
    }


async def erase_person(session: AsyncSession, telegram_user_id: int) -> int | None:
    """Delete the person and, by cascade, every row about them. Returns the erased person's
    id, or None if we held nothing."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None:
        return None
    person_id = person.id
    await repositories.delete_person(session, person_id)
    session.expunge(person)
    return person_id
