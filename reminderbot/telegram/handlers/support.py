"""Support, always one step away: /support and the "This is hard right now" button.

Grounding words from messages/, the practice's contacts from config, and a plain sentence that
the bot is not a crisis service. It never asks anything, needs no consent (someone in trouble
must get the contacts) and no database, so it still works when the database does not.
"""

from __future__ import annotations

import random

from telegram import Update

from reminderbot.content import ContentKind
from reminderbot.telegram.contacts import support_contacts
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.replies import answer

GROUNDING_LINES = 3


def support_text(state: AppState, lang: str) -> str:
    pool = state.catalog.items(lang, [ContentKind.GROUNDING])
    # A different few each time, read in the order the editors wrote them.
    chosen = sorted(random.sample(range(len(pool)), min(GROUNDING_LINES, len(pool))))
    grounding = "\n\n".join(
        state.text("support_path.grounding_line", lang, text=pool[i].text) for i in chosen
    )
    return state.text(
        "support_path.text", lang, grounding=grounding, contacts=support_contacts(state, lang)
    )


async def _send(update: Update, context: BotContext) -> None:
    chat = update.effective_chat
    if chat is None:
        return
    state = context.state
    lang = state.language_for(update.effective_user)
    # Not protected: people must be able to copy a phone number or pass it to someone who helps.
    await context.bot.send_message(chat.id, support_text(state, lang), protect_content=False)


async def support_command(update: Update, context: BotContext) -> None:
    """/support: grounding words and who to reach, for anyone, at once."""
    await _send(update, context)


async def support_now(update: Update, context: BotContext) -> None:
    """The "This is hard right now" button under a Heavy or Need space check-in."""
    await _send(update, context)
    await answer(update)
