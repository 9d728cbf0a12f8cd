"""One transaction per command: the person behind an update, read once, and every change the
handler makes to them in that same transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from reminderbot.storage import repositories
from reminderbot.storage.models import ConsentState, Person
from reminderbot.telegram import once
from reminderbot.telegram.context import BotContext
from reminderbot.telegram.replies import answer, reply


@dataclass
class Acting:
    """The open transaction, the person acting and the moment they act."""

    session: AsyncSession
    person: Person
    now: datetime
    changed: set[int] = field(default_factory=set)

    @property
    def lang(self) -> str:
        return self.person.language

    def mark(self, people: Iterable[int]) -> None:
        """People whose rows this command changed; the dispatcher is told once it commits."""
        self.changed.update(people)


@asynccontextmanager
async def acting_person(
    update: Update, context: BotContext, *, allow_stopped: bool = False
) -> AsyncIterator[Acting | None]:
    """The person behind this update if they said yes (or, with allow_stopped, if we hold any
    row for them), in one transaction that commits when the block ends; then any reminder
    already claimed for the people it marked re-reads them.

    Otherwise None, after pointing them to /start: the block has nothing to do. None too,
    silently, for an update delivered again whose effect is already committed (telegram/once):
    the update's number is recorded in this same transaction.
    """
    user = update.effective_user
    if user is None:
        yield None
        return
    state = context.state
    acting: Acting | None = None
    repeat = False
    async with state.sessions.begin() as session:
        person = await repositories.person_by_telegram_id(session, user.id)
        if person is not None and (allow_stopped or person.consent is ConsentState.GIVEN):
            now = state.now()
            if await once.first_delivery(session, update, context, now):
                acting = Acting(session, person, now)
                yield acting
            else:
                repeat = True
    if acting is not None:
        once.recorded(context)
        # Committed: the dispatcher may hold a snapshot of these people taken before.
        for person_id in acting.changed:
            state.person_changes.mark(person_id)
        return
    if repeat:
        yield None
        return
    lang = state.language_for(user, person)
    if update.callback_query is not None:
        await answer(update, state.text("answers.start_first", lang))
    else:
        await reply(update, context, state.text("settings.start_first", lang))
    yield None
