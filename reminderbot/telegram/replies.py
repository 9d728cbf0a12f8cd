"""Small helpers for answering a person with words from messages/.

Every button handler acts first and answers last, through these helpers: an answer or an edit
that Telegram refuses never undoes or skips what the press asked for.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError

from reminderbot.telegram.context import BotContext

log = logging.getLogger(__name__)

Buttons = list[list[tuple[str, str]]]

# Telegram's own descriptions (lower case) for an edit that needs no sending again.
NOT_MODIFIED = "message is not modified"
# ...and for a message that can no longer be edited (deleted, or too old): say it anew instead.
CANNOT_EDIT = ("message to edit not found", "message can't be edited")


def keyboard(rows: Buttons) -> InlineKeyboardMarkup:
    """Rows of (label, callback_data) pairs."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


async def reply(
    update: Update,
    context: BotContext,
    text: str,
    *,
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    chat = update.effective_chat
    if chat is None:
        return None
    return await context.bot.send_message(chat.id, text, reply_markup=markup)


async def protected_reply(
    update: Update, context: BotContext, text: str, *, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """A reply about someone's check-ins: not forwardable or savable, if the practice says so."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await context.bot.send_message(
        chat.id,
        text,
        reply_markup=markup,
        protect_content=context.state.settings.protect_content,
    )


async def answer(update: Update, text: str | None = None) -> None:
    """Stop the person's spinner, with an optional short note. Never raises: Telegram refuses
    answers to presses older than its answer window (a backlog, a restart, a slow moment), and
    the press still counts, so call this after the action."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer(text)
    except TelegramError as exc:
        log.debug("press not answered: update_id=%s error=%s", update.update_id, type(exc).__name__)


def _unchanged(message: object, text: str, markup: InlineKeyboardMarkup | None) -> bool:
    """Whether the message the person pressed on already shows this text and these buttons."""
    if not isinstance(message, Message) or message.text != text:
        return False
    current = message.reply_markup
    if current is not None and not current.inline_keyboard:
        current = None
    return current == markup


async def replace_with(
    update: Update,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    protect: bool = False,
) -> None:
    """Edit the message whose button was pressed (drops its buttons unless new ones are given).

    The one way buttons edit: an edit that would change nothing is not sent, and Telegram's
    "message is not modified" (a second tap racing the first) counts as done. A message that can
    no longer be edited gets the text as a new message (``protect`` as for the original)."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    if _unchanged(query.message, text, markup):
        return
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        description = exc.message.lower()
        if NOT_MODIFIED in description:
            return
        if not any(reason in description for reason in CANNOT_EDIT):
            raise
        log.debug("edit became a new message: update_id=%s", update.update_id)
        await query.get_bot().send_message(
            query.message.chat.id, text, reply_markup=markup, protect_content=protect
        )


async def finish_press(
    update: Update,
    text: str | None = None,
    markup: InlineKeyboardMarkup | None = None,
    *,
    note: str | None = None,
    protect: bool = False,
) -> None:
    """After the action: show the result on the pressed message (if ``text``), then answer the
    press (with ``note``). Neither step can undo the action."""
    if text is not None:
        await replace_with(update, text, markup, protect=protect)
    await answer(update, note)


async def drop_buttons(update: Update) -> bool:
    """Take the buttons off the pressed message and keep its text (a welcome someone agreed to
    stays readable). False when they were already gone: a repeated press, with nothing to add."""
    query = update.callback_query
    if query is None or query.message is None:
        return False
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        description = exc.message.lower()
        if NOT_MODIFIED in description:
            return False
        if not any(reason in description for reason in CANNOT_EDIT):
            raise
        log.debug("buttons left on an old message: update_id=%s", update.update_id)
    return True
