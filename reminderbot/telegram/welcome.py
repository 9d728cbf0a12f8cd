"""The welcome: what the bot does and, line by line, everything it stores and for how long,
before any yes."""

from __future__ import annotations

from reminderbot.services.consent import STORED_LINES
from reminderbot.services.retention import RetentionPolicy
from reminderbot.telegram.context import AppState


def welcome_text(state: AppState, lang: str) -> str:
    # Periods as for someone who has not chosen: the practice's default.
    words = RetentionPolicy.of(state.settings).words()
    stored = "\n".join(
        state.text(f"onboarding.stored.{line}", lang, **words) for line in STORED_LINES
    )
    kept = state.text("retention.welcome", lang, count=words["inactive_days"], **words)
    return state.text("onboarding.welcome", lang, stored=stored, kept=kept)
