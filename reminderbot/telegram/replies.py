"""Small helpers for answering a person with words from messages/."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update

from reminderbot.telegram.context import BotContext

Buttons = list[list[tuple[str, str]]]


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


async def answer(update: Update, text: str | None = None) -> None:
    """Answer a button press at once, so the person's client stops its spinner."""
    query = update.callback_query
    if query is not None:
        await query.answer(text)


async def replace_with(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Edit the message whose button was pressed (drops its buttons unless new ones are given)."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    await query.edit_message_text(text, reply_markup=markup)
