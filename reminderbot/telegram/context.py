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


@dataclass
class AppState:
    settings: Settings
    catalog: Catalog
    sessions: SessionFactory
    clock: Callable[[], datetime] = utcnow
    run_dispatcher: bool = True
    person_changes: PersonChanges = field(default_factory=PersonChanges)

    def now(self) -> datetime:
        return self.clock()

    def language_for(self, user: User | None, person: Person | None = None) -> str:
        if person is not None:
            return person.language
        return self.catalog.resolve_language(user.language_code if user else None)

    def text(self, key: str, lang: str, /, **params: object) -> str:
        return self.catalog.text(key, lang, practice_name=self.settings.practice_name, **params)


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    @property
    def state(self) -> AppState:
        return cast(AppState, self.application.bot_data[STATE_KEY])


def sender_id(update: Update) -> int | None:
    user = update.effective_user
    return user.id if user is not None else None
