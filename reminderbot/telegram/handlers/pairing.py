"""/pair, the answer to an invitation, couple prompts and /unpair.

What a partner hears is decided in reminderbot.services and sent by telegram/notices.py once the
deciding transaction has committed.
"""

from __future__ import annotations

from telegram import Update

from reminderbot.services import consent, leaving, pairing, preferences
from reminderbot.services.conversation import Question, ask
from reminderbot.services.pairing import Refusal
from reminderbot.storage import repositories
from reminderbot.storage.models import Invite
from reminderbot.telegram import callbacks, menus
from reminderbot.telegram.acting import acting_person
from reminderbot.telegram.context import BotContext
from reminderbot.telegram.notices import send_notices
from reminderbot.telegram.replies import answer, drop_buttons, finish_press, replace_with, reply
from reminderbot.telegram.welcome import not_now_text


# --------------------------------------------------------------------------- /pair
async def pair_command(update: Update, context: BotContext) -> None:
    """A fresh single-use invite link, and a line to forward to the partner."""
    state = context.state
    ttl = state.settings.invite_ttl
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        lang = acting.lang
        paired = acting.person.couple_id is not None
        if not paired:
            invite = await pairing.create_invite(acting.session, acting.person, acting.now, ttl)
    if paired:
        await reply(update, context, state.text("pairing.already_paired", lang))
        return
    hours = max(1, round(ttl.total_seconds() / 3600))
    await reply(update, context, state.text("pairing.invite_made", lang, hours=hours, count=hours))
    # A message of its own, not protected, so it can be forwarded as it is.
    link = pairing.invite_link(context.bot.username, invite.token)
    await reply(update, context, state.text("pairing.invite_forward", lang, link=link))


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        self.refusal = refusal


async def invite_answer(update: Update, context: BotContext) -> None:
    """Yes or not now under an invitation. Everything is checked again on the press."""
    query = update.callback_query
    user = update.effective_user
    chat = update.effective_chat
    match = callbacks.PAIR_ANSWER.match(query.data or "") if query else None
    if query is None or user is None or chat is None or match is None:
        return
    state = context.state
    now = state.now()
    if query.data == callbacks.PAIR_NO:
        async with state.sessions.begin() as session:
            person = await repositories.person_by_telegram_id(session, user.id)
        lang = state.language_for(user, person)
        if consent.is_active(person):
            await finish_press(update, state.text("pairing.declined", lang))
        else:
            await finish_press(update, not_now_text(state, lang, person))
        return

    invite_id, given = int(match.group(1)), match.group(2)
    lang = state.language_for(user)
    first_time = saw_welcome = False
    try:
        async with state.sessions.begin() as session:
            invite = await session.get(Invite, invite_id)
            if invite is not None and not pairing.binding_ok(invite, user.id, given):
                raise _Refused(Refusal.INVALID)
            opener = await repositories.person_by_telegram_id(session, user.id)
            lang = state.language_for(user, opener)
            # A used invite is gone: check_invite tells its partner they are connected.
            refusal = await pairing.check_invite(session, invite, opener, now)
            if refusal is not None or invite is None:
                raise _Refused(refusal or Refusal.INVALID)
            if opener is None or not consent.is_active(opener):
                saw_welcome = True
                given_consent = await consent.give_consent(
                    session,
                    telegram_user_id=user.id,
                    chat_id=chat.id,
                    language=state.catalog.resolve_language(user.language_code),
                    timezone=state.settings.default_timezone,
                    default_time=state.settings.default_reminder_time,
                    now=now,
                )
                opener, first_time = given_consent.person, given_consent.first_time
            result = await pairing.accept(session, invite_id, opener, now)
            if isinstance(result, Refusal):
                raise _Refused(result)  # rolls back the consent too: it was a yes to both
            lang = opener.language
            if first_time:
                # In the database, not user_data: the answer may reach another instance.
                await ask(session, user.id, Question.TIMEZONE, now)
    except _Refused as refused:
        await finish_press(update, state.text(f"pairing.refused.{refused.refusal.value}", lang))
        return
    # The inviter hears first: nothing after this line may keep them from it.
    await send_notices(context.bot, state, result.notices)
    if saw_welcome:
        # The welcome they agreed to stays in the chat, as after a plain yes.
        if await drop_buttons(update):
            await reply(update, context, state.text("onboarding.consented", lang))
        offer = menus.couple_offer(state, lang)
        await reply(update, context, state.text("pairing.connected", lang), markup=offer)
        if first_time:
            text, markup = menus.timezone_question(state, lang)
            await reply(update, context, text, markup=markup)
    else:
        offer = menus.couple_offer(state, lang)
        await replace_with(update, state.text("pairing.connected", lang), offer)
    await answer(update, state.text("pairing.answers.connected", lang))


# --------------------------------------------------------------------------- couple prompts
async def couple_answer(update: Update, context: BotContext) -> None:
    """Yes or not now to couple prompts, offered to each partner right after pairing."""
    query = update.callback_query
    match = callbacks.COUPLE.match(query.data or "") if query else None
    if match is None:
        return
    wanted = match.group(1) == "yes"
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        lang = acting.lang
        changed = await preferences.set_couple_prompts(acting.session, acting.person, wanted)
        acting.mark(changed)
    state = context.state
    if not changed:
        note = state.text("answers.stale_button", lang)
        await finish_press(update, state.text("pairing.not_paired", lang), note=note)
        return
    key = "pairing.couple_on" if wanted else "pairing.couple_off"
    await finish_press(update, state.text(key, lang), note=state.text("answers.saved", lang))


# --------------------------------------------------------------------------- /unpair
async def unpair_command(update: Update, context: BotContext) -> None:
    async with acting_person(update, context, allow_stopped=True) as acting:
        if acting is None:
            return
        lang = acting.lang
        paired = acting.person.couple_id is not None
    state = context.state
    if not paired:
        await reply(update, context, state.text("pairing.not_paired", lang))
        return
    markup = menus.unpair_menu(state, lang)
    await reply(update, context, state.text("pairing.unpair_confirm", lang), markup=markup)


async def unpair_answer(update: Update, context: BotContext) -> None:
    query = update.callback_query
    match = callbacks.UNPAIR.match(query.data or "") if query else None
    if match is None:
        return
    confirmed = match.group(1) == "yes"
    async with acting_person(update, context, allow_stopped=True) as acting:
        if acting is None:
            return
        lang = acting.lang
        if confirmed:
            unpaired = await leaving.unpair(acting.session, acting.person, acting.now)
            acting.mark(unpaired.people)
    state = context.state
    if not confirmed:
        await finish_press(update, state.text("pairing.unpair_cancelled", lang))
        return
    if not unpaired.done:
        await finish_press(update, state.text("pairing.not_paired", lang))
        return
    await send_notices(context.bot, state, unpaired.notices)
    await finish_press(update, state.text("pairing.unpaired", lang))
