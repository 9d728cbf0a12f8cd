"""/help: the commands, what the bot is and is not, and the practice's contacts."""

from __future__ import annotations

from telegram import Update

from reminderbot.services import schedules
from reminderbot.telegram.contacts import support_contacts
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.replies import reply


def help_text(state: AppState, lang: str) -> str:
    return state.text(
        "help.text",
        lang,
        contacts=support_contacts(state, lang),
        most=state.text(f"numbers.{schedules.MAX_DAILY_TIMES}", lang),
    )


async def help_command(update: Update, context: BotContext) -> None:
    """Everything a person can do, in one message."""
    state = context.state
    lang = state.language_for(update.effective_user)
    await reply(update, context, help_text(state, lang))
