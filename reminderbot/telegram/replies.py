"""Small helpers for answering a person with words from messages/.

Every button handler acts first and answers last, through these helpers: an answer or an edit
that Telegram refuses never undoes or skips what the press asked for.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass

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


# How many edited messages each bot remembers (a few hundred bytes each), and for how long: a
# double tap's second press arrives within a second or two of the first.
SHOWN_LIMIT = 4096
DOUBLE_TAP_SECONDS = 5.0

_Key = tuple[int, int]  # (chat id, message id)
_Shown = tuple[str | None, InlineKeyboardMarkup | None]  # text (None: any), buttons


@dataclass(frozen=True, slots=True)
class _Edit:
    before: _Shown | None  # what the press that made it carried (None: not known)
    after: _Shown
    at: float  # time.monotonic()


class ShownMessages:
    """The edits this process made lately, by message.

    Both presses of a quick double tap carry the message as it was before the bot reacted, so
    the second cannot tell from its own message that the first already changed it; an edit
    sent on that would be identical and Telegram refuses it (400 "message is not modified").
    One person's presses are handled one at a time (``PerPersonUpdates``), so when the second
    is handled the first's edit is here: a press that carries what the last edit started from,
    asking for what it made, is that double tap. Anything else is judged by the message the
    press carries, so an edit another replica made since is never hidden; and a second press
    that another replica handles gets Telegram's refusal, which counts as done."""

    def __init__(self, limit: int = SHOWN_LIMIT, window: float = DOUBLE_TAP_SECONDS) -> None:
        self._limit = limit
        self._window = window
        self._edits: OrderedDict[_Key, _Edit] = OrderedDict()

    def repeats(self, key: _Key, pressed: _Shown | None, wanted: _Shown) -> bool:
        """Whether a press carrying ``pressed`` that wants ``wanted`` repeats the last edit."""
        edit = self._edits.get(key)
        if edit is None or time.monotonic() - edit.at > self._window:
            return False
        return edit.before == pressed and _matches(edit.after, wanted)

    def remember(self, key: _Key, before: _Shown | None, after: _Shown) -> None:
        self._edits[key] = _Edit(before, after, time.monotonic())
        self._edits.move_to_end(key)
        while len(self._edits) > self._limit:
            self._edits.popitem(last=False)


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


def _matches(shown: _Shown | None, wanted: _Shown) -> bool:
    """Whether a message showing ``shown`` already shows ``wanted`` (text None: any text)."""
    if shown is None:
        return False
    if wanted[0] is not None and shown[0] != wanted[0]:
        return False
    return shown[1] == wanted[1]


def _pressed(update: Update) -> tuple[_Key, _Shown | None] | None:
    """The pressed message's key and what Telegram says it showed when pressed (None: a
    message too old for Telegram to send along)."""
    query = update.callback_query
    if query is None or query.message is None:
        return None
    key = (query.message.chat.id, query.message.message_id)
    if not isinstance(query.message, Message):
        return key, None
    return key, (query.message.text, _buttons(query.message.reply_markup))


async def replace_with(
    update: Update,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    protect: bool = False,
) -> None:
    """Edit the message whose button was pressed (drops its buttons unless new ones are given).

    The one way buttons edit: an edit that would change nothing is not sent, whether the
    pressed message already shows it or this press repeats the edit just made (see
    ``ShownMessages``); Telegram's "message is not modified" counts as done. A message that can
    no longer be edited gets the text as a new message (``protect`` as for the original)."""
    query = update.callback_query
    pressed = _pressed(update)
    if query is None or pressed is None:
        return
    key, before = pressed
    wanted = (text, _buttons(markup))
    memory = shown_messages(query.get_bot())
    if _matches(before, wanted) or memory.repeats(key, before, wanted):
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
    memory.remember(key, before, wanted)


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
    pressed = _pressed(update)
    if query is None or pressed is None:
        return False
    key, before = pressed
    wanted: _Shown = (None, None)
    memory = shown_messages(query.get_bot())
    if _matches(before, wanted) or memory.repeats(key, before, wanted):
        return False
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:
        description = exc.message.lower()
        if NOT_MODIFIED in description:
            memory.remember(key, before, wanted)
            return False
        if not any(reason in description for reason in CANNOT_EDIT):
            raise
        log.debug("buttons left on an old message: update_id=%s", update.update_id)
        return True
    memory.remember(key, before, wanted)
    return True
