"""A word after a check-in: a short note, kept only with the check-in it belongs to.

After a first tap the check-in's note window opens for a few minutes; the person's next plain
text inside it becomes that check-in's note. The window lives in the database (not in memory),
so any instance can take the note, and it is closed by anything else the person does, so a
note is never attached to a check-in it was not written for. Notes are never logged.
"""

from __future__ import annotations

import enum
import re
from datetime import datetime, timedelta

from sqlalchemy import case, literal, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from reminderbot.storage.models import CheckIn, Person

# Long enough to type a sentence, short enough that a later message is clearly not an answer.
NOTE_WINDOW = timedelta(minutes=10)


# Python keeps a surrogate pair from JSON as one character, so any surrogate left is alone.
_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    """The text as every database can hold it: PostgreSQL refuses U+0000 in text, and a lone
    surrogate (valid JSON from Telegram, not valid UTF-8) cannot be encoded at all."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", ""))


class NoteResult(enum.Enum):
    KEPT = "kept"
    TOO_LONG = "too_long"  # refused; the window stays open for a shorter try
    NO_WINDOW = "no_window"  # the text is not a note: no check-in is waiting for one


async def after_checkin(
    session: AsyncSession, checkin: CheckIn, *, first_tap: bool, now: datetime
) -> bool:
    """Only the check-in just tapped may take a note. A first tap opens its window (True: offer
    the note); a changed answer leaves its own window as it was and offers nothing again."""
    opens = first_tap and checkin.note is None
    if not opens:
        await session.execute(
            update(CheckIn)
            .where(
                CheckIn.person_id == checkin.person_id,
                CheckIn.id != checkin.id,
                CheckIn.note_open_until.is_not(None),
            )
            .values(note_open_until=None)
        )
        return False
    # One statement (this runs on every first tap): open this window, close any other.
    until = now + NOTE_WINDOW
    await session.execute(
        update(CheckIn)
        .where(
            CheckIn.person_id == checkin.person_id,
            or_(CheckIn.id == checkin.id, CheckIn.note_open_until.is_not(None)),
        )
        .values(
            note_open_until=case(
                (CheckIn.id == checkin.id, literal(until, CheckIn.note_open_until.type)),
                else_=null(),
            )
        )
        .execution_options(synchronize_session=False)
    )
    # The row says so already; the object must too, without a second UPDATE at commit.
    set_committed_value(checkin, "note_open_until", until)
    return True


async def close_windows(session: AsyncSession, telegram_user_id: int) -> None:
    """The person did something else (a command, another button): no open window remains."""
    people = select(Person.id).where(Person.telegram_user_id == telegram_user_id)
    await session.execute(
        update(CheckIn)
        .where(
            CheckIn.person_id.in_(people.scalar_subquery()), CheckIn.note_open_until.is_not(None)
        )
        .values(note_open_until=None)
        .execution_options(synchronize_session=False)
    )


async def keep_note(
    session: AsyncSession, telegram_user_id: int, text: str, now: datetime, *, max_chars: int
) -> NoteResult:
    """Keep ``text`` as the note of the check-in whose window is open, if one is."""
    query = (
        select(CheckIn)
        .join(Person, Person.id == CheckIn.person_id)
        .where(Person.telegram_user_id == telegram_user_id, CheckIn.note_open_until > now)
        .order_by(CheckIn.id.desc())
        .limit(1)
        .with_for_update(of=CheckIn)
    )
    checkin = (await session.execute(query)).scalar_one_or_none()
    if checkin is None:
        return NoteResult.NO_WINDOW
    note = storable(text).strip()
    if len(note) > max_chars:
        return NoteResult.TOO_LONG
    checkin.note = note
    checkin.note_open_until = None
    return NoteResult.KEPT
