"""One-tap check-ins under every reminder, and the optional word after a tap."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import filters

from reminderbot.delivery.reminder import CHECKIN, MOODS_BY_CODE, reminder_markup, reminder_text
from reminderbot.services import checkins, consent, notes
from reminderbot.services.checkins import CheckInResult
from reminderbot.services.notes import NoteResult
from reminderbot.storage import repositories
from reminderbot.storage.models import Mood
from reminderbot.storage.outage import DATABASE_ERRORS
from reminderbot.telegram.context import BotContext
from reminderbot.telegram.menus import support_button
from reminderbot.telegram.notices import share_checkin
from reminderbot.telegram.replies import answer, protected_reply, replace_with

log = logging.getLogger(__name__)

# After these taps the reminder also offers the support path, one tap away.
HARD_MOODS = frozenset({Mood.HEAVY, Mood.NEED_SPACE})


async def checkin_button(update: Update, context: BotContext) -> None:
    """Record the tap (or change it), answer once it is kept, then show the choice on the
    reminder and share it if chosen; on a first tap offer an optional word."""
    query = update.callback_query
    user = update.effective_user
    match = CHECKIN.match(query.data or "") if query else None
    if query is None or user is None or match is None:
        return
    state = context.state
    delivery_id, mood = int(match.group(1)), MOODS_BY_CODE[match.group(2)]
    now = state.now()
    chat = update.effective_chat
    async with state.sessions.begin() as session:
        outcome = await checkins.record(session, user.id, delivery_id, mood, now)
        person = outcome.person
        # fallback.person_wrote leaves taps to this transaction, which reads the person anyway.
        if person is not None and not person.reachable and chat is not None:
            await consent.mark_reachable(session, user.id, chat.id, now)  # a change, here
            log.info("person reachable again: user_id=%s", user.id)
        offer_note = outcome.checkin is not None and await notes.after_checkin(
            session,
            outcome.checkin,
            first_tap=outcome.result is CheckInResult.RECORDED,
            now=now,
        )
    lang = state.language_for(user, person)
    if outcome.result is CheckInResult.NOT_FOUND or outcome.delivery is None or person is None:
        await answer(update, state.text("answers.stale_button", lang))
        return
    mood_label = state.text(f"buttons.mood_{mood.value}", lang)
    # Act first, answer last: the check-in is committed, so the spinner stops now. The edited
    # reminder and the partner's line need Telegram and never undo the tap.
    await answer(update, state.text("answers.checked_in", lang, mood=mood_label))
    item = state.catalog.item(lang, outcome.delivery.content_id or "")
    if item is not None:
        text = reminder_text(state.catalog, lang, item.text, discreet=person.discreet_preview)
    else:  # the row no longer names its line (services/retention): keep the words shown
        text = _shown_words(context, lang, query.message)
    text += "\n\n" + state.text("checkin.recorded_line", lang, mood=mood_label)
    markup = reminder_markup(state.catalog, lang, delivery_id, chosen=mood)
    if mood in HARD_MOODS:
        markup = InlineKeyboardMarkup([*markup.inline_keyboard, [support_button(state, lang)]])
    await replace_with(update, text, markup, protect=state.settings.protect_content)
    await share_checkin(context, outcome)  # reaches the partner only if they chose to share it
    if offer_note:
        await protected_reply(update, context, state.text("notes.offer", lang))


def _shown_words(context: BotContext, lang: str, message: object) -> str:
    """The reminder's words as they stand in the chat, without the line an earlier tap added."""
    state = context.state
    text = message.text or "" if isinstance(message, Message) else ""
    for mood in Mood:
        label = state.text(f"buttons.mood_{mood.value}", lang)
        tapped = "\n\n" + state.text("checkin.recorded_line", lang, mood=label)
        if text.endswith(tapped):
            return text.removesuffix(tapped)
    return text


async def typed_note(update: Update, context: BotContext) -> bool:
    """Plain text while a check-in's note window is open becomes its note. True if handled."""
    user = update.effective_user
    message = update.effective_message
    if user is None or message is None or not message.text:
        return False
    state = context.state
    limit = state.settings.note_max_chars
    async with state.sessions.begin() as session:
        result = await notes.keep_note(session, user.id, message.text, state.now(), max_chars=limit)
        person = await repositories.person_by_telegram_id(session, user.id)
    if result is NoteResult.NO_WINDOW:
        return False
    lang = state.language_for(user, person)
    if result is NoteResult.TOO_LONG:
        await protected_reply(update, context, state.text("notes.too_long", lang, limit=limit))
    else:
        await protected_reply(update, context, state.text("notes.kept", lang))
    return True


async def close_note_window(update: Update, context: BotContext) -> None:
    """Any command or other button ends an open note window, so a later text is never attached
    to a check-in it was not written for. Check-in taps manage their own windows."""
    user = update.effective_user
    if user is None:
        return
    query = update.callback_query
    if query is not None:
        if CHECKIN.match(query.data or ""):
            return
    elif not filters.COMMAND.check_update(update):
        return  # plain text: it may be the note itself
    state = context.state
    try:
        async with state.sessions.begin() as session:
            await notes.close_windows(session, user.id)
    except DATABASE_ERRORS as exc:
        # The answer has already gone out; an unclosed window expires on its own in minutes.
        log.warning("note window not closed: user_id=%s error=%s", user.id, type(exc).__name__)
