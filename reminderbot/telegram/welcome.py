"""The welcome: what the bot does and, line by line, everything it stores, before any yes."""

from __future__ import annotations

from reminderbot.services.consent import STORED_LINES
from reminderbot.telegram.context import AppState


def welcome_text(state: AppState, lang: str) -> str:
    stored = "\n".join(state.text(f"onboarding.stored.{line}", lang) for line in STORED_LINES)
    return state.text("onboarding.welcome", lang, stored=stored)
