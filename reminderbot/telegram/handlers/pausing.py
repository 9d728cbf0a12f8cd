"""Pause from any reminder or with /pause; /resume. A pause takes effect at once."""

from __future__ import annotations

import re
from datetime import datetime

from telegram import Update

from reminderbot.services import pausing
from reminderbot.services.pausing import PauseLength
from reminderbot.services.timekeeping import zone
from reminderbot.storage import repositories
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.handlers.settings import _active_person
from reminderbot.telegram.keyboards import PAUSE_FROM_REMINDER
from reminderbot.telegram.replies import answer, keyboard, replace_with, reply

PAUSE_CHOICE = re.compile(r"^pause:(today|3d|week|open|cancel)$")


def pause_menu(state: AppState, lang: str) -> list[list[tuple[str, str]]]:
    return [
        [
            (state.text("buttons.pause_today", lang), "pause:today"),
            (state.text("buttons.pause_3d", lang), "pause:3d"),
        ],
        [
            (state.text("buttons.pause_week", lang), "pause:week"),
            (state.text("buttons.pause_open", lang), "pause:open"),
        ],
        [(state.text("buttons.pause_cancel", lang), "pause:cancel")],
    ]


async def pause_command(update: Update, context: BotContext) -> None:
    """/pause and the pause button under a reminder: offer how long."""
    person = await _active_person(update, context)
    if person is None:
        return
    state = context.state
    if update.callback_query is not None:
        if not PAUSE_FROM_REMINDER.match(update.callback_query.data or ""):
            return
        await answer(update)
    await reply(
        update,
        context,
        state.text("pause.choose", person.language),
        markup=keyboard(pause_menu(state, person.language)),
    )


def _until_text(state: AppState, lang: str, until: datetime | None, tz_name: str) -> str:
    if until is None:
        return state.text("pause.done_open", lang)
    local = until.astimezone(zone(tz_name))
    return state.text("pause.done_until", lang, until=local.strftime("%a %d %b, %H:%M"))


async def pause_choice(update: Update, context: BotContext) -> None:
    query = update.callback_query
    match = PAUSE_CHOICE.match(query.data or "") if query else None
    if match is None:
        return
    person = await _active_person(update, context)
    if person is None:
        return
    state = context.state
    lang = person.language
    if match.group(1) == "cancel":
        await answer(update)
        await replace_with(update, state.text("pause.cancelled", lang))
        return
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return
        until = await pausing.pause(session, fresh, PauseLength(match.group(1)), state.now())
    # Committed: make any reminder already claimed for this person re-read the pause.
    state.person_changes.mark(person.id)
    await answer(update, state.text("answers.paused", lang))
    await replace_with(update, _until_text(state, lang, until, person.timezone))


async def resume_command(update: Update, context: BotContext) -> None:
    person = await _active_person(update, context)
    if person is None:
        return
    state = context.state
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return
        was_paused = await pausing.resume(session, fresh)
    state.person_changes.mark(person.id)
    key = "pause.resumed" if was_paused else "pause.not_paused"
    await reply(update, context, state.text(key, person.language))
