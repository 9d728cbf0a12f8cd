"""The one wiring point: builds the Application and registers every handler, in order."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, time
from time import monotonic as time_monotonic
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from telegram import BotCommand, Update
from telegram.constants import UpdateType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)
from telegram.request import BaseRequest

from reminderbot.config import MAX_MESSAGE_CHARS
from reminderbot.content import ContentKind
from reminderbot.delivery.dispatcher import Dispatcher, TickStats
from reminderbot.delivery.reminder import CHECKIN, PAUSE_FROM_REMINDER
from reminderbot.delivery.shared_rate import leader_for
from reminderbot.metrics import SENT, Metrics, TickFigures
from reminderbot.services import stats
from reminderbot.telegram import callbacks, notices, once, retention
from reminderbot.telegram.concurrency import PerPersonUpdates
from reminderbot.telegram.contacts import support_contacts
from reminderbot.telegram.context import METRICS_KEY, STATE_KEY, AppState, BotContext
from reminderbot.telegram.handlers import (
    checkins,
    errors,
    fallback,
    help,
    history,
    leaving,
    onboarding,
    pairing,
    pausing,
    settings,
    support,
)
from reminderbot.telegram.retries import RetryRefusedReplies

log = logging.getLogger(__name__)

# The commands menu, in the order people see it; descriptions live in messages/ as commands.<name>.
MENU_COMMANDS = (
    "start",
    "settings",
    "language",
    "times",
    "timezone",
    "quiet",
    "pause",
    "resume",
    "checkins",
    "support",
    "pair",
    "unpair",
    "help",
    "mydata",
    "stop",
    "delete",
)
DISPATCHER_KEY = "dispatcher"

# The weekly summary: Monday morning in the practice's timezone. One advisory lock key for it.
SUMMARY_TIME = time(9, 0)
SUMMARY_LOCK_KEY = 0x7265_6D69_6E64  # "remind"
SUMMARY_HOLD_SECONDS = 120.0

# Updates we act on; anything else Telegram might send is not even fetched.
ALLOWED_UPDATES = [UpdateType.MESSAGE, UpdateType.CALLBACK_QUERY]


def _register(application: Application) -> None:  # type: ignore[type-arg]
    private = filters.ChatType.PRIVATE
    # Group -4, first of all: an update delivered again whose effect is committed goes no
    # further (telegram/once.py); group 2, last: any other handled update is recorded so.
    application.add_handler(TypeHandler(Update, once.drop_repeat), group=-4)
    application.add_handler(TypeHandler(Update, once.record_handled), group=2)
    # Group -3: count every update by kind for /metrics (nothing else about it).
    application.add_handler(TypeHandler(Update, _count_update), group=-3)
    # Group -2, the gatekeeper: outside private chats we answer once and store nothing.
    application.add_handler(TypeHandler(Update, fallback.private_chats_only), group=-2)
    # Group -1: a person Telegram said was unreachable has written again.
    application.add_handler(TypeHandler(Update, fallback.person_wrote), group=-1)

    # Group 0: commands first, then buttons (each matched by an anchored pattern), then the
    # catch-alls for unknown commands, free text and forged or stale buttons.
    commands = {
        "start": onboarding.start,
        "help": help.help_command,
        "stop": leaving.stop,
        "mydata": leaving.mydata,
        "delete": leaving.delete,
        "timezone": settings.timezone_command,
        "times": settings.times_command,
        "quiet": settings.quiet_command,
        "settings": settings.settings_command,
        "language": settings.language_command,
        "pause": pausing.pause_command,
        "resume": pausing.resume_command,
        "checkins": history.checkins_command,
        "support": support.support_command,
        "pair": pairing.pair_command,
        "unpair": pairing.unpair_command,
    }
    for name, callback in commands.items():
        application.add_handler(CommandHandler(name, callback, filters=private))

    buttons = [
        (callbacks.CONSENT, onboarding.consent_answer),
        (callbacks.STOP, leaving.stop_answer),
        (callbacks.DELETE, leaving.delete_answer),
        (CHECKIN, checkins.checkin_button),
        (PAUSE_FROM_REMINDER, pausing.pause_command),
        (callbacks.PAUSE_CHOICE, pausing.pause_choice),
        (callbacks.RESUME_CHOICE, pausing.resume_choice),
        (callbacks.PAIR_ANSWER, pairing.invite_answer),
        (callbacks.UNPAIR, pairing.unpair_answer),
        (callbacks.COUPLE, pairing.couple_answer),
        (callbacks.SETTINGS, settings.settings_button),
        (callbacks.SUPPORT, support.support_now),
    ]
    for pattern, callback in buttons:
        application.add_handler(CallbackQueryHandler(callback, pattern=pattern))
    application.add_handler(CallbackQueryHandler(fallback.stale_button))
    application.add_handler(MessageHandler(filters.COMMAND & private, fallback.unknown_command))
    # Free text: the note first (its window is open only while a check-in tap was the person's
    # last act, so it is the fresher question even if an older timezone question went
    # unanswered), then a typed timezone after the question, else a pointer.
    free_text = fallback.free_text(checkins.typed_note, settings.typed_timezone)
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND & private, free_text))
    # Voice, stickers, photos, files, locations...: a short reply; never downloaded.
    application.add_handler(MessageHandler(filters.ATTACHMENT & private, fallback.not_text))
    # Group 1, after the answer: any other command or button ends an open note window, so a
    # later text is never kept with a check-in it was not written for.
    application.add_handler(TypeHandler(Update, checkins.close_note_window), group=1)
    application.add_error_handler(errors.on_error)


def oversized_messages(state: AppState) -> str | None:
    """The first of /help or /support that would pass Telegram's limit with the configured
    contacts (and the longest grounding lines), in any language; None when all fit."""
    for lang in state.catalog.languages:
        contacts = support_contacts(state, lang)
        pool = sorted(
            (item.text for item in state.catalog.items(lang, [ContentKind.GROUNDING])),
            key=len,
            reverse=True,
        )[: support.GROUNDING_LINES]
        grounding = "\n\n".join(
            state.text("support_path.grounding_line", lang, text=text) for text in pool
        )
        texts = {
            "/help": help.help_text(state, lang),
            "/support": state.text(
                "support_path.text", lang, grounding=grounding, contacts=contacts
            ),
        }
        for command, body in texts.items():
            if len(body) > MAX_MESSAGE_CHARS:
                return (
                    f"With these support_contacts, {command} ({lang}) would be {len(body)} "
                    f"characters, over Telegram's {MAX_MESSAGE_CHARS}; list fewer or shorter "
                    "contacts (REMINDERBOT_SUPPORT_CONTACTS or the config file)."
                )
    return None


async def set_commands(application: Application) -> None:  # type: ignore[type-arg]
    """The command menu and the bot's profile words, for every language it has words in
    (the default language also for everyone whose language Telegram has no words for)."""
    state: AppState = application.bot_data[STATE_KEY]
    catalog = state.catalog
    bot = application.bot
    for lang in catalog.languages:
        commands = [
            BotCommand(name, state.text(f"commands.{name}", lang)) for name in MENU_COMMANDS
        ]
        language_code = None if lang == catalog.default_language else lang
        await bot.set_my_commands(commands, language_code=language_code)
        try:
            await bot.set_my_description(
                state.text("about.description", lang), language_code=language_code
            )
            await bot.set_my_short_description(
                state.text("about.short_description", lang), language_code=language_code
            )
        except TelegramError as exc:
            # The profile is a courtesy: the bot works without it, so it still starts.
            log.warning("could not set the bot's description (%s)", exc.__class__.__name__)


async def _post_init(application: Application) -> None:  # type: ignore[type-arg]
    await set_commands(application)
    state: AppState = application.bot_data[STATE_KEY]
    dispatcher = Dispatcher(
        sessions=state.sessions,
        catalog=state.catalog,
        bot=application.bot,
        rate=state.settings.rate_ceiling,
        stale_after=state.settings.stale_after,
        protect_content=state.settings.protect_content,
        clock=state.clock,
        changes=state.person_changes,
        tick_seconds=state.settings.tick_seconds,
    )
    engine = state.sessions.kw.get("bind")
    if engine is not None:
        dispatcher.leader = leader_for(engine)
    application.bot_data[DISPATCHER_KEY] = dispatcher
    limiter = application.bot.rate_limiter
    if isinstance(limiter, RetryRefusedReplies):
        # Replies spend the reminders' budget at Telegram too (delivery/pacing.py).
        limiter.on_send = dispatcher.reply_sent
    metrics_of(application).watch_sending(
        lambda: state.run_dispatcher and dispatcher.sending, dispatcher.oldest_overdue_seconds
    )
    if application.job_queue is not None and state.run_dispatcher:
        application.job_queue.run_repeating(
            _tick,
            interval=state.settings.tick_seconds,
            first=0.5,
            name="dispatcher",
            # The tick guards against overlap itself; a long drain must not flood the log
            # with APScheduler's "maximum number of running instances" warnings.
            job_kwargs={"max_instances": 3, "coalesce": True, "misfire_grace_time": None},
        )
        # Partner lines held for the receiver's quiet hours go out when those hours end.
        application.job_queue.run_repeating(
            notices.held_notices_job,
            interval=notices.HELD_NOTICES_SECONDS,
            first=5.0,
            name="partner-lines",
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
    if application.job_queue is not None and state.run_dispatcher:
        # Nothing is kept for ever: once a day, one instance purges (telegram/retention.py).
        application.job_queue.run_daily(
            retention.retention_job,
            time=state.settings.retention_time.replace(tzinfo=UTC),
            name="retention",
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
    if application.job_queue is not None:
        # Numbers of handled updates are kept only as long as Telegram may send one again.
        application.job_queue.run_repeating(
            once.forget_old,
            interval=once.FORGET_EVERY,
            first=60.0,
            name="forget-handled-updates",
            job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
    if application.job_queue is not None and state.settings.weekly_summary:
        application.job_queue.run_daily(
            _weekly_summary_job,
            time=SUMMARY_TIME.replace(tzinfo=ZoneInfo(state.settings.default_timezone)),
            days=(1,),  # Monday (python-telegram-bot counts from Sunday = 0)
            name="weekly-summary",
        )


async def weekly_summary(application: Application, hold_seconds: float = 0.0) -> None:  # type: ignore[type-arg]
    """Counts for the practice (the same as `reminderbot stats`) to the admin chats.

    With several instances on PostgreSQL each fires at the same minute; a transaction-level
    advisory lock, held a while after sending, lets exactly one of them send."""
    state: AppState = application.bot_data[STATE_KEY]
    lang = state.catalog.default_language
    try:
        async with state.sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                mine = await session.scalar(
                    text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SUMMARY_LOCK_KEY}
                )
                if not mine:
                    return
            counts = await stats.practice_counts(session, state.now())
            summary = stats.render(counts, state.catalog, lang, state.settings.practice_name)
            for chat_id in state.settings.admin_chat_ids:
                await application.bot.send_message(chat_id, summary)
            await asyncio.sleep(hold_seconds)
    except (SQLAlchemyError, OSError) as exc:
        log.error("weekly summary not sent: the database failed (%s)", type(exc).__name__)
    except TelegramError as exc:
        log.error("weekly summary not sent: Telegram answered %s", type(exc).__name__)


async def _weekly_summary_job(context: BotContext) -> None:
    await weekly_summary(context.application, hold_seconds=SUMMARY_HOLD_SECONDS)


def metrics_of(application: Application) -> Metrics:  # type: ignore[type-arg]
    metrics: Metrics = application.bot_data[METRICS_KEY]
    return metrics


def update_kind(update: Update) -> str:
    if update.message is not None:
        return "message"
    if update.callback_query is not None:
        return "callback_query"
    return "other"


async def _count_update(update: Update, context: BotContext) -> None:
    metrics_of(context.application).update_handled(update_kind(update))


async def _tick(context: BotContext) -> None:
    dispatcher: Dispatcher = context.application.bot_data[DISPATCHER_KEY]
    metrics = metrics_of(context.application)
    # A tick that stopped on its time budget with a backlog left is followed at once, not at
    # the next second: at a paid 1,000 a second, that wait would be a thousand reminders late.
    while (stats := await tick_once(dispatcher, metrics)) is not None and stats.backlog:
        pass


def tick_figures(stats: TickStats) -> TickFigures:
    outcomes = {(SENT, ""): 0} | {
        (str(status), str(reason)): count for (status, reason), count in stats.outcomes.items()
    }
    return TickFigures(
        claimed=stats.claimed,
        sent=stats.sent,
        skipped=stats.skipped,
        failed=stats.failed,
        rate_limited=stats.rate_limited,
        outcomes=outcomes,
        lateness_seconds=tuple(stats.lateness),
    )


async def run_tick(dispatcher: Dispatcher, metrics: Metrics | None = None) -> bool:
    """One dispatcher tick that never raises. Database down or busy: nothing was claimed, or
    the claim rolled back; the rows are still due and the next tick tries again. Logged once
    per outage, not every second. Returns whether the tick went through.

    A tick that did work logs one line of counts (ids and words never), and feeds /metrics."""
    return await tick_once(dispatcher, metrics) is not None


async def tick_once(dispatcher: Dispatcher, metrics: Metrics | None = None) -> TickStats | None:
    """``run_tick``, returning what the tick did, or None when it could not go through."""
    started = time_monotonic()
    try:
        stats = await dispatcher.tick()
    except (SQLAlchemyError, OSError) as exc:
        if not dispatcher.failing:
            log.error("dispatcher cannot reach the database: %s", type(exc).__name__)
        dispatcher.failing = True
        return None
    if dispatcher.failing:
        log.info("dispatcher reaches the database again")
    dispatcher.failing = False
    figures = tick_figures(stats)
    if metrics is not None:
        metrics.record_tick(figures, time_monotonic() - started)
    if figures.claimed or figures.sent or figures.skipped or figures.failed:
        log.info(
            "tick: claimed %d, sent %d, skipped %d, failed %d",
            figures.claimed,
            figures.sent,
            figures.skipped,
            figures.failed,
        )
    return stats


def begin_shutdown(application: Application) -> None:  # type: ignore[type-arg]
    """First thing at a stop: the dispatcher sends nothing more. A tick that is sending stops
    between chunks, any wait (a 429's retry_after included) ends at once, and the claims it
    had not sent are handed back for another instance or the next start (the lease fences out
    a second send). Replies stop waiting out 429s too. Synchronous, so a signal's path can
    call it before anything else."""
    dispatcher: Dispatcher | None = application.bot_data.get(DISPATCHER_KEY)
    if dispatcher is not None:
        dispatcher.begin_stop()
    limiter = application.bot.rate_limiter
    if isinstance(limiter, RetryRefusedReplies):
        limiter.stop_waiting()


async def _post_shutdown(application: Application) -> None:  # type: ignore[type-arg]
    state: AppState = application.bot_data[STATE_KEY]
    await release_leadership(application)
    engine = state.sessions.kw.get("bind")
    if engine is not None:
        await engine.dispose()


async def release_leadership(application: Application) -> None:  # type: ignore[type-arg]
    """Let another instance take over sending at once rather than when our session ends."""
    dispatcher: Dispatcher | None = application.bot_data.get(DISPATCHER_KEY)
    if dispatcher is not None and dispatcher.leader is not None:
        await dispatcher.leader.release()


def build_application(
    state: AppState,
    *,
    token: str,
    base_url: str,
    request: BaseRequest | None = None,
    get_updates_request: BaseRequest | None = None,
) -> Application:  # type: ignore[type-arg]
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .context_types(ContextTypes(context=BotContext))
        .defaults(Defaults(tzinfo=UTC))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        # Different people's updates side by side, each person's in order (telegram/concurrency).
        .concurrent_updates(PerPersonUpdates())
        # A reply refused with 429 in a burst is sent again after its wait (telegram/retries).
        .rate_limiter(RetryRefusedReplies())
    )
    if request is not None:
        builder = builder.request(request)
    if get_updates_request is not None:
        builder = builder.get_updates_request(get_updates_request)
    application = builder.build()
    application.bot_data[STATE_KEY] = state
    application.bot_data[METRICS_KEY] = Metrics()
    _register(application)
    return application
