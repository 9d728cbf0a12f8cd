"""The error handler: log the kind of error and where (never its message, which may hold a
person's words), answer gently, tell the admins at most once a minute per kind, keep running."""

from __future__ import annotations

import logging
import traceback
from datetime import datetime, timedelta

from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError

from reminderbot.metrics import Metrics
from reminderbot.storage.outage import is_database_error
from reminderbot.telegram.context import METRICS_KEY, AppState, BotContext
from reminderbot.telegram.replies import NOT_MODIFIED, answer

log = logging.getLogger(__name__)

# The support path: what someone in a hard moment reaches for. A failure in its code is counted
# apart (reminderbot_handler_errors_total{path="support"}) so an alert can name it.
SUPPORT_MODULES = frozenset(
    {
        "reminderbot.telegram.handlers.support",
        "reminderbot.telegram.handlers.help",
        "reminderbot.telegram.contacts",
    }
)
ALERT_EVERY = timedelta(minutes=1)
ALERTS_KEY = "admin_alerts"
_MAX_KINDS = 64  # kinds of error remembered for the alert limit (they are few; a bound anyway)


def where(error: BaseException | None) -> str:
    """The handler that failed and the innermost line of ours, as module.function:line.

    Names and line numbers only: a traceback's last line is the exception's message, and an
    exception's message may carry a person's words (a typed city, a note in SQL parameters)."""
    if error is None:
        return "-"
    ours = [
        f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_name}:{line}"
        for frame, line in traceback.walk_tb(error.__traceback__)
        if str(frame.f_globals.get("__name__", "")).startswith("reminderbot.")
    ]
    if not ours:
        return "-"
    return ours[0] if len(ours) == 1 else f"{ours[0]} > {ours[-1]}"


def path_of(error: BaseException | None) -> str:
    """ "support" when the failure passed through the support path's code, else "other"."""
    if error is None:
        return "other"
    for frame, _line in traceback.walk_tb(error.__traceback__):
        if frame.f_globals.get("__name__") in SUPPORT_MODULES:
            return "support"
    return "other"


def kind_of(error: BaseException | None) -> str:
    return "database" if is_database_error(error) else type(error).__name__


async def on_error(update: object, context: BotContext) -> None:
    error = context.error
    if isinstance(error, BadRequest) and NOT_MODIFIED in error.message.lower():
        # A second tap racing the first: what the person sees is already right.
        log.debug("edit changed nothing: error=%s", type(error).__name__)
        return
    kind = kind_of(error)
    if isinstance(update, Update):
        user = update.effective_user
        log.error(
            "handler failed: update_id=%s user_id=%s where=%s error=%s kind=%s",
            update.update_id,
            user.id if user else None,
            where(error),
            type(error).__name__,
            kind,
        )
        _count(context, error)
        if not _unreachable(error):
            await _apologise(update, context, kind)
    else:
        name = type(error).__name__
        log.error("background failure: where=%s error=%s kind=%s", where(error), name, kind)
    await _tell_admins(context, update, kind)


def _count(context: BotContext, error: BaseException | None) -> None:
    metrics = context.application.bot_data.get(METRICS_KEY)
    if isinstance(metrics, Metrics):  # an Application built without them counts nothing
        metrics.handler_failed(path_of(error))


def _unreachable(error: BaseException | None) -> bool:
    """The person cannot be answered: Telegram itself is unreachable (BadRequest, though a
    NetworkError subclass, is Telegram answering), or they blocked the bot."""
    return isinstance(error, Forbidden) or (
        isinstance(error, NetworkError) and not isinstance(error, BadRequest)
    )


async def _apologise(update: Update, context: BotContext, kind: str) -> None:
    state = context.state
    lang = state.language_for(update.effective_user)
    database = kind == "database"
    # One sentence: with the database down, that it is safe; otherwise an apology.
    await answer(update, None if database else state.text("answers.error", lang))
    if update.effective_chat is None:
        return
    key = "errors.database_down" if database else "errors.generic"
    try:
        await context.bot.send_message(update.effective_chat.id, state.text(key, lang))
    except Exception as exc:  # the apology itself failed; the log above has the cause
        log.warning(
            "could not answer after an error: update_id=%s error=%s",
            update.update_id,
            type(exc).__name__,
        )


def _alert_due(context: BotContext, kind: str, now: datetime) -> bool:
    """At most one alert a minute per kind of error, so an outage is one alert, not hundreds."""
    last: dict[str, datetime] = context.application.bot_data.setdefault(ALERTS_KEY, {})
    previous = last.get(kind)
    if previous is not None and previous <= now < previous + ALERT_EVERY:
        return False
    last.pop(kind, None)
    last[kind] = now
    while len(last) > _MAX_KINDS:
        del last[next(iter(last))]
    return True


async def _tell_admins(context: BotContext, update: object, kind: str) -> None:
    state: AppState = context.state
    if not state.settings.admin_chat_ids or not _alert_due(context, kind, state.now()):
        return
    update_id = update.update_id if isinstance(update, Update) else None
    for chat_id in state.settings.admin_chat_ids:
        try:
            await context.bot.send_message(
                chat_id,
                state.text(
                    "admin.error_report",
                    state.settings.default_language,
                    update_id=str(update_id),
                    error=type(context.error).__name__,
                ),
            )
        except Exception as exc:
            log.warning("could not notify admin chat %s: %s", chat_id, type(exc).__name__)
