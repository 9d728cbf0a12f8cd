"""Each update takes effect once, however often Telegram delivers it.

A webhook update is answered 200 only after it is handled (``telegram/web.py``), and a polled
one is confirmed only after its batch is handled (``telegram/serve.py``); so after a crash, a
stop or a time-out Telegram sends it again. Its ``update_id`` is recorded in
``handled_updates`` (old numbers go with ``forget_old``, a job):

- inside the transaction that makes the update's effect (``acting.acting_person``, the check-in
  tap), so the effect and the record commit together or not at all;
- for any other update, once its handling has finished (``record_handled``, the last group).

A delivery whose number is recorded is dropped before any handler runs (``drop_repeat``), with
no reply; one racing the first delivery on another instance meets the record inside its own
transaction and changes nothing. The number says nothing about anyone; rows go after
``KEEP_FOR``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ApplicationHandlerStop

from reminderbot.delivery.reminder import CHECKIN
from reminderbot.storage import repositories
from reminderbot.storage.outage import DATABASE_ERRORS
from reminderbot.telegram.context import BotContext

log = logging.getLogger(__name__)

# Telegram stops re-sending an update within a day; two leave a margin and no more.
KEEP_FOR = timedelta(days=2)
# How often each instance deletes old numbers (app._post_init schedules forget_old).
FORGET_EVERY = timedelta(hours=1)
WRITER_KEY = "sqlite_writer"


@contextlib.asynccontextmanager
async def one_writer(context: BotContext) -> AsyncIterator[None]:
    """Around a short transaction that writes for an update: on SQLite, one at a time in this
    process. SQLite has one write lock; a burst of updates on many connections, each waiting
    for it with a busy time-out, starve each other past that time-out ("database is locked",
    which a person would hear as the database being down). In turn here, each waits only for
    the others' few statements. PostgreSQL locks rows, so nothing waits here."""
    engine = getattr(context.state.sessions, "kw", {}).get("bind")
    if engine is None or engine.dialect.name != "sqlite":
        yield
        return
    lock: asyncio.Lock = context.bot_data.setdefault(WRITER_KEY, asyncio.Lock())
    async with lock:
        yield


async def drop_repeat(update: Update, context: BotContext) -> None:
    """First of all handlers: an update whose effect is already committed goes no further.

    A check-in tap, the busiest button, is checked in its own transaction instead."""
    query = update.callback_query
    if query is not None and CHECKIN.match(query.data or ""):
        return
    try:
        async with context.state.sessions.begin() as session:
            seen = await repositories.was_handled(session, update.update_id)
    except DATABASE_ERRORS as exc:
        # The handlers meet the outage themselves and say so; nothing is decided here.
        log.warning("repeat check skipped: error=%s", type(exc).__name__)
        return
    if seen:
        log.info("update delivered again, already handled: update_id=%s", update.update_id)
        raise ApplicationHandlerStop


async def first_delivery(
    session: AsyncSession, update: Update, context: BotContext, now: datetime
) -> bool:
    """In the transaction that makes the update's effect: record it; False for a repeat (the
    caller then changes nothing and says nothing). A second transaction of the same handling
    goes on without a second record."""
    if context.update_recorded:
        return True
    if await repositories.record_handled(session, update.update_id, now):
        return True
    recorded(context)  # by the first delivery
    log.info("update delivered again, already handled: update_id=%s", update.update_id)
    return False


def recorded(context: BotContext) -> None:
    """The effect's transaction, with the record, has committed: no second record is needed."""
    context.update_recorded = True


async def record_handled(update: Update, context: BotContext) -> None:
    """Last of all handlers: record an update that changed nothing in its own transaction
    (a /help, a refusal), so a repeat of it is not answered twice."""
    if context.update_recorded:
        return
    state = context.state
    try:
        async with one_writer(context), state.sessions.begin() as session:
            await repositories.record_handled(session, update.update_id, state.now())
    except DATABASE_ERRORS as exc:
        # It was handled and answered; a repeat would be answered again, nothing worse.
        log.warning("handled update not recorded: error=%s", type(exc).__name__)


async def forget_old(context: BotContext) -> None:
    """A job, every FORGET_EVERY on each instance: numbers older than KEEP_FOR go (one
    DELETE on an index; several instances doing it at once do no harm)."""
    state = context.state
    try:
        async with one_writer(context), state.sessions.begin() as session:
            await repositories.forget_handled_before(session, state.now() - KEEP_FOR)
    except DATABASE_ERRORS as exc:
        log.warning("old update numbers not forgotten yet: error=%s", type(exc).__name__)
