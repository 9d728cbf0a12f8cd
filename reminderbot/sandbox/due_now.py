"""The sandbox's "make my next reminder due now": a demo should not wait for 08:30."""

from __future__ import annotations

import os

from reminderbot.sandbox.server import DueNowHook
from reminderbot.services import schedules
from reminderbot.storage import crypto, keys, repositories
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.models import utcnow


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
                person = await repositories.person_by_telegram_id(session, user_id)
                if person is None:
                    return "This person has not said yes yet."
                if not await schedules.make_next_due_now(session, person, utcnow()):
                    return "No reminder is scheduled (stopped, unreachable or no times)."
            return "The next reminder is due now; it arrives within a second or two."
        finally:
            await engine.dispose()
            crypto.use(*saved)

    return make_due
