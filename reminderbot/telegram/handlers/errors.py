"""The error handler: log ids (never words), answer gently, tell the admins, keep running."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import NetworkError

from reminderbot.telegram.context import BotContext

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    error = context.error
    if isinstance(update, Update):
        user = update.effective_user
        log.error(
            "handler failed: update_id=%s user_id=%s error=%s",
            update.update_id,
            user.id if user else None,
            type(error).__name__,
            exc_info=error,
        )
    else:
        log.error("background failure: error=%s", type(error).__name__, exc_info=error)
    if not isinstance(update, Update) or isinstance(error, NetworkError):
        # Without an update there is nobody to answer; on a network error the answer would fail too.
        await _tell_admins(context, update)
        return
    state = context.state
    lang = state.language_for(update.effective_user)
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(state.text("answers.error", lang))
        if update.effective_chat is not None:
            await context.bot.send_message(
                update.effective_chat.id, state.text("errors.generic", lang)
            )
    except Exception:  # the apology itself failed; the log above already has the cause
        log.warning("could not answer after an error: update_id=%s", update.update_id)
    await _tell_admins(context, update)


async def _tell_admins(context: BotContext, update: object) -> None:
    state = context.state
    update_id = update.update_id if isinstance(update, Update) else None
    for chat_id in state.settings.admin_chat_ids:
        try:
            await context.bot.send_message(
                chat_id,
                state.text(
                    "admin.error_report",
                    state.settings.default_language,
                    update_id=str(update_id),
                    error=type(context.error).__name__,
                ),
            )
        except Exception:
            log.warning("could not notify admin chat %s", chat_id)
