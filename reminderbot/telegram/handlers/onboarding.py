"""/start and the consent buttons. Nothing is stored until the person says yes."""

from __future__ import annotations

from telegram import Update

from reminderbot.services import consent
from reminderbot.services.pairing import TOKEN_SHAPE
from reminderbot.storage import repositories
from reminderbot.telegram import callbacks
from reminderbot.telegram.context import BotContext
from reminderbot.telegram.handlers import pairing, settings
from reminderbot.telegram.replies import answer, drop_buttons, finish_press, keyboard, reply
from reminderbot.telegram.welcome import welcome_text


def consent_keyboard(context: BotContext, lang: str) -> list[list[tuple[str, str]]]:
    state = context.state
    return [
        [(state.text("buttons.consent_yes", lang), callbacks.CONSENT_YES)],
        [(state.text("buttons.consent_no", lang), callbacks.CONSENT_NO)],
    ]


async def start(update: Update, context: BotContext) -> None:
    """Welcome: what the bot does and stores, then yes or not now."""
    user = update.effective_user
    if user is None:
        return
    # /start <token>: someone opened a partner's invite link.
    if context.args and TOKEN_SHAPE.match(context.args[0]):
        await pairing.invite_opened(update, context, context.args[0])
        return
    state = context.state
    async with state.sessions.begin() as session:
        person = await repositories.person_by_telegram_id(session, user.id)
    lang = state.language_for(user, person)
    if consent.is_active(person):
        await reply(update, context, state.text("onboarding.already_on", lang))
        return
    await reply(
        update,
        context,
        welcome_text(state, lang),
        markup=keyboard(consent_keyboard(context, lang)),
    )


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
        await finish_press(update, state.text("onboarding.not_now", lang))
        return

    async with state.sessions.begin() as session:
        outcome = await consent.give_consent(
            session,
            telegram_user_id=user.id,
            chat_id=chat.id,
            language=state.catalog.resolve_language(user.language_code),
            timezone=state.settings.default_timezone,
            default_time=state.settings.default_reminder_time,
            now=state.now(),
        )
    lang = outcome.person.language
    # The welcome they agreed to stays in the chat; only its buttons go, and the thanks come
    # as a new message (once, however often the button was pressed).
    if await drop_buttons(update):
        await reply(update, context, state.text("onboarding.consented", lang))
    await answer(update)
    if outcome.first_time:
        await settings.ask_timezone(update, context, lang)
