"""/start, the consent buttons, and /start with a partner's invite link. Nothing is stored until
the person says yes."""

from __future__ import annotations

from telegram import Update

from reminderbot.services import consent, pairing, schedules
from reminderbot.services.conversation import Question, ask
from reminderbot.services.pairing import TOKEN_SHAPE, WRONG_TOKEN, Refusal, WrongTokens
from reminderbot.storage import repositories
from reminderbot.storage.models import Invite
from reminderbot.telegram import callbacks, menus
from reminderbot.telegram.context import BotContext
from reminderbot.telegram.replies import answer, drop_buttons, finish_press, reply
from reminderbot.telegram.statements import when_reminders_come
from reminderbot.telegram.welcome import invited_welcome_text, not_now_text, welcome_text

WRONG_TOKENS_KEY = "pairing_wrong_tokens"


def wrong_tokens(context: BotContext) -> WrongTokens:
    tracker: WrongTokens = context.application.bot_data.setdefault(WRONG_TOKENS_KEY, WrongTokens())
    return tracker


async def start(update: Update, context: BotContext) -> None:
    """Welcome: what the bot does and stores, then yes or not now."""
    user = update.effective_user
    if user is None:
        return
    # /start <token>: someone opened a partner's invite link.
    if context.args and TOKEN_SHAPE.match(context.args[0]):
        await invite_opened(update, context, context.args[0])
        return
    state = context.state
    now = state.now()
    async with state.sessions.begin() as session:
        person = await repositories.person_by_telegram_id(session, user.id)
        times = await schedules.times_of(session, person.id) if person is not None else []
    lang = state.language_for(user, person)
    if person is not None and consent.is_active(person):
        when = when_reminders_come(state, person, times, now)
        await reply(update, context, state.text("onboarding.already_on", lang, when=when))
        return
    await reply(update, context, welcome_text(state, lang), markup=menus.consent_menu(state, lang))


async def consent_answer(update: Update, context: BotContext) -> None:
    """The yes / not now buttons under the welcome."""
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    if query is None or user is None or chat is None:
        return
    state = context.state
    if query.data == callbacks.CONSENT_NO:
        async with state.sessions.begin() as session:
            person = await repositories.person_by_telegram_id(session, user.id)
        lang = state.language_for(user, person)
        await finish_press(update, not_now_text(state, lang, person))
        return

    now = state.now()
    async with state.sessions.begin() as session:
        outcome = await consent.give_consent(
            session,
            telegram_user_id=user.id,
            chat_id=chat.id,
            language=state.catalog.resolve_language(user.language_code),
            timezone=state.settings.default_timezone,
            default_time=state.settings.default_reminder_time,
            now=now,
        )
        if outcome.first_time:
            # In the database, not user_data: the answer may reach another instance.
            await ask(session, user.id, Question.TIMEZONE, now)
    lang = outcome.person.language
    # The welcome they agreed to stays in the chat; only its buttons go, and the thanks come
    # as a new message (once, however often the button was pressed).
    if await drop_buttons(update):
        await reply(update, context, state.text("onboarding.consented", lang))
    await answer(update)
    if outcome.first_time:
        text, markup = menus.timezone_question(state, lang)
        await reply(update, context, text, markup=markup)


async def invite_opened(update: Update, context: BotContext, token: str) -> None:
    """/start <token>: the welcome, with a yes that also connects, or a clear refusal."""
    user = update.effective_user
    if user is None:
        return
    state = context.state
    now = state.now()
    tracker = wrong_tokens(context)
    invite: Invite | None = None
    async with state.sessions.begin() as session:
        opener = await repositories.person_by_telegram_id(session, user.id)
        if tracker.slowed(user.id, now):
            refusal: Refusal | None = Refusal.SLOWED
        else:
            invite = await pairing.find_invite(session, token)
            refusal = await pairing.check_invite(session, invite, opener, now)
    lang = state.language_for(user, opener)
    if refusal is not None or invite is None:
        refusal = refusal or Refusal.INVALID
        if refusal in WRONG_TOKEN:
            tracker.failed(user.id, now)
        await reply(update, context, state.text(f"pairing.refused.{refusal.value}", lang))
        return
    active = consent.is_active(opener)
    yes = callbacks.pair_yes_data(invite.id, pairing.binding(invite, user.id))
    markup = menus.invite_menu(state, lang, yes, active=active)
    text = state.text("pairing.invited", lang) if active else invited_welcome_text(state, lang)
    await reply(update, context, text, markup=markup)
