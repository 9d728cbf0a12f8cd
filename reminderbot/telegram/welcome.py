"""The welcome: what the bot does and, line by line, everything it stores and for how long,
before any yes."""

from __future__ import annotations

from reminderbot.services import consent
from reminderbot.services.consent import STORED_LINES
from reminderbot.services.retention import RetentionPolicy
from reminderbot.storage.models import Person
from reminderbot.telegram.context import AppState


def _stored(state: AppState, lang: str) -> str:
    # Periods as for someone who has not chosen: the practice's default.
    words = RetentionPolicy.of(state.settings).words()
    return "\n".join(
        state.text(f"onboarding.stored.{line}", lang, **words) for line in STORED_LINES
    )


def _kept(state: AppState, lang: str) -> str:
    words = RetentionPolicy.of(state.settings).words()
    return state.text("retention.welcome", lang, count=words["inactive_days"], **words)


def welcome_text(state: AppState, lang: str) -> str:
    return state.text(
        "onboarding.welcome", lang, stored=_stored(state, lang), kept=_kept(state, lang)
    )


def invited_welcome_text(state: AppState, lang: str) -> str:
    """The welcome under a partner's invite: the same list of what is stored, and beginning
    offered apart from connecting."""
    return state.text(
        "pairing.invited_welcome", lang, stored=_stored(state, lang), kept=_kept(state, lang)
    )


def not_now_text(state: AppState, lang: str, person: Person | None) -> str:
    """ "Not now" says what is true at that moment: nothing held, data kept from before, or
    reminders still on (an old welcome's button)."""
    if person is None:
        key = "onboarding.not_now"
    elif consent.is_active(person):
        key = "onboarding.not_now_active"
    else:
        key = "onboarding.not_now_stopped"
    return state.text(key, lang)
