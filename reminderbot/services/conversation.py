"""Questions whose answer is the person's next plain text, kept in the database.

With several instances behind one webhook, the update that asks and the update that answers
may reach different processes, so what the bot is waiting for lives on the person's row, not
in one process's memory. Only for someone who said yes: nothing is stored about anyone else,
and a question asked of someone who has since stopped is no longer waiting.

A question waits a day. Someone who answers the next morning is still understood; a text weeks
later is not mistaken for an answer to a question they have forgotten.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.storage.models import ConsentState, Person

WAITS_FOR = timedelta(days=1)


class Question(enum.StrEnum):
    TIMEZONE = "timezone"  # right after a first yes, or /timezone without a place


def _said_yes(telegram_user_id: int) -> ColumnElement[bool]:
    return and_(Person.telegram_user_id == telegram_user_id, Person.consent == ConsentState.GIVEN)


async def ask(
    session: AsyncSession, telegram_user_id: int, question: Question, now: datetime
) -> None:
    """Wait for the answer to ``question`` (replacing any earlier one). A no-op for anyone who
    has not said yes."""
    await session.execute(
        update(Person)
        .where(_said_yes(telegram_user_id))
        .values(awaiting=question.value, awaiting_until=now + WAITS_FOR)
        .execution_options(synchronize_session=False)
    )


async def waiting_for(
    session: AsyncSession, telegram_user_id: int, now: datetime
) -> Question | None:
    """The question the person's next text answers, if one is still waiting."""
    query = select(Person.awaiting).where(_said_yes(telegram_user_id), Person.awaiting_until > now)
    value = (await session.execute(query)).scalar_one_or_none()
    known = {question.value: question for question in Question}
    return known.get(value) if value is not None else None


async def answered(session: AsyncSession, telegram_user_id: int, question: Question) -> None:
    """The question was answered (by text, command or button): stop waiting for it."""
    await session.execute(
        update(Person)
        .where(Person.telegram_user_id == telegram_user_id, Person.awaiting == question.value)
        .values(awaiting=None, awaiting_until=None)
        .execution_options(synchronize_session=False)
    )
