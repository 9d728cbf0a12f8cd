"""/stop, /mydata and /delete: leaving is easy and complete."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Update, User

from reminderbot.services import consent, leaving, privacy
from reminderbot.services.retention import RetentionPolicy
from reminderbot.storage import repositories
from reminderbot.storage.models import Person
from reminderbot.storage.worker import off_the_loop
from reminderbot.telegram import callbacks, menus
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.cooldown import cooldown
from reminderbot.telegram.notices import send_notices
from reminderbot.telegram.replies import finish_press, reply

MYDATA_FILENAME = "reminderbot-my-data"  # .txt to read, .json for programs

Menu = Callable[[AppState, str], InlineKeyboardMarkup]


async def _held(update: Update, context: BotContext) -> Person | None:
    """The person as stored right now (None: nothing is held about them)."""
    user = update.effective_user
    if user is None:
        return None
    async with context.state.sessions.begin() as session:
        return await repositories.person_by_telegram_id(session, user.id)


async def _ask_first(update: Update, context: BotContext, text: str, menu: Menu) -> None:
    """A question with a yes and a no button."""
    state = context.state
    lang = state.language_for(update.effective_user)
    await reply(update, context, text, markup=menu(state, lang))


async def stop(update: Update, context: BotContext) -> None:
    """Ask before stopping every message; with nothing to stop, say so at once."""
    person = await _held(update, context)
    if person is None or not consent.is_active(person):
        state = context.state
        lang = state.language_for(update.effective_user, person)
        key = "stop.nothing_to_stop" if person is None else "stop.already_stopped"
        await reply(update, context, state.text(key, lang))
        return
    state = context.state
    # /stop says when its data goes.
    inactive_days = RetentionPolicy.of(state.settings).words()["inactive_days"]
    lang = state.language_for(update.effective_user)
    # The count chooses the plural form of its days.
    text = state.text("stop.confirm", lang, count=inactive_days, inactive_days=inactive_days)
    await _ask_first(update, context, text, menus.stop_menu)


async def _confirmed(
    update: Update, context: BotContext, topic: str, confirm: str
) -> tuple[User, str] | None:
    """Who confirmed, in which language; None on 'no' (after saying nothing changed). The press
    is answered only once the action is done: a press too late to answer still counts."""
    user = update.effective_user
    if user is None or update.callback_query is None:
        return None
    state = context.state
    lang = state.language_for(user)
    if update.callback_query.data != confirm:
        await finish_press(update, state.text(f"{topic}.cancelled", lang))
        return None
    return user, lang


async def stop_answer(update: Update, context: BotContext) -> None:
    if (confirmed := await _confirmed(update, context, "stop", callbacks.STOP_CONFIRM)) is None:
        return
    user, lang = confirmed
    state = context.state
    async with state.sessions.begin() as session:
        stopped = await leaving.stop(session, user.id, state.now())
    _tell_dispatcher(context, stopped)
    # Not done: nothing held at all, or already stopped (their rows are still there).
    key = "stop.done" if stopped.done else "stop.already_stopped"
    if not stopped.done and not stopped.people:
        key = "stop.nothing_to_stop"
    await finish_press(update, state.text(key, lang))


async def mydata(update: Update, context: BotContext) -> None:
    """Send everything stored about the person as a JSON file."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    state = context.state
    lang = state.language_for(user)
    now = state.now()
    pause = cooldown(context)
    if pause.too_soon("mydata", user.id, now):
        await reply(update, context, state.text("errors.too_soon", lang))
        return

    async def export(session: AsyncSession) -> tuple[bytes, bytes, int | None] | None:
        held = await privacy.held_about(session, user.id, now)
        if held is None:
            return None
        text = privacy.readable(held, now, state.catalog, lang)
        found = privacy.as_json(held, now)
        return text.encode("utf-8"), _encode(found), found["person"]["keep_checkins_days"]

    # Years of history are thousands of rows: read and written out off the event loop.
    documents = await off_the_loop(state.sessions, export)
    if documents is None:
        await reply(update, context, state.text("mydata.nothing", lang))
        return
    pause.done("mydata", user.id, now)
    text, data, keep_choice = documents
    # How long each thing is kept, from the settings and their own choice.
    words = RetentionPolicy.of(state.settings).words(keep_choice)
    # A file to read, then the same as JSON for programs. Not protected: taking one's own data
    # out is the point of this command.
    await context.bot.send_document(
        chat.id,
        text,
        filename=MYDATA_FILENAME + ".txt",
        caption=state.text(
            "mydata.caption", lang, kept=state.text("retention.mydata", lang, **words)
        ),
        protect_content=False,
    )
    await context.bot.send_document(
        chat.id,
        data,
        filename=MYDATA_FILENAME + ".json",
        caption=state.text("mydata.caption_json", lang),
        protect_content=False,
    )


def _encode(export: dict[str, Any]) -> bytes:
    return json.dumps(export, ensure_ascii=False, indent=2).encode("utf-8")


async def delete(update: Update, context: BotContext) -> None:
    """Ask before erasing everything, saying whether a partner will be told; with nothing to
    erase, say so at once."""
    person = await _held(update, context)
    if person is None:
        state = context.state
        lang = state.language_for(update.effective_user)
        await reply(update, context, state.text("delete.nothing", lang))
        return
    state = context.state
    key = "delete.confirm" if person.couple_id is None else "delete.confirm_paired"
    text = state.text(key, state.language_for(update.effective_user))
    await _ask_first(update, context, text, menus.delete_menu)


async def delete_answer(update: Update, context: BotContext) -> None:
    confirmed = await _confirmed(update, context, "delete", callbacks.DELETE_CONFIRM)
    if confirmed is None:
        return
    user, lang = confirmed
    state = context.state
    async with state.sessions.begin() as session:
        erased = await leaving.delete(session, user.id, state.now())
    _tell_dispatcher(context, erased)
    await send_notices(context.bot, state, erased.notices)
    # Nothing of theirs stays in memory either (and no empty entry is made for it).
    context.application.drop_user_data(user.id)
    state.remember_language(user.id, None)
    key = "delete.done_unpaired" if erased.notices else "delete.done"
    await finish_press(update, state.text(key if erased.done else "delete.nothing", lang))


def _tell_dispatcher(context: BotContext, left: leaving.Left) -> None:
    """Committed: a reminder already claimed for these people re-reads them before sending."""
    for person_id in left.people:
        context.state.person_changes.mark(person_id)
