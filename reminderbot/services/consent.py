"""Consent: nothing is stored before a person says yes, and nothing is sent after they stop."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.services import schedules
from reminderbot.storage import repositories
from reminderbot.storage.models import ConsentState, Person, Schedule

# What the welcome tells a person is stored, before they say yes: one line each
# (``onboarding.stored.<line>`` in messages/), in this order, and the columns each line stands
# for. tests/test_informed_consent.py ties every column of every table to exactly one line, so
# nothing new can be stored without the welcome saying so.
STORED_LINES: dict[str, tuple[str, ...]] = {
    "account": (
        "people.id",
        "people.telegram_user_hash",
        "people.chat_id",
        "people.language",
        "people.timezone",
        "people.reachable",
        "people.unreachable_since",
        "people.awaiting",
        "people.awaiting_until",
        "people.created_at",
        "people.updated_at",
    ),
    "consent": ("people.consent", "people.consent_given_at", "people.consent_withdrawn_at"),
    "choices": (
        "people.wants_affirmations",
        "people.wants_practices",
        "people.wants_checkin_prompts",
        "people.weekdays",
        "people.quiet_start",
        "people.quiet_end",
        "people.discreet_preview",
        "people.silent",
        "people.keep_checkins_days",
        "schedules.id",
        "schedules.person_id",
        "schedules.local_time",
        "schedules.kind",
        "schedules.next_due_at",
        "schedules.created_at",
    ),
    "describes_you": ("people.audience",),
    "pauses": (
        "people.paused_at",
        "people.paused_until",
        "people.shared_hold_at",
        "people.shared_hold_until",
        "people.shared_paused_at",
        "people.shared_paused_until",
    ),
    "sent": (
        "people.content_seed",
        "people.content_position",
        "deliveries.id",
        "deliveries.person_id",
        "deliveries.schedule_id",
        "deliveries.due_at",
        "deliveries.kind",
        "deliveries.content_id",
        "deliveries.status",
        "deliveries.reason",
        "deliveries.telegram_message_id",
        "deliveries.claimed_at",
        "deliveries.retry_at",
        "deliveries.attempts",
        "deliveries.uncertain",
        "deliveries.finished_at",
    ),
    "checkins": (
        "checkins.id",
        "checkins.person_id",
        "checkins.delivery_id",
        "checkins.mood",
        "checkins.created_at",
        "checkins.updated_at",
        "checkins.update_id",
    ),
    "notes": ("checkins.note", "checkins.note_open_until"),
    "partner": (
        "people.couple_id",
        "people.wants_couple_prompts",
        "people.couple_prompts_agreed",
        "people.receives_partner_checkins",
        "people.sharing",
        "couples.id",
        "couples.created_at",
        "invites.id",
        "invites.person_id",
        "invites.token_hash",
        "invites.created_at",
        "invites.expires_at",
        "partner_notices.id",
        "partner_notices.person_id",
        "partner_notices.checkin_id",
        "partner_notices.kind",
        "partner_notices.mood",
        "partner_notices.created_at",
        "partner_notices.send_after",
        "partner_notices.sent_at",
        "partner_notices.telegram_message_id",
    ),
}


@dataclass(frozen=True, slots=True)
class ConsentOutcome:
    person: Person
    first_time: bool


async def give_consent(
    session: AsyncSession,
    *,
    telegram_user_id: int,
    chat_id: int,
    language: str,
    timezone: str,
    default_time: time,
    now: datetime,
) -> ConsentOutcome:
    """Record a yes. A first yes creates the person with one daily reminder at the default time;
    a yes after /stop restarts their existing schedules from now."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None:
        person = Person(
            telegram_user_id=telegram_user_id,
            chat_id=chat_id,
            language=language,
            timezone=timezone,
            consent=ConsentState.GIVEN,
            consent_given_at=now,
            reachable=True,
            content_seed=secrets.randbits(48),
            content_position=0,
        )
        session.add(person)
        await session.flush()
        session.add(Schedule(person_id=person.id, local_time=default_time))
        await session.flush()
        await schedules.recompute(session, person, now)
        return ConsentOutcome(person, first_time=True)

    person.chat_id = chat_id
    person.consent = ConsentState.GIVEN
    person.consent_given_at = now
    person.consent_withdrawn_at = None
    person.reachable = True
    person.unreachable_since = None
    await schedules.recompute(session, person, now)
    return ConsentOutcome(person, first_time=False)


async def stop(session: AsyncSession, telegram_user_id: int, now: datetime) -> bool:
    """Stop all messages, keep the data. Returns False when there was nothing to stop."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id, for_update=True)
    if person is None or person.consent is ConsentState.STOPPED:
        return False
    person.consent = ConsentState.STOPPED
    person.consent_withdrawn_at = now
    return True


def is_active(person: Person | None) -> bool:
    return person is not None and person.consent is ConsentState.GIVEN


async def mark_reachable(
    session: AsyncSession, telegram_user_id: int, chat_id: int, now: datetime
) -> bool:
    """The person wrote to us, so Telegram will deliver to them again. True if that changed
    anything; a cheap read otherwise, since this runs for every update."""
    person = await repositories.person_by_telegram_id(session, telegram_user_id)
    if person is None or person.reachable:
        return False
    person.reachable = True
    person.unreachable_since = None
    person.chat_id = chat_id
    await schedules.recompute(session, person, now)
    return True
