"""Small helpers for answering a person with words from messages/.

Every button handler acts first and answers last, through these helpers: an answer or an edit
that Telegram refuses never undoes or skips what the press asked for.
"""

from __future__ import annotations

import logging
import weakref
from collections import OrderedDict

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


# How many edited messages each bot remembers (a few hundred bytes each): far more than the
# presses that can be in flight at once, which is all the memory is for.
SHOWN_LIMIT = 4096

_Key = tuple[int, int]  # (chat id, message id)
_Shown = tuple[str | None, InlineKeyboardMarkup | None]  # text (None: not known), buttons


class ShownMessages:
    """What this process last made each recently edited message show.

    Both presses of a quick double tap carry the message as it was before the bot reacted, so
    the second cannot tell from its own message that the first already changed it; an edit
    sent on that would be identical and Telegram refuses it (400 "message is not modified").
    One person's presses are handled one at a time (``PerPersonUpdates``), so when the second
    is handled the first's edit is already here. A press handled by another replica is not:
    there Telegram's refusal still counts as done (see ``replace_with``)."""

    def __init__(self, limit: int = SHOWN_LIMIT) -> None:
        self._limit = limit
        self._shown: OrderedDict[_Key, _Shown] = OrderedDict()

    def get(self, key: _Key) -> _Shown | None:
        return self._shown.get(key)

    def remember(self, key: _Key, shown: _Shown) -> None:
        self._shown[key] = shown
        self._shown.move_to_end(key)
        while len(self._shown) > self._limit:
            self._shown.popitem(last=False)


# One memory per bot object (a test may run two bots side by side as two replicas), dropped
# with the bot.
_memories: dict[int, ShownMessages] = {}


def shown_messages(bot: object) -> ShownMessages:
    memory = _memories.get(id(bot))
    if memory is None:
        memory = _memories[id(bot)] = ShownMessages()
        weakref.finalize(bot, _memories.pop, id(bot), None)
    return memory


def _buttons(markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    return markup if markup is not None and markup.inline_keyboard else None


def _pressed(update: Update) -> _Key | None:
    query = update.callback_query
    if query is None or query.message is None:
        return None
    return query.message.chat.id, query.message.message_id


def _now_showing(update: Update, key: _Key) -> _Shown | None:
    """What the pressed message shows now: what this bot last made it show, else what Telegram
    sent along with the press; None when neither is known (a message too old to be sent)."""
    query = update.callback_query
    assert query is not None
    remembered = shown_messages(query.get_bot()).get(key)
    if remembered is not None:
        return remembered
    if not isinstance(query.message, Message):
        return None
    return query.message.text, _buttons(query.message.reply_markup)


def _unchanged(now: _Shown | None, text: str | None, markup: InlineKeyboardMarkup | None) -> bool:
    """Whether the message already shows this text (None: whatever it has) and these buttons."""
    if now is None:
        return False
    shown_text, shown_markup = now
    if text is not None and shown_text != text:
        return False
    return shown_markup == _buttons(markup)


def _remember(update: Update, key: _Key, shown: _Shown) -> None:
    query = update.callback_query
    assert query is not None
    shown_messages(query.get_bot()).remember(key, shown)


async def replace_with(
    update: Update,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    protect: bool = False,
) -> None:
    """Edit the message whose button was pressed (drops its buttons unless new ones are given).

    The one way buttons edit: an edit that would change what the message shows now (see
    ``ShownMessages``) is not sent, and Telegram's "message is not modified" (a second tap that
    another replica handled first) counts as done. A message that can no longer be edited gets
    the text as a new message (``protect`` as for the original)."""
    query = update.callback_query
    key = _pressed(update)
    if query is None or key is None:
        return
    if _unchanged(_now_showing(update, key), text, markup):
        return
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        description = exc.message.lower()
        if NOT_MODIFIED not in description:
            if not any(reason in description for reason in CANNOT_EDIT):
                raise
            log.debug("edit became a new message: update_id=%s", update.update_id)
            await query.get_bot().send_message(
                key[0], text, reply_markup=markup, protect_content=protect
            )
            return
    _remember(update, key, (text, _buttons(markup)))


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
    key = _pressed(update)
    if query is None or key is None:
        return False
    # Only this bot's own memory is trusted here: a press whose message shows no buttons is
    # still worth the edit (Telegram's "not modified" then says they are gone).
    remembered = shown_messages(query.get_bot()).get(key)
    if remembered is not None and remembered[1] is None:
        return False
    now = remembered or _now_showing(update, key)
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        description = exc.message.lower()
        if NOT_MODIFIED in description:
            _remember(update, key, (now[0] if now else None, None))
            return False
        if not any(reason in description for reason in CANNOT_EDIT):
            raise
        log.debug("buttons left on an old message: update_id=%s", update.update_id)
        return True
    _remember(update, key, (now[0] if now else None, None))
    return True
