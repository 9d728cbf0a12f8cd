"""Every line that reaches a partner, sent after the deciding transaction committed.

A partner only ever hears what reminderbot.services.sharing allows: pairing started or ended,
shared prompts rest or resume, and check-ins their partner chose to share. The lines go out with
the receiver's own discreet and silent choices, and always protected from forwarding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from telegram import Bot
from telegram.error import BadRequest, TelegramError

from reminderbot.services import sharing
from reminderbot.services.checkins import CheckInOutcome, CheckInResult
from reminderbot.services.sharing import Notice, NoticeKind
from reminderbot.storage.outage import DATABASE_ERRORS
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.menus import couple_offer

log = logging.getLogger(__name__)

HELD_NOTICES_SECONDS = 60.0


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
    if outcome.person is not None and outcome.person.couple_id is None:
        # No partner, so nothing to tell (unpairing dropped any held line): no transaction.
        return
    state = context.state
    for _ in range(2):
        try:
            async with state.sessions.begin() as session:
                notices = await sharing.share_checkin(session, outcome.checkin.id, state.now())
        except DATABASE_ERRORS as exc:
            # The check-in itself is kept; only the line to the partner is not sent.
            log.error("check-in %s not shared: %s", outcome.checkin.id, type(exc).__name__)
            return
        await send_notices(context.bot, state, notices)
        if not any(n.record_id is not None and n.edit_message_id is None for n in notices):
            break
        # A first line went out. With several instances the answer may have changed
        # meanwhile, and the instance that changed it found no line to edit yet: look once
        # more, now that this line's id is kept (no change: nothing is sent).
    await _tell_the_sharer(context, outcome)


async def _tell_the_sharer(context: BotContext, outcome: CheckInOutcome) -> None:
    """Sharing is not silent for the one who shares: one quiet line when an answer becomes one
    they share, and one when a shared answer is made private again. Decided from their own
    choice alone, never from whether the partner takes such lines or is in quiet hours, which
    would be news about the partner."""
    owner, checkin = outcome.person, outcome.checkin
    if owner is None or checkin is None or owner.couple_id is None:
        return
    shared = sharing.SHAREABLE[owner.sharing]
    now_shared = checkin.mood in shared and sharing.may_receive(owner)
    was_shared = outcome.previous is not None and outcome.previous in shared
    state = context.state
    lang = owner.language
    if now_shared and checkin.mood != outcome.previous:
        mood = state.text(f"buttons.mood_{checkin.mood.value}", lang)
        text = state.text("sharing.you_shared", lang, mood=mood)
    elif was_shared and not now_shared:
        text = state.text("sharing.you_made_private", lang)
    else:
        return
    if owner.discreet_preview:  # a lock screen may be read by others
        text = state.text("reminder.discreet_first_line", lang) + "\n\n" + text
    try:
        await context.bot.send_message(
            owner.chat_id, text, disable_notification=True, protect_content=True
        )
    except TelegramError as exc:
        log.warning("sharing line to person %s not sent: %s", owner.id, type(exc).__name__)
