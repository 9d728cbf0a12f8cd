"""What we hold about a person: a full export (/mydata) and complete erasure (/delete)."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services import pairing
from reminderbot.storage import repositories
from reminderbot.storage.models import Base, CheckIn, Invite, PartnerNotice

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
    own = row_to_dict(person)
    # Stored as a keyed hash (meaningless to them); their id is what they know themselves by.
    own.pop("telegram_user_hash", None)
    own = {"telegram_user_id": person.telegram_user_id, **own}
    # The combined shared pause can carry the partner's own pause times: only whether shared
    # prompts rest is theirs to know. Their own hold (shared_hold_*) stays in. Likewise whether
    # both said yes to couple prompts is half the partner's answer; their own yes stays in.
    for column in ("shared_paused_at", "shared_paused_until", "couple_prompts_agreed"):
        own.pop(column, None)
    own["shared_prompts_resting"] = pairing.shared_resting(person, now)
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        "person": own,
        "schedules": [row_to_dict(r) for r in await repositories.schedules_of(session, person.id)],
        "deliveries": [
            row_to_dict(r) for r in await repositories.deliveries_of(session, person.id)
        ],
        "checkins": [row_to_dict(r) for r in await repositories.checkins_of(session, person.id)],
        "pairing": await _pairing_of(session, person.id, person.couple_id is not None),
        "shared_with_partner": await _shared_of(session, person.id),
    }


async def _shared_of(session: AsyncSession, person_id: int) -> list[dict[str, Any]]:
    """Which of their check-ins a line to the partner was about, with which mood (empty once the
    line was turned neutral) and when it went out or waits until. The row belongs to the
    partner's chat, so only these fields are theirs to see."""
    query = (
        select(PartnerNotice)
        .join(CheckIn, CheckIn.id == PartnerNotice.checkin_id)
        .where(CheckIn.person_id == person_id)
        .order_by(PartnerNotice.created_at, PartnerNotice.id)
    )
    return [
        {
            "checkin_id": notice.checkin_id,
            "mood": notice.mood,
            "shared_at": _plain(notice.sent_at),
            "held_until": _plain(notice.send_after),
        }
        for notice in (await session.execute(query)).scalars()
    ]


async def _pairing_of(session: AsyncSession, person_id: int, paired: bool) -> dict[str, Any]:
    """Their own side of pairing only (the sharing level and couple prompt choice are in the
    person row): whether they are paired and their open invite, never anything of the partner.
    Partner lines they received are left out: they are the partner's check-ins."""
    query = select(Invite).where(Invite.person_id == person_id)
    invite = (await session.execute(query)).scalar_one_or_none()
    return {
        "paired": paired,
        "open_invite": (
            None
            if invite is None
            else {
                "created_at": _plain(invite.created_at),
                "expires_at": _plain(invite.expires_at),
            }
        ),
    }


async def erase_person(session: AsyncSession, telegram_user_id: int) -> int | None:
    """Delete the person and, by cascade, every row about them. Returns the erased person's
    id, or None if we held nothing."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None:
        return None
    person_id = person.id
    # Unpair first (a no-op if the caller already did): the partner's row must not keep
    # pointing at a couple of one. Their own data is untouched.
    await pairing.unpair(session, person)
    await repositories.delete_person(session, person_id)
    session.expunge(person)
    return person_id
