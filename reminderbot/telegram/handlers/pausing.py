"""Pause from any reminder or with /pause; /resume. A pause takes effect at once.

When paired there are two scopes: my reminders (as for anyone), or shared prompts for both of
us. A personal pause is never visible to the partner; a shared one tells them only that shared
prompts rest."""

from __future__ import annotations

from datetime import datetime

from telegram import Update

from reminderbot.delivery.reminder import PAUSE_FROM_REMINDER
from reminderbot.services import pairing, pausing
from reminderbot.services.pairing import SharedOutcome
from reminderbot.services.pausing import PauseLength
from reminderbot.services.timekeeping import zone
from reminderbot.storage import repositories
from reminderbot.storage.models import Person
from reminderbot.telegram import callbacks
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.handlers.pairing import send_notices
from reminderbot.telegram.handlers.settings import active_person
from reminderbot.telegram.replies import answer, finish_press, keyboard, reply


def pause_menu(state: AppState, lang: str, *, shared: bool = False) -> list[list[tuple[str, str]]]:
    def b(key: str, length: PauseLength) -> tuple[str, str]:
        return state.text(key, lang), callbacks.pause_length_data(length, shared=shared)

    return [
        [
            b("buttons.pause_today", PauseLength.TODAY),
            b("buttons.pause_3d", PauseLength.THREE_DAYS),
        ],
        [
            b("buttons.pause_week", PauseLength.WEEK),
            b("buttons.pause_open", PauseLength.UNTIL_RESUMED),
        ],
        [(state.text("buttons.pause_cancel", lang), callbacks.PAUSE_CANCEL)],
    ]


def scope_menu(state: AppState, lang: str) -> list[list[tuple[str, str]]]:
    return [
        [(state.text("pairing.buttons.scope_mine", lang), callbacks.pause_scope_data("mine"))],
        [(state.text("pairing.buttons.scope_shared", lang), callbacks.pause_scope_data("shared"))],
        [(state.text("buttons.pause_cancel", lang), callbacks.PAUSE_CANCEL)],
    ]


async def pause_command(update: Update, context: BotContext) -> None:
    """/pause and the pause button under a reminder: offer how long."""
    person = await active_person(update, context)
    if person is None:
        return
    state = context.state
    query = update.callback_query
    if query is not None and not PAUSE_FROM_REMINDER.match(query.data or ""):
        return
    lang = person.language
    if person.couple_id is not None:
        text, menu = state.text("pairing.pause_scope", lang), scope_menu(state, lang)
    else:
        text, menu = state.text("pause.choose", lang), pause_menu(state, lang)
    await reply(update, context, text, markup=keyboard(menu))
    await answer(update)  # after the menu is out: a press too late to answer still counts


def _until_text(state: AppState, lang: str, until: datetime | None, tz_name: str) -> str:
    if until is None:
        return state.text("pause.done_open", lang)
    local = until.astimezone(zone(tz_name))
    return state.text("pause.done_until", lang, until=local.strftime("%a %d %b, %H:%M"))


async def pause_choice(update: Update, context: BotContext) -> None:
    query = update.callback_query
    match = callbacks.PAUSE_CHOICE.match(query.data or "") if query else None
    if match is None:
        return
    person = await active_person(update, context)
    if person is None:
        return
    state = context.state
    lang = person.language
    shared, choice = match.group(1) is not None, match.group(2)
    if choice == "cancel":
        await finish_press(update, state.text("pause.cancelled", lang))
        return
    if choice in {"mine", "shared"}:
        await _show_lengths(update, context, person, shared=choice == "shared" and not shared)
        return
    if shared:
        await _pause_shared(update, context, person, PauseLength(choice))
        return
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return
        until = await pausing.pause(session, fresh, PauseLength(choice), state.now())
    # Committed: make any reminder already claimed for this person re-read the pause.
    state.person_changes.mark(person.id)
    text = _until_text(state, lang, until, person.timezone)
    await finish_press(update, text, note=state.text("answers.paused", lang))


async def _show_lengths(
    update: Update, context: BotContext, person: Person, *, shared: bool
) -> None:
    state = context.state
    lang = person.language
    if shared and person.couple_id is None:
        await finish_press(update, state.text("pairing.not_paired", lang))
        return
    key = "pairing.shared_choose" if shared else "pause.choose"
    await finish_press(
        update, state.text(key, lang), keyboard(pause_menu(state, lang, shared=shared))
    )


async def _pause_shared(
    update: Update, context: BotContext, person: Person, length: PauseLength
) -> None:
    """Rest couple prompts for both partners at once; the other hears one neutral line."""
    state = context.state
    lang = person.language
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return
        change = await pairing.hold_shared(session, fresh, length, state.now())
    if change.outcome is SharedOutcome.NOT_PAIRED:
        note = state.text("answers.stale_button", lang)
        await finish_press(update, state.text("pairing.not_paired", lang), note=note)
        return
    await send_notices(context.bot, state, change.notices)
    if change.until is None:
        text = state.text("pairing.shared_rest_open", lang)
    else:
        local = change.until.astimezone(zone(person.timezone))
        text = state.text(
            "pairing.shared_rest_until", lang, until=local.strftime("%a %d %b, %H:%M")
        )
    await finish_press(update, text, note=state.text("pairing.answers.shared_paused", lang))


async def _resume_shared(update: Update, context: BotContext, person: Person) -> str:
    """Lift this person's own hold on shared prompts; returns what to tell them."""
    state = context.state
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return "pairing.not_paired"
        change = await pairing.release_shared(session, fresh, state.now())
    await send_notices(context.bot, state, change.notices)
    return {
        SharedOutcome.NOT_PAIRED: "pairing.not_paired",
        SharedOutcome.BACK: "pairing.shared_back",
        SharedOutcome.STILL_RESTING: "pairing.shared_still_resting",
    }.get(change.outcome, "pairing.shared_no_hold")


async def resume_command(update: Update, context: BotContext) -> None:
    person = await active_person(update, context)
    if person is None:
        return
    state = context.state
    if pairing.holds_shared(person, state.now()):
        # Holding shared prompts: ask which to bring back when their own reminders rest too.
        if pausing.is_paused(person, state.now()):
            lang = person.language
            menu = [
                [(state.text("pairing.buttons.resume_mine", lang), callbacks.resume_data("mine"))],
                [
                    (
                        state.text("pairing.buttons.resume_shared", lang),
                        callbacks.resume_data("shared"),
                    )
                ],
            ]
            await reply(
                update, context, state.text("pairing.resume_scope", lang), markup=keyboard(menu)
            )
            return
        key = await _resume_shared(update, context, person)
        await reply(update, context, state.text(key, person.language))
        return
    key = await _resume_mine(context, person)
    await reply(update, context, state.text(key, person.language))


async def resume_choice(update: Update, context: BotContext) -> None:
    query = update.callback_query
    match = callbacks.RESUME_CHOICE.match(query.data or "") if query else None
    if match is None:
        return
    person = await active_person(update, context)
    if person is None:
        return
    if match.group(1) == "shared":
        key = await _resume_shared(update, context, person)
    else:
        key = await _resume_mine(context, person)
    await finish_press(update, context.state.text(key, person.language))


async def _resume_mine(context: BotContext, person: Person) -> str:
    """End this person's own pause; returns what to tell them."""
    state = context.state
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return "pause.not_paused"
        was_paused = await pausing.resume(session, fresh)
    state.person_changes.mark(person.id)
    return "pause.resumed" if was_paused else "pause.not_paused"
