"""Pause from any reminder or with /pause; /resume. A pause takes effect at once.

When paired there are two scopes: my reminders (as for anyone), or shared prompts for both of
us. A personal pause is never visible to the partner; a shared one tells them only that shared
prompts rest."""

from __future__ import annotations

from datetime import datetime

from telegram import Update

from reminderbot.delivery.reminder import PAUSE_FROM_REMINDER
from reminderbot.services import leaving, pairing, pausing
from reminderbot.services.pairing import SharedOutcome
from reminderbot.services.pausing import PauseLength
from reminderbot.services.sharing import Notice
from reminderbot.services.timekeeping import zone
from reminderbot.telegram import callbacks, menus
from reminderbot.telegram.acting import Acting, acting_person
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.dates import moment
from reminderbot.telegram.notices import send_notices
from reminderbot.telegram.replies import answer, finish_press, keyboard, reply


async def pause_command(update: Update, context: BotContext) -> None:
    """/pause and the pause button under a reminder: offer how long."""
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        lang = acting.lang
        paired = acting.person.couple_id is not None
    state = context.state
    query = update.callback_query
    if query is not None and not PAUSE_FROM_REMINDER.match(query.data or ""):
        return
    if paired:
        text, menu = state.text("pairing.pause_scope", lang), menus.scope_menu(state, lang)
    else:
        text, menu = state.text("pause.choose", lang), menus.pause_menu(state, lang)
    await reply(update, context, text, markup=keyboard(menu))
    await answer(update)  # after the menu is out: a press too late to answer still counts


def _until_text(state: AppState, lang: str, until: datetime | None, tz_name: str) -> str:
    if until is None:
        return state.text("pause.done_open", lang)
    local = until.astimezone(zone(tz_name))
    return state.text("pause.done_until", lang, until=moment(state, lang, local))


async def pause_choice(update: Update, context: BotContext) -> None:
    query = update.callback_query
    match = callbacks.PAUSE_CHOICE.match(query.data or "") if query else None
    if match is None:
        return
    shared, choice = match.group(1) is not None, match.group(2)
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        person = acting.person
        if choice in {"cancel", "mine", "shared"}:
            pass  # nothing to change: an answer, or the next menu
        elif shared:
            change, people = await leaving.pause_shared(
                acting.session, person, PauseLength(choice), acting.now
            )
            acting.mark(people)
        else:
            paused = await leaving.pause(acting.session, person, PauseLength(choice), acting.now)
            acting.mark(paused.people)
    state = context.state
    lang = person.language
    if choice == "cancel":
        await finish_press(update, state.text("pause.cancelled", lang))
    elif choice in {"mine", "shared"}:
        wants_shared = choice == "shared" and not shared
        if wants_shared and person.couple_id is None:
            await finish_press(update, state.text("pairing.not_paired", lang))
            return
        key = "pairing.shared_choose" if wants_shared else "pause.choose"
        menu = keyboard(menus.pause_menu(state, lang, shared=wants_shared))
        await finish_press(update, state.text(key, lang), menu)
    elif shared:
        await _shared_paused(update, context, lang, person.timezone, change)
    else:
        text = _until_text(state, lang, paused.until, person.timezone)
        await finish_press(update, text, note=state.text("answers.paused", lang))


async def _shared_paused(
    update: Update, context: BotContext, lang: str, tz_name: str, change: pairing.SharedChange
) -> None:
    """Couple prompts rest for both partners at once; the other hears one neutral line."""
    state = context.state
    if change.outcome is SharedOutcome.NOT_PAIRED:
        note = state.text("answers.stale_button", lang)
        await finish_press(update, state.text("pairing.not_paired", lang), note=note)
        return
    await send_notices(context.bot, state, change.notices)
    if change.until is None:
        text = state.text("pairing.shared_rest_open", lang)
    else:
        local = change.until.astimezone(zone(tz_name))
        text = state.text("pairing.shared_rest_until", lang, until=moment(state, lang, local))
    await finish_press(update, text, note=state.text("pairing.answers.shared_paused", lang))


async def _resume_shared(acting: Acting) -> pairing.SharedChange:
    """Lift this person's own hold on shared prompts."""
    change, people = await leaving.resume_shared(acting.session, acting.person, acting.now)
    acting.mark(people)
    return change


def _resumed_shared_key(change: pairing.SharedChange) -> str:
    """What to tell the person who lifted their hold."""
    return {
        SharedOutcome.NOT_PAIRED: "pairing.not_paired",
        SharedOutcome.BACK: "pairing.shared_back",
        SharedOutcome.STILL_RESTING: "pairing.shared_still_resting",
    }.get(change.outcome, "pairing.shared_no_hold")


async def _resume_mine(acting: Acting) -> str:
    """End this person's own pause; returns what to tell them."""
    resumed = await leaving.resume(acting.session, acting.person)
    acting.mark(resumed.people)
    return "pause.resumed" if resumed.done else "pause.not_paused"


async def resume_command(update: Update, context: BotContext) -> None:
    notices: tuple[Notice, ...] = ()
    ask_which = False
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        person, now = acting.person, acting.now
        if pairing.holds_shared(person, now):
            # Holding shared prompts: ask which to bring back when their own reminders rest too.
            if pausing.is_paused(person, now):
                ask_which = True
            else:
                change = await _resume_shared(acting)
                key = _resumed_shared_key(change)
                notices = change.notices
        else:
            key = await _resume_mine(acting)
    state = context.state
    lang = person.language
    if ask_which:
        menu = menus.resume_menu(state, lang)
        await reply(update, context, state.text("pairing.resume_scope", lang), markup=menu)
        return
    await send_notices(context.bot, state, notices)
    await reply(update, context, state.text(key, lang))


async def resume_choice(update: Update, context: BotContext) -> None:
    query = update.callback_query
    match = callbacks.RESUME_CHOICE.match(query.data or "") if query else None
    if match is None:
        return
    notices: tuple[Notice, ...] = ()
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        lang = acting.lang
        if match.group(1) == "shared":
            change = await _resume_shared(acting)
            key = _resumed_shared_key(change)
            notices = change.notices
        else:
            key = await _resume_mine(acting)
    await send_notices(context.bot, context.state, notices)
    await finish_press(update, context.state.text(key, lang))
