"""Sending one reminder, and what Telegram's answer means for it.

Delivery guarantee: a send whose fate is unknown (a time-out, an answer lost after the request
left) is repeated at most once; only answers that prove the Bot API never handled the request
count as not sent, and those are tried again until the reminder is stale: a connection that
could not be made or a request that could not be written (refused, reset while connecting, a
full connection pool), and a gateway's own error page (a 500, 502 or 503 whose body is not the
Bot API's JSON, as Telegram's front end answers while the Bot API behind it is down).
"""

from __future__ import annotations

import enum
import re
from datetime import datetime

import httpx
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from reminderbot.delivery.batch import Note, Outcome, Outgoing, Reason, TickStats, log
from reminderbot.storage.models import DeliveryStatus


class ReminderSender:
    """Sends a reminder exactly as ``bot.send_message`` would, and keeps only the message id.

    The same parameters in the same order, through the bot's own request object
    (``BaseRequest.post``), so Telegram's answers raise PTB's own errors. What it leaves out is
    building a full ``Message`` from each answer and PTB objects for the keyboard: at thousands
    of reminders a second those cost more than everything else in sending. Reminders pass no
    ``Defaults`` and no rate limiter of PTB's (the dispatcher paces them and handles their
    429s). ``RequestParameter`` is PTB's own internal class: a test compares the wire with
    ``send_message``'s, so a PTB upgrade that changes it fails there.
    """

    def __init__(self, bot: Bot, *, protect_content: bool) -> None:
        self.bot = bot
        self.protect_content = protect_content

    async def send(self, message: Outgoing) -> int:
        """Send it; Telegram's message id. Raises Telegram's error as PTB raises it."""
        parameters: dict[str, object] = {
            "chat_id": message.chat_id,
            "text": message.text,
            "disable_notification": message.silent,
            "protect_content": self.protect_content,
            "reply_markup": message.keyboard,
        }
        # Plain values need none of from_input's conversions (files, dates, PTB objects).
        data = RequestData([RequestParameter(k, v, None) for k, v in parameters.items()])
        answer = await self.bot.request.post(f"{self.bot.base_url}/sendMessage", data)
        if not isinstance(answer, dict):
            raise TypeError(f"sendMessage answered {type(answer).__name__}, not a message")
        return int(answer["message_id"])


# Errors of httpx that PTB raises before the whole request was written: the Bot API cannot
# have acted on it. A read error, a closed connection or a read time-out come after it left.
_NEVER_LEFT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
)
# PTB's NetworkError for a 5xx whose body is not JSON: "Bad Gateway (502). Parsing the server
# response b'<html>...' failed". A 504 is left out on purpose: that gateway passed the request
# on and gave up waiting for the answer, so the message may have gone out.
_GATEWAY_PAGE = re.compile(r"\((500|502|503)\)\. Parsing the server response ")


def never_reached_telegram(error: NetworkError) -> bool:
    """Whether this error proves the request never left: only then is a send certainly "not
    sent". PTB's HTTPXRequest raises connect and write failures as NetworkError and a full
    connection pool as TimedOut, each from httpx's own error; anything else (a read error, a
    time-out after the request went out) may have reached Telegram."""
    cause = error.__cause__
    if cause is not None and isinstance(cause, httpx.HTTPError):
        return isinstance(cause, _NEVER_LEFT)
    # A request layer that drops the cause: PTB's own message names the httpx error.
    return error.message.startswith(("httpx.ConnectError:", "httpx.ConnectTimeout:"))


def gateway_page(error: NetworkError) -> bool:
    """A 500, 502 or 503 from something in front of the Bot API, not the Bot API's own JSON
    answer: the Bot API never handled the request (Telegram's front end answers so while the
    servers behind it are down)."""
    return type(error) is NetworkError and _GATEWAY_PAGE.search(error.message) is not None


class Refusal(enum.Enum):
    """What a Telegram error means for the reminder it refused. A 429 is none of these: it
    refuses no message, the dispatcher waits out its retry_after and sends again."""

    BLOCKED = "blocked"  # the person blocked the bot: they are unreachable
    CHAT_NOT_FOUND = "chat_not_found"  # the chat is gone: unreachable
    REJECTED = "rejected"  # Telegram refused this message (a 400): failed
    UNEXPECTED = "unexpected"  # any other Telegram error: failed, and worth an error line
    NOT_SENT = "not_sent"  # the Bot API never handled it: try again until stale
    TIMED_OUT = "timed_out"  # may have reached Telegram: try again, at most once more
    MAYBE_SENT = "maybe_sent"  # another network error after the request left: likewise


def classify(error: TelegramError) -> Refusal:
    # Order matters: BadRequest and TimedOut are NetworkErrors in PTB.
    if isinstance(error, Forbidden):
        return Refusal.BLOCKED
    if isinstance(error, BadRequest):
        if "chat not found" in error.message.lower():
            return Refusal.CHAT_NOT_FOUND
        return Refusal.REJECTED
    if isinstance(error, NetworkError):
        if never_reached_telegram(error) or gateway_page(error):
            return Refusal.NOT_SENT
        return Refusal.TIMED_OUT if isinstance(error, TimedOut) else Refusal.MAYBE_SENT
    return Refusal.UNEXPECTED


# Refusals that end the delivery as failed, with the reason written on it.
_FAILED: dict[Refusal, Reason] = {
    Refusal.BLOCKED: Reason.BLOCKED,
    Refusal.CHAT_NOT_FOUND: Reason.CHAT_NOT_FOUND,
    Refusal.REJECTED: Reason.REJECTED,
    Refusal.UNEXPECTED: Reason.REJECTED,
}
_UNREACHABLE = frozenset({Refusal.BLOCKED, Refusal.CHAT_NOT_FOUND})
# Refusals tried again later: how they are counted, and whether the message may have arrived.
_RETRIED: dict[Refusal, tuple[Note, bool]] = {
    Refusal.NOT_SENT: (Note.NETWORK, False),
    Refusal.TIMED_OUT: (Note.TIMEOUT, True),
    Refusal.MAYBE_SENT: (Note.NETWORK_UNCERTAIN, True),
}


def outcome_of(
    refusal: Refusal, error: TelegramError, message: Outgoing, now: datetime, stats: TickStats
) -> Outcome:
    """What to write for a refused send, and how it counts."""
    if refusal is Refusal.REJECTED:
        log.warning("delivery %s rejected by Telegram", message.delivery_id)
    elif refusal is Refusal.UNEXPECTED:
        log.error("delivery %s failed: %s", message.delivery_id, type(error).__name__)
    if (reason := _FAILED.get(refusal)) is not None:
        stats.fail(reason)
        return Outcome.finished(
            message, DeliveryStatus.FAILED, reason, now, unreachable=refusal in _UNREACHABLE
        )
    note, maybe_sent = _RETRIED[refusal]
    stats.note(note)
    return Outcome.retry(message, now, uncertain=maybe_sent)
