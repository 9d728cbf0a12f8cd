"""The daily purge (services/retention.py) as a JobQueue job: one instance at a time, partner
lines sent once the erasures committed, one log line of counts."""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot

from reminderbot.services import retention
from reminderbot.services.retention import Purged, RetentionPolicy
from reminderbot.storage.outage import DATABASE_ERRORS
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.notices import send_notices

log = logging.getLogger(__name__)

# Held a while after the purge, so another instance whose daily job fires a little later (its
# clock a few seconds apart) finds the lock taken instead of purging again for nothing.
HOLD_SECONDS = 30.0


async def run_retention(bot: Bot, state: AppState, hold_seconds: float = 0.0) -> Purged | None:
    """One day's purge, unless another instance is running it (then None). Never raises for
    the database or Telegram."""
    engine = state.sessions.kw.get("bind")
    if engine is None:
        return None
    try:
        async with retention.only_instance(engine) as mine:
            if not mine:
                log.info("retention: another instance is purging")
                return None
            policy = RetentionPolicy.of(state.settings)
            purged = await retention.purge(state.sessions, state.catalog, policy, state.now())
            # Committed: a reminder already claimed for these people re-reads them first.
            for person_id in purged.changed:
                state.person_changes.mark(person_id)
            await send_notices(bot, state, purged.notices)
            counts = ", ".join(f"{name} {n}" for name, n in purged.counts().items())
            log.info("retention: purged %s%s", counts, " (stopped early)" if purged.failed else "")
            await asyncio.sleep(hold_seconds)
            return purged
    except DATABASE_ERRORS as exc:
        log.error("retention: not run, the database failed (%s)", type(exc).__name__)
        return None


async def retention_job(context: BotContext) -> None:
    await run_retention(context.bot, context.state, hold_seconds=HOLD_SECONDS)
