"""What is left over: groups, unknown commands, free text, attachments, stale or forged
buttons."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from reminderbot.delivery.reminder import CHECKIN
from reminderbot.services import consent
from reminderbot.storage import repositories
from reminderbot.storage.models import Person
from reminderbot.storage.outage import DATABASE_ERRORS
from reminderbot.telegram.context import BotContext
from reminderbot.telegram.cooldown import media_pointer_cooldown
from reminderbot.telegram.replies import answer, reply

log = logging.getLogger(__name__)


async def private_chats_only(update: Update, context: BotContext) -> None:
    """Gatekeeper: outside private chats say so once per command and store nothing."""
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        return
    state = context.state
    lang = state.language_for(update.effective_user)
    if update.callback_query is not None:
        await answer(update, state.text("answers.private_only", lang))
    elif (message := update.effective_message) is not None and (message.text or "").startswith("/"):
        await reply(update, context, state.text("errors.private_only", lang))
    raise ApplicationHandlerStop


async def unknown_command(update: Update, context: BotContext) -> None:
    state = context.state
    await reply(
        update,
        context,
        state.text("errors.unknown_command", state.language_for(update.effective_user)),
    )


async def person_wrote(update: Update, context: BotContext) -> None:
    """Someone we stopped sending to after Telegram said 'blocked' has written again: they
    can be reached, so their reminders resume."""
    user = update.effective_user
    if user is None or update.effective_chat is None:
        return
    query = update.callback_query
    if query is not None and CHECKIN.match(query.data or ""):
        # checkins.checkin_button reads the person in its own transaction and marks them there:
        # the same check from the database, one transaction fewer on the busiest button.
        return
    state = context.state
    try:
        async with state.sessions.begin() as session:
            chat_id = update.effective_chat.id
            if await consent.mark_reachable(session, user.id, chat_id, state.now()):
                log.info("person reachable again: user_id=%s", user.id)
    except DATABASE_ERRORS as exc:
        # Not worth failing the update over: /support, for one, works without a database.
        log.warning("reachability not checked: user_id=%s error=%s", user.id, type(exc).__name__)


# Takes a text as the answer to a question it asked (True), or leaves it (False).
TextReader = Callable[[Update, BotContext], Awaitable[bool]]


def free_text(*readers: TextReader) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """The handler for text that is not a command: each reader in turn may take it as the
    answer to its question (app._register names them, in order); else a pointer."""

    async def free_text(update: Update, context: BotContext) -> None:
        for read in readers:
            if await read(update, context):
                return
        await point_the_way(update, context)

    return free_text


async def point_the_way(update: Update, context: BotContext) -> None:
    """Text nobody asked for: where to go, true for where the person is."""
    state = context.state
    user = update.effective_user
    person: Person | None = None
    key = "errors.free_text"
    try:
        async with state.sessions.begin() as session:
            person = await repositories.person_by_telegram_id(session, user.id) if user else None
    except DATABASE_ERRORS as exc:
        # The general pointer is true for anyone; nothing else depends on this read.
        log.warning("free text: person not read: %s", type(exc).__name__)
    else:
        # Accurate for where they are: no times to promise after /stop, nothing held after
        # /delete (which leaves no trace, so it reads the same as never having started).
        if person is None:
            key = "errors.free_text_no_data"
        elif not consent.is_active(person):
            key = "errors.free_text_stopped"
    await reply(update, context, state.text(key, state.language_for(user, person)))


async def not_text(update: Update, context: BotContext) -> None:
    """Voice, stickers, photos, files and every other attachment: only text is read, so say
    so briefly, once for a burst (an album arrives as one update per item). Nothing is
    downloaded (no getFile) and nothing of it is stored or logged."""
    state = context.state
    user = update.effective_user
    if user is not None:
        pointers = media_pointer_cooldown(context)
        now = state.now()
        if pointers.too_soon("media", user.id, now):
            return
        pointers.done("media", user.id, now)
    await reply(
        update,
        context,
        state.text("errors.media_not_read", state.language_for(update.effective_user)),
    )


async def stale_button(update: Update, context: BotContext) -> None:
    """Unknown, malformed or outdated callback data: answer politely, change nothing."""
    state = context.state
    await answer(
        update, state.text("answers.stale_button", state.language_for(update.effective_user))
    )
