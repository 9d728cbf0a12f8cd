"""What is left over: groups, unknown commands, free text, stale or forged buttons."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from reminderbot.services import consent
from reminderbot.storage.outage import DATABASE_ERRORS
from reminderbot.telegram.context import BotContext
from reminderbot.telegram.handlers import checkins, settings
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
    state = context.state
    try:
        async with state.sessions.begin() as session:
            chat_id = update.effective_chat.id
            if await consent.mark_reachable(session, user.id, chat_id, state.now()):
                log.info("person reachable again: user_id=%s", user.id)
    except DATABASE_ERRORS as exc:
        # Not worth failing the update over: /support, for one, works without a database.
        log.warning("reachability not checked: user_id=%s error=%s", user.id, type(exc).__name__)


async def free_text(update: Update, context: BotContext) -> None:
    """Text that is not a command: a note right after a check-in, a typed timezone after the
    question, else a pointer."""
    # The note first: its window is open only while a check-in tap was the person's last act,
    # so it is the fresher question even if an older timezone question went unanswered.
    if await checkins.typed_note(update, context):
        return
    if await settings.typed_timezone(update, context):
        return
    state = context.state
    await reply(
        update, context, state.text("errors.free_text", state.language_for(update.effective_user))
    )


async def stale_button(update: Update, context: BotContext) -> None:
    """Unknown, malformed or outdated callback data: answer politely, change nothing."""
    state = context.state
    await answer(
        update, state.text("answers.stale_button", state.language_for(update.effective_user))
    )
