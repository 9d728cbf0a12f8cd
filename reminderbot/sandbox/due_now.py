"""The sandbox's "make my next reminder due now": a demo should not wait for 08:30.

It says a reminder arrives only when the dispatcher would send one now, judged by the
dispatcher's own rules (``delivery/policy.py``) on the stored row; otherwise it says why nothing
will arrive (and the dispatcher records the skip).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.delivery.batch import Reason
from reminderbot.delivery.policy import Gate, Policy, kinds_for
from reminderbot.sandbox.server import DueNowHook
from reminderbot.storage import crypto, keys, repositories
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.models import ConsentState, Person, Schedule, utcnow

# Anything made due now is fresh: staleness never applies.
_POLICY = Policy(stale_after=timedelta(hours=1))
ARRIVES = "The next reminder is due now; it arrives within a second or two."
NOTHING = "Nothing changed, and nothing will arrive: "


def _local(person: Person, at: datetime) -> str:
    return at.astimezone(ZoneInfo(person.timezone)).strftime("%a %d %b, %H:%M")


def _why_nothing(person: Person, schedule: Schedule, now: datetime) -> str | None:
    """Why the dispatcher would send nothing for ``schedule`` if it were due ``now``."""
    reason = _POLICY.occurrence_skip(person, schedule, now, now, latest=schedule.id)
    if reason is Reason.PAUSED:
        if person.paused_until is None:
            return "their reminders are paused until they resume (/resume)"
        return f"their reminders are paused until {_local(person, person.paused_until)}"
    if reason is Reason.QUIET_HOURS:
        assert person.quiet_start is not None and person.quiet_end is not None
        return (
            f"it is their quiet hours ({person.quiet_start:%H:%M}-{person.quiet_end:%H:%M} "
            f"in {person.timezone})"
        )
    if reason is not None:
        return f"the dispatcher would skip it ({reason.value})"
    if not kinds_for(person, schedule):
        return "every kind of line is turned off in /settings"
    if Gate.of(person, now).reason_for(schedule.kind) is not None:
        return "shared prompts are resting"
    return None


async def make_next_due(session: AsyncSession, user_id: int, now: datetime) -> str:
    """Make this person's next reminder due at ``now`` and say whether it will arrive; the
    page's status line shows what is returned."""
    person = await repositories.person_by_telegram_id(session, user_id)
    if person is None:
        return "This person has not said yes yet."
    if person.consent is not ConsentState.GIVEN:
        return NOTHING + "this person has stopped all messages (/start begins again)."
    if not person.reachable:
        return NOTHING + "Telegram said this chat cannot be reached (blocked bot)."
    query = select(Schedule).where(Schedule.person_id == person.id)
    rows = list((await session.execute(query)).scalars())
    if not rows:
        return (
            "Nothing changed, and nothing will arrive: this person has no reminder times (/times)."
        )
    upcoming = sorted((s for s in rows if s.next_due_at is not None), key=_due)
    if not upcoming:
        if person.weekdays == 0:
            return NOTHING + "no days are chosen in /settings, so nothing is scheduled."
        return NOTHING + "no reminder is scheduled."
    schedule = upcoming[0]
    # Due now even when nothing will arrive: the dispatcher then records the skip, as it would
    # at the real time (a demo of a pause being honoured), and schedules the next one.
    schedule.next_due_at = now
    why = _why_nothing(person, schedule, now)
    if why is not None:
        return f"The next reminder is due now, but nothing will arrive: {why}."
    return ARRIVES


def _due(schedule: Schedule) -> datetime:
    assert schedule.next_due_at is not None
    return schedule.next_due_at


def due_now_hook(database_url: str) -> DueNowHook:
    """A hook that writes to the bot's own database; its dispatcher picks the row up within a
    tick, exactly as it would at the real time."""

    async def make_due(user_id: int) -> str:
        # The bot's keys (its key file beside the database, or REMINDERBOT_DATA_KEY), borrowed
        # for this one look-up: a person is found by the keyed hash of their id.
        saved = crypto.current()
        loaded = keys.load_keys(os.environ.get("REMINDERBOT_DATA_KEY"), None, database_url)
        crypto.use(loaded.keyring)
        engine = create_engine(database_url)
        try:
            await keys.unlock(engine)
            async with create_session_factory(engine).begin() as session:
                return await make_next_due(session, user_id, utcnow())
        finally:
            await engine.dispose()
            crypto.use(*saved)

    return make_due
