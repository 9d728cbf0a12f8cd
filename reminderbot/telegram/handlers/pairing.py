"""/pair, the invite link, /unpair, couple prompts, and every line that reaches a partner.

A partner only ever hears what reminderbot.services.sharing allows: pairing started or ended,
shared prompts rest or resume, and check-ins their partner chose to share. Those lines are sent
here, after the deciding transaction committed, with the receiver's own discreet and silent
choices, and always protected from forwarding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from telegram import Bot, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError

from reminderbot.services import consent, pairing, sharing
from reminderbot.services.checkins import CheckInOutcome, CheckInResult
from reminderbot.services.pairing import WRONG_TOKEN, Refusal, WrongTokens
from reminderbot.services.sharing import Notice, NoticeKind
from reminderbot.storage import repositories
from reminderbot.storage.models import Invite, Person
from reminderbot.storage.outage import DATABASE_ERRORS
from reminderbot.telegram import callbacks
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.handlers.settings import active_person, ask_timezone
from reminderbot.telegram.replies import (
    answer,
    drop_buttons,
    finish_press,
    keyboard,
    replace_with,
    reply,
)
from reminderbot.telegram.welcome import welcome_text

log = logging.getLogger(__name__)

WRONG_TOKENS_KEY = "pairing_wrong_tokens"
HELD_NOTICES_SECONDS = 60.0


def wrong_tokens(context: BotContext) -> WrongTokens:
    tracker: WrongTokens = context.application.bot_data.setdefault(WRONG_TOKENS_KEY, WrongTokens())
    return tracker


def couple_offer(state: AppState, lang: str) -> InlineKeyboardMarkup:
    return keyboard(
        [
            [(state.text("pairing.buttons.couple_yes", lang), callbacks.couple_data(True))],
            [(state.text("pairing.buttons.couple_no", lang), callbacks.couple_data(False))],
        ]
    )


# --------------------------------------------------------------------------- partner lines
def notice_text(state: AppState, notice: Notice) -> str:
    lang = notice.language
    match notice.kind:
        case NoticeKind.CHECKIN:
            if notice.mood is None:  # its owner took the answer back
                text = state.text("sharing.partner_checkin_withdrawn", lang)
            else:
                text = (
                    state.text(f"sharing.partner_checked_in.{notice.mood.value}", lang)
                    + "\n\n"
                    + state.text("sharing.nothing_asked", lang)
                )
        case NoticeKind.PAIRED:
            text = state.text("pairing.connected", lang)
        case NoticeKind.UNPAIRED:
            text = state.text("pairing.partner_unpaired", lang)
        case NoticeKind.RESTING:
            text = state.text("pairing.partner_shared_resting", lang)
        case NoticeKind.RESUMED:
            text = state.text("pairing.partner_shared_back", lang)
    if notice.discreet:
        return state.text("reminder.discreet_first_line", lang) + "\n\n" + text
    return text


async def send_notices(bot: Bot, state: AppState, notices: Iterable[Notice]) -> None:
    """Send (or, for a changed check-in, edit) decided partner lines. Never forwardable: a
    partner's line must not become evidence. A failure is logged by ids only and not retried;
    a failed edit never becomes a second line. The message id of each shared check-in line is
    kept, so the next change edits it."""
    sent: dict[int, int] = {}
    for notice in notices:
        if notice.edit_message_id is not None:
            await _edit_line(bot, state, notice, notice.edit_message_id)
            continue
        markup = couple_offer(state, notice.language) if notice.kind is NoticeKind.PAIRED else None
        try:
            message = await bot.send_message(
                notice.chat_id,
                notice_text(state, notice),
                reply_markup=markup,
                disable_notification=notice.silent,
                protect_content=True,
            )
        except TelegramError as exc:
            log.warning(
                "partner line %s to person %s not sent: %s",
                notice.kind.value,
                notice.person_id,
                type(exc).__name__,
            )
            continue
        if notice.record_id is not None:
            sent[notice.record_id] = message.message_id
    if not sent:
        return
    try:
        async with state.sessions.begin() as session:
            await sharing.remember_lines(session, sent)
    except DATABASE_ERRORS as exc:
        # The lines went out; a later change to them is simply not shown.
        log.error("shared line ids not kept: %s", type(exc).__name__)


async def _edit_line(bot: Bot, state: AppState, notice: Notice, message_id: int) -> None:
    try:
        await bot.edit_message_text(
            notice_text(state, notice), chat_id=notice.chat_id, message_id=message_id
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            log.warning("shared line of person %s not edited: BadRequest", notice.person_id)
    except TelegramError as exc:
        log.warning("shared line of person %s not edited: %s", notice.person_id, type(exc).__name__)


async def flush_held(state: AppState, bot: Bot) -> int:
    """Send the partner lines held for quiet hours that have ended. Returns how many."""
    async with state.sessions.begin() as session:
        notices = await sharing.due_held(session, state.now())
    await send_notices(bot, state, notices)
    return len(notices)


async def held_notices_job(context: BotContext) -> None:
    try:
        await flush_held(context.state, context.bot)
    except DATABASE_ERRORS as exc:
        # Down or busy, whatever the driver raised: nothing was marked sent; the next run
        # tries again.
        log.error("held partner lines not sent: %s", type(exc).__name__)


async def share_checkin(context: BotContext, outcome: CheckInOutcome) -> None:
    """After a check-in tap: tell the partner only if its owner chose to share this mood."""
    if outcome.checkin is None or outcome.result is CheckInResult.NOT_FOUND:
        return
    state = context.state
    try:
        async with state.sessions.begin() as session:
            notices = await sharing.share_checkin(session, outcome.checkin.id, state.now())
    except DATABASE_ERRORS as exc:
        # The check-in itself is kept; only the line to the partner is not sent.
        log.error("check-in %s not shared: %s", outcome.checkin.id, type(exc).__name__)
        return
    await send_notices(context.bot, state, notices)


# --------------------------------------------------------------------------- /pair
async def pair_command(update: Update, context: BotContext) -> None:
    """A fresh single-use invite link, and a line to forward to the partner."""
    person = await active_person(update, context)
    if person is None:
        return
    state = context.state
    lang = person.language
    if person.couple_id is not None:
        await reply(update, context, state.text("pairing.already_paired", lang))
        return
    ttl = state.settings.invite_ttl
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return
        invite = await pairing.create_invite(session, fresh, state.now(), ttl)
    hours = max(1, round(ttl.total_seconds() / 3600))
    await reply(update, context, state.text("pairing.invite_made", lang, hours=str(hours)))
    # A message of its own, not protected, so it can be forwarded as it is.
    link = pairing.invite_link(context.bot.username, invite.token)
    await reply(update, context, state.text("pairing.invite_forward", lang, link=link))


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
    yes_key = "pairing.buttons.connect" if active else "pairing.buttons.begin_and_connect"
    yes = callbacks.pair_yes_data(invite.id, pairing.binding(invite, user.id))
    markup = keyboard(
        [
            [(state.text(yes_key, lang), yes)],
            [(state.text("pairing.buttons.not_now", lang), callbacks.PAIR_NO)],
        ]
    )
    if active:
        text = state.text("pairing.invited", lang)
    else:
        text = state.text("pairing.invited_intro", lang) + "\n\n" + welcome_text(state, lang)
    await reply(update, context, text, markup=markup)


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
        key = "pairing.declined" if consent.is_active(person) else "onboarding.not_now"
        await finish_press(update, state.text(key, lang))
        return

    invite_id, given = int(match.group(1)), match.group(2)
    lang = state.language_for(user)
    first_time = saw_welcome = False
    try:
        async with state.sessions.begin() as session:
            invite = await session.get(Invite, invite_id)
            if invite is None or not pairing.binding_ok(invite, user.id, given):
                raise _Refused(Refusal.INVALID)
            opener = await repositories.person_by_telegram_id(session, user.id)
            lang = state.language_for(user, opener)
            refusal = await pairing.check_invite(session, invite, opener, now)
            if refusal is not None:
                raise _Refused(refusal)
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
    except _Refused as refused:
        await finish_press(update, state.text(f"pairing.refused.{refused.refusal.value}", lang))
        return
    # The inviter hears first: nothing after this line may keep them from it.
    await send_notices(context.bot, state, result.notices)
    if saw_welcome:
        # The welcome they agreed to stays in the chat, as after a plain yes.
        if await drop_buttons(update):
            await reply(update, context, state.text("onboarding.consented", lang))
        offer = couple_offer(state, lang)
        await reply(update, context, state.text("pairing.connected", lang), markup=offer)
        if first_time:
            await ask_timezone(update, context, lang)
    else:
        await replace_with(update, state.text("pairing.connected", lang), couple_offer(state, lang))
    await answer(update, state.text("pairing.answers.connected", lang))


# --------------------------------------------------------------------------- couple prompts
async def couple_answer(update: Update, context: BotContext) -> None:
    """Yes or not now to couple prompts, offered to each partner right after pairing."""
    query = update.callback_query
    match = callbacks.COUPLE.match(query.data or "") if query else None
    if match is None:
        return
    person = await active_person(update, context)
    if person is None:
        return
    state = context.state
    lang = person.language
    wanted = match.group(1) == "yes"
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        changed = fresh is not None and await pairing.set_couple_prompts(session, fresh, wanted)
    if not changed:
        note = state.text("answers.stale_button", lang)
        await finish_press(update, state.text("pairing.not_paired", lang), note=note)
        return
    key = "pairing.couple_on" if wanted else "pairing.couple_off"
    await finish_press(update, state.text(key, lang), note=state.text("answers.saved", lang))


# --------------------------------------------------------------------------- /unpair
async def unpair_command(update: Update, context: BotContext) -> None:
    person = await active_person(update, context, allow_stopped=True)
    if person is None:
        return
    state = context.state
    lang = person.language
    if person.couple_id is None:
        await reply(update, context, state.text("pairing.not_paired", lang))
        return
    markup = keyboard(
        [
            [(state.text("pairing.buttons.unpair_confirm", lang), callbacks.unpair_data(True))],
            [(state.text("pairing.buttons.unpair_cancel", lang), callbacks.unpair_data(False))],
        ]
    )
    await reply(update, context, state.text("pairing.unpair_confirm", lang), markup=markup)


async def unpair_answer(update: Update, context: BotContext) -> None:
    query = update.callback_query
    match = callbacks.UNPAIR.match(query.data or "") if query else None
    if match is None:
        return
    person = await active_person(update, context, allow_stopped=True)
    if person is None:
        return
    state = context.state
    lang = person.language
    if match.group(1) == "no":
        await finish_press(update, state.text("pairing.unpair_cancelled", lang))
        return
    notices = await end_pairing(state, person)
    if notices is None:
        await finish_press(update, state.text("pairing.not_paired", lang))
        return
    await send_notices(context.bot, state, notices)
    await finish_press(update, state.text("pairing.unpaired", lang))


async def end_pairing(state: AppState, person: Person) -> list[Notice] | None:
    """Unpair in its own transaction; None if the person was not paired."""
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None or fresh.couple_id is None:
            return None
        return await pairing.end_pairing(session, fresh, state.now())
