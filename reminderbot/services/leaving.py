"""Stepping back and coming back: a pause and /resume, shared prompts resting, /unpair, /stop
and /delete.

Each takes a session, plain values and ``now`` and says whose rows changed, so the caller can
make any reminder already claimed for them re-read them once the transaction has committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services import consent, pairing, pausing, privacy, schedules, sharing
from reminderbot.services.pairing import SharedChange
from reminderbot.services.pausing import PauseLength
from reminderbot.services.preferences import NOBODY, People
from reminderbot.services.sharing import Notice
from reminderbot.storage import repositories
from reminderbot.storage.models import Person


@dataclass(frozen=True, slots=True)
class Left:
    """What a step back did: whether there was anything to do, the lines for a partner (sent
    after commit), and whose rows changed."""

    done: bool
    people: People = NOBODY
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True, slots=True)
class Paused:
    until: datetime | None
    people: People


async def pause(
    session: AsyncSession, person: Person, length: PauseLength, now: datetime
) -> Paused:
    """Rest this person's own reminders; never visible to a partner."""
    until = await pausing.pause(session, person, length, now)
    return Paused(until, frozenset({person.id}))


async def resume(session: AsyncSession, person: Person) -> Left:
    """End this person's own pause; done is False when they were not paused."""
    was_paused = await pausing.resume(session, person)
    return Left(was_paused, frozenset({person.id}))


def _both(change: SharedChange, person: Person, partner_id: int | None) -> People:
    people = {person.id} | ({partner_id} if partner_id is not None else set())
    return frozenset(people) if change.outcome is not pairing.SharedOutcome.NOT_PAIRED else NOBODY


async def _partner_id(session: AsyncSession, person: Person) -> int | None:
    partner = await sharing.partner_of(session, person)
    return None if partner is None else partner.id


async def pause_shared(
    session: AsyncSession, person: Person, length: PauseLength, now: datetime
) -> tuple[SharedChange, People]:
    """Rest couple prompts for both partners: both rows change."""
    partner_id = await _partner_id(session, person)
    change = await pairing.hold_shared(session, person, length, now)
    return change, _both(change, person, partner_id)


async def resume_shared(
    session: AsyncSession, person: Person, now: datetime
) -> tuple[SharedChange, People]:
    """Lift this person's own hold on shared prompts: both rows change."""
    partner_id = await _partner_id(session, person)
    change = await pairing.release_shared(session, person, now)
    return change, _both(change, person, partner_id)


async def unpair(session: AsyncSession, person: Person, now: datetime) -> Left:
    """End the pairing for both; the other hears one neutral line. Not done if not paired."""
    if person.couple_id is None:
        return Left(False)
    partner_id = await _partner_id(session, person)
    notices = await pairing.end_pairing(session, person, now)
    people = frozenset({person.id} | ({partner_id} if partner_id is not None else set()))
    return Left(True, people, tuple(notices))


async def stop(session: AsyncSession, telegram_user_id: int, now: datetime) -> Left:
    """Stop every message and keep the data. Not done when there was nothing to stop."""
    stopped = await consent.stop(session, telegram_user_id, now)
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None:
        return Left(stopped)
    await schedules.clear_due(session, person.id)
    return Left(stopped, frozenset({person.id}))


async def delete(session: AsyncSession, telegram_user_id: int, now: datetime) -> Left:
    """/delete: erase everything about the person (see :func:`erase`)."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None:
        return Left(False)
    return await erase(session, person, now)


async def erase(session: AsyncSession, person: Person, now: datetime) -> Left:
    """Erase everything about the person, for /delete and for the retention purge alike.
    Paired: unpair first, so the partner hears only the neutral unpairing line, exactly as after
    /unpair; then only this person's own rows go."""
    unpaired = await unpair(session, person, now)
    erased = await privacy.erase(session, person)
    return Left(True, unpaired.people | {erased}, unpaired.notices)
