"""Lines for a partner: only what the rules allow them ever to learn, and only what was chosen.

A partner can learn that pairing started or ended, that shared prompts rest or resume, and the
check-ins the owner chose to share (the mood only; notes never), at most one line per check-in.
Every such line respects the receiver: nothing reaches someone who stopped or who turned shared
check-ins off, and a line that falls in their quiet hours is held in ``partner_notices`` until
the hours end. Lines are decided here, inside the caller's
transaction, and returned as :class:`Notice` values to send after the commit.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services.timekeeping import in_quiet_hours, quiet_hours_end
from reminderbot.storage.models import (
    CheckIn,
    ConsentState,
    Mood,
    PartnerNotice,
    Person,
    SharingLevel,
)

# Which moods each sharing level lets the partner see.
# Within this time of the last line about shared prompts resting or coming back, a change
# edits that line instead of adding one: toggling the shared pause cannot fill a chat.
STATE_LINE_WINDOW = timedelta(hours=24)
SHAREABLE: dict[SharingLevel, frozenset[Mood]] = {
    SharingLevel.NOTHING: frozenset(),
    SharingLevel.NEED_SPACE: frozenset({Mood.NEED_SPACE}),
    SharingLevel.ALL: frozenset(Mood),
}
HELD_BATCH = 200


class NoticeKind(enum.StrEnum):
    PAIRED = "paired"
    UNPAIRED = "unpaired"
    RESTING = "resting"  # shared prompts rest
    RESUMED = "resumed"  # shared prompts are back
    CHECKIN = "checkin"


@dataclass(frozen=True, slots=True)
class Notice:
    """One line to send to a partner, with how their own settings say it must be sent.

    For a shared check-in, ``mood`` None is the neutral line (its owner took the answer
    back); ``record_id`` is the partner_notices row that keeps the sent line's message id, and
    ``edit_message_id`` says the line is already in the chat and is to be edited, not sent."""

    person_id: int
    chat_id: int
    language: str
    kind: NoticeKind
    mood: Mood | None
    discreet: bool
    silent: bool
    record_id: int | None = None
    edit_message_id: int | None = None


def may_receive(person: Person) -> bool:
    """Someone who stopped gets nothing at all, not even a line about their partner."""
    return person.consent is ConsentState.GIVEN and person.reachable


def _notice(
    person: Person,
    kind: NoticeKind,
    mood: Mood | None,
    *,
    record_id: int | None = None,
    edit_message_id: int | None = None,
) -> Notice:
    return Notice(
        person_id=person.id,
        chat_id=person.chat_id,
        language=person.language,
        kind=kind,
        mood=mood,
        discreet=person.discreet_preview,
        silent=person.silent,
        record_id=record_id,
        edit_message_id=edit_message_id,
    )


def receives_checkins(person: Person) -> bool:
    """Shared check-ins reach someone who may receive anything and has not turned them off."""
    return may_receive(person) and person.receives_partner_checkins


async def partner_of(session: AsyncSession, person: Person) -> Person | None:
    if person.couple_id is None:
        return None
    query = select(Person).where(Person.couple_id == person.couple_id, Person.id != person.id)
    return (await session.execute(query)).scalars().first()


async def drop_notices(session: AsyncSession, person_ids: Iterable[int]) -> None:
    """Forget every line for these people, held or sent: they belonged to a pairing that ended."""
    ids = list(person_ids)
    await session.execute(delete(PartnerNotice).where(PartnerNotice.person_id.in_(ids)))


async def notify(
    session: AsyncSession,
    receiver: Person,
    kind: NoticeKind,
    now: datetime,
    *,
    mood: Mood | None = None,
    record: PartnerNotice | None = None,
    checkin_id: int | None = None,
) -> list[Notice]:
    """Send now (returned) or hold until the receiver's quiet hours end (stored)."""
    if not may_receive(receiver):
        return []
    if kind in (NoticeKind.RESTING, NoticeKind.RESUMED):
        # A rest and a resume that both wait for the morning cancel out: nothing changed.
        opposite = NoticeKind.RESUMED if kind is NoticeKind.RESTING else NoticeKind.RESTING
        held = (
            (
                await session.execute(
                    select(PartnerNotice).where(
                        PartnerNotice.person_id == receiver.id,
                        PartnerNotice.kind == opposite,
                        PartnerNotice.sent_at.is_(None),
                    )
                )
            )
            .scalars()
            .first()
        )
        if held is not None:
            await session.delete(held)
            return []
        recent = await _recent_state_line(session, receiver, now)
        if recent is not None:
            # An edit makes no sound, so like a changed check-in it is made at once.
            recent.kind = kind.value
            return [_notice(receiver, kind, None, edit_message_id=recent.telegram_message_id)]
    quiet = in_quiet_hours(now, receiver.timezone, receiver.quiet_start, receiver.quiet_end)
    send_after = (
        quiet_hours_end(now, receiver.timezone, receiver.quiet_start, receiver.quiet_end)
        if quiet
        else None
    )
    kept = checkin_id is not None or kind in STATE_KINDS  # lines a later change edits
    if record is None and (quiet or kept):
        record = PartnerNotice(person_id=receiver.id, checkin_id=checkin_id, created_at=now)
        session.add(record)
    if record is not None:
        record.kind = kind.value
        record.mood = mood.value if mood is not None else None
        record.send_after = send_after
        record.sent_at = None if quiet else now
        await session.flush()
    record_id = record.id if record is not None and kept else None
    return [] if quiet else [_notice(receiver, kind, mood, record_id=record_id)]


STATE_KINDS = frozenset({NoticeKind.RESTING, NoticeKind.RESUMED})


async def _recent_state_line(
    session: AsyncSession, receiver: Person, now: datetime
) -> PartnerNotice | None:
    """The line about shared prompts this receiver got within the window, if it can be edited."""
    query = (
        select(PartnerNotice)
        .where(
            PartnerNotice.person_id == receiver.id,
            PartnerNotice.checkin_id.is_(None),
            PartnerNotice.kind.in_([k.value for k in STATE_KINDS]),
            PartnerNotice.sent_at > now - STATE_LINE_WINDOW,
            PartnerNotice.telegram_message_id.is_not(None),
        )
        .order_by(PartnerNotice.sent_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def share_checkin(session: AsyncSession, checkin_id: int, now: datetime) -> list[Notice]:
    """A check-in was tapped or changed: the partner's chat holds at most one line about it.

    The first shareable answer sends that line (or holds it for the end of the receiver's
    quiet hours); a later change edits the line, to the new mood when that is shared too and
    the receiver still takes shared check-ins, else to a neutral line, so a mis-tap can be
    taken back. An edit makes no sound, so it is made at once, even in quiet hours. A held
    line simply carries the latest answer, or is dropped when that is not shared."""
    checkin = await session.get(CheckIn, checkin_id)
    if checkin is None:
        return []
    owner = await session.get(Person, checkin.person_id)
    if owner is None:
        return []
    partner = await partner_of(session, owner)
    if partner is None:
        return []
    record = (
        await session.execute(select(PartnerNotice).where(PartnerNotice.checkin_id == checkin.id))
    ).scalar_one_or_none()
    shown = (
        checkin.mood
        if may_receive(owner)
        and checkin.mood in SHAREABLE[owner.sharing]
        and receives_checkins(partner)
        else None
    )
    if record is not None and record.sent_at is not None:
        if record.mood == (shown.value if shown else None) or record.telegram_message_id is None:
            return []  # the line already says this, or there is no line we could edit
        record.mood = shown.value if shown else None
        return [
            _notice(
                partner,
                NoticeKind.CHECKIN,
                shown,
                record_id=record.id,
                edit_message_id=record.telegram_message_id,
            )
        ]
    if shown is None:
        if record is not None:
            await session.delete(record)  # still waiting for the morning: it never goes out
        return []
    return await notify(
        session,
        partner,
        NoticeKind.CHECKIN,
        now,
        mood=shown,
        record=record,
        checkin_id=checkin.id,
    )


async def remember_lines(session: AsyncSession, sent: dict[int, int]) -> None:
    """Keep the message id of each shared line that went out (partner_notices id -> message
    id), so a later change edits that line instead of adding another."""
    for record_id, message_id in sent.items():
        record = await session.get(PartnerNotice, record_id)
        if record is not None:
            record.telegram_message_id = message_id


async def _still_due(session: AsyncSession, notice: PartnerNotice, receiver: Person) -> bool:
    """Re-check a held line against what is true now, not what was true at night."""
    if receiver.couple_id is None:
        return notice.kind == NoticeKind.UNPAIRED
    if notice.kind != NoticeKind.CHECKIN:
        return notice.kind != NoticeKind.UNPAIRED
    checkin = await session.get(CheckIn, notice.checkin_id) if notice.checkin_id else None
    owner = await session.get(Person, checkin.person_id) if checkin else None
    return (
        checkin is not None
        and owner is not None
        and may_receive(owner)
        and receiver.receives_partner_checkins
        and owner.couple_id == receiver.couple_id
        and checkin.mood.value == notice.mood
        and checkin.mood in SHAREABLE[owner.sharing]
    )


async def due_held(session: AsyncSession, now: datetime) -> list[Notice]:
    """Held lines whose quiet hours are over, re-checked; the caller sends them after commit."""
    query = (
        select(PartnerNotice, Person)
        .join(Person, Person.id == PartnerNotice.person_id)
        .where(PartnerNotice.sent_at.is_(None), PartnerNotice.send_after <= now)
        .order_by(PartnerNotice.send_after)
        .limit(HELD_BATCH)
        .with_for_update(skip_locked=True, of=PartnerNotice)
    )
    out: list[Notice] = []
    for notice, receiver in (await session.execute(query)).all():
        if not may_receive(receiver) or not await _still_due(session, notice, receiver):
            await session.delete(notice)
            continue
        if in_quiet_hours(now, receiver.timezone, receiver.quiet_start, receiver.quiet_end):
            # They changed their quiet hours since: wait for the new end.
            notice.send_after = quiet_hours_end(
                now, receiver.timezone, receiver.quiet_start, receiver.quiet_end
            )
            continue
        mood = Mood(notice.mood) if notice.mood else None
        kept = notice.checkin_id is not None or notice.kind in STATE_KINDS
        record_id = notice.id if kept else None
        out.append(_notice(receiver, NoticeKind(notice.kind), mood, record_id=record_id))
        if kept:
            notice.send_after = None
            notice.sent_at = now  # kept, so a later change edits this line
        else:
            await session.delete(notice)
    return out
