"""Logging set-up. Logs carry ids and events only; the token never appears in them."""

from __future__ import annotations

import json
import logging
import os
import time


class RedactToken(logging.Filter):
    """Defence in depth: scrub the token from any record (e.g. a library logging a URL)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self._token and self._token in record.getMessage():
            record.msg = record.getMessage().replace(self._token, "<token>")
            record.args = None
        return True


class QuietRetryLoop(logging.Filter):
    """python-telegram-bot logs a full traceback when it gives up reaching the Bot API at
    start-up; the CLI then says what is wrong in one sentence, so keep only the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram.ext") and "Network Retry Loop" in record.getMessage():
            record.exc_info = None
            record.exc_text = None
        return True


class QuietGatewayPages(logging.Filter):
    """python-telegram-bot logs every answer that is not JSON (a gateway's 502 page while
    Telegram is down) as an ERROR with a traceback and the whole page, once per request. The
    dispatcher counts those sends as not sent and says once that Telegram is out of reach."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name.startswith("telegram.request")
            and record.getMessage().startswith("Can not load invalid JSON data")
        )


class WithholdUpdateData(logging.Filter):
    """python-telegram-bot logs the whole answer of a getUpdates it cannot read, a person's
    words included, at CRITICAL. The poller reads those updates one by one and logs which
    one it skipped; this keeps the line and drops the data (and the traceback, whose message
    may quote it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("telegram") and str(record.msg).startswith(
            "Error while parsing updates"
        ):
            error = record.exc_info[1] if record.exc_info else None
            cause = f" ({type(error).__name__})" if error is not None else ""
            record.msg = f"python-telegram-bot could not read an update{cause}; data withheld"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors (``REMINDERBOT_LOG_FORMAT=json``)."""

    def __init__(self, token: str | None = None) -> None:
        super().__init__()
        self._token = token

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, ensure_ascii=False)
        # Defence in depth for a traceback that carries a URL with the token in it.
        return line.replace(self._token, "<token>") if self._token else line


# What configure() set up, for the last line the CLI prints when it stops (see fatal_line).
_configured: dict[str, str | None] = {}


def configure(level: str, token: str | None = None, log_format: str = "text") -> None:
    _configured.update(format=log_format, token=token)
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter(token))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    if token:
        handler.addFilter(RedactToken(token))
    handler.addFilter(QuietRetryLoop())
    handler.addFilter(QuietGatewayPages())
    handler.addFilter(WithholdUpdateData())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_libraries(level)


def fatal_line(message: str) -> str:
    """The one line the CLI prints when it must stop: JSON when the log is JSON (a collector
    must not lose the line that says why), else ``reminderbot: <sentence>``. Before logging is
    set up (a setting itself is wrong) REMINDERBOT_LOG_FORMAT decides."""
    log_format = _configured.get("format") or os.environ.get("REMINDERBOT_LOG_FORMAT", "")
    token = _configured.get("token")
    if token:
        message = message.replace(token, "<token>")
    if log_format.strip().lower() != "json":
        return f"reminderbot: {message}"
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "level": "CRITICAL",
        "logger": "reminderbot",
        "message": message,
    }
    return json.dumps(entry, ensure_ascii=False)


def quiet_libraries(level: str) -> None:
    """Library loggers at the levels where they log no one's words, whatever the bot's own."""
    # httpx logs every request URL at INFO, and the Bot API URL contains the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # SQLAlchemy logs every statement with its parameters at INFO, and the database drivers and
    # python-telegram-bot log message texts at DEBUG: people's words must never reach the log,
    # whatever the bot's own level.
    for name in ("sqlalchemy", "aiosqlite", "asyncpg"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(max(logging.INFO, logging.getLevelName(level)))
