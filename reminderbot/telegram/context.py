"""The typed context every handler receives, with the application's shared state on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from telegram import Update, User
from telegram.ext import CallbackContext, ExtBot

from reminderbot.config import Settings
from reminderbot.content import Catalog
from reminderbot.delivery.changes import PersonChanges
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import Person, utcnow

STATE_KEY = "reminderbot"
METRICS_KEY = "metrics"
# Languages people chose, remembered for the replies that read no row (/help, /support, errors):
# at most this many, the oldest forgotten first (they then get Telegram's language_code's).
REMEMBERED_LANGUAGES = 50_000


@dataclass
class AppState:
    settings: Settings
    catalog: Catalog
    sessions: SessionFactory
    clock: Callable[[], datetime] = utcnow
    run_dispatcher: bool = True
    person_changes: PersonChanges = field(default_factory=PersonChanges)
    # Telegram user id -> the language their row says, as last read in this process.
    chosen_languages: dict[int, str] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def language_for(self, user: User | None, person: Person | None = None) -> str:
        """The person's own language (/language) if their row is at hand or was read lately,
        else the one Telegram's language_code maps to."""
        if person is not None:
            self.remember_language(person.telegram_user_id, person.language)
            return person.language
        if user is not None and user.id in self.chosen_languages:
            return self.chosen_languages[user.id]
        return self.catalog.resolve_language(user.language_code if user else None)

    def remember_language(self, user_id: int, language: str | None) -> None:
        """Remember (or, with None, forget: an erased person) the language a person reads."""
        self.chosen_languages.pop(user_id, None)
        if language is None:
            return
        self.chosen_languages[user_id] = language
        if len(self.chosen_languages) > REMEMBERED_LANGUAGES:
            self.chosen_languages.pop(next(iter(self.chosen_languages)))

    def text(self, key: str, lang: str, /, **params: object) -> str:
        return self.catalog.text(key, lang, practice_name=self.settings.practice_name, **params)


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    # One context per update: set once the update's id was recorded in the transaction that
    # made its effect (telegram/once.py), so no second record is written.
    update_recorded: bool = False

    @property
    def state(self) -> AppState:
        return cast(AppState, self.application.bot_data[STATE_KEY])


def sender_id(update: Update) -> int | None:
    user = update.effective_user
    return user.id if user is not None else None
