"""The bot's own HTTP server (``REMINDERBOT_LISTEN``), in both modes.

- ``GET /healthz``: 200 when the bot runs and its database answers, 503 otherwise.
- ``GET /metrics``: the Prometheus text format (see :mod:`reminderbot.metrics`).
- ``POST <the webhook URL's path>``, in webhook mode only: Telegram's updates. A request without
  the matching ``X-Telegram-Bot-Api-Secret-Token`` is refused (403) before anything is read; a
  body that is not an update is a 400.

python-telegram-bot's own webhook server cannot serve other paths, so this is a custom server.
An update is handled inside its request, through the Application's update processor (one
person's updates in order, as for polled ones), and answered 200 only once handling has
finished: Telegram forgets an update it got a 200 for, so a 200 must mean "kept". Anything
that ends the request earlier (a crash, a stop that cannot wait) leaves Telegram to send the
update again, and ``telegram/once.py`` makes that second delivery change nothing. Nothing is
held in memory or stored to do this: no one's words wait in a queue or a table.

On stop, ``Intake.refuse_new`` makes new updates a 503 (Telegram sends them again, to this
instance once it is back or to another), and ``Intake.drained`` waits, bounded, for those in
hand. Nothing goes onto ``application.update_queue`` in webhook mode, so stopping the
Application never waits on an update that arrived late.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from telegram import Update
from telegram.ext import Application

from reminderbot.metrics import CONTENT_TYPE, Metrics
from reminderbot.services import stats
from reminderbot.telegram.context import STATE_KEY, AppState

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DATABASE_TIMEOUT_SECONDS = 5.0

APPLICATION_KEY = web.AppKey("application", Application)
METRICS_KEY = web.AppKey("metrics", Metrics)
SECRET_KEY = web.AppKey("secret", str)
POLLING_KEY = web.AppKey("polling", bool)
FETCHING_KEY: web.AppKey[Callable[[], bool]] = web.AppKey("fetching")
# Telegram's updates are small; a larger body is refused with 413 before it is read.
MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Intake:
    """The webhook's updates in hand, and whether new ones are still taken."""

    stopping: bool = False
    in_hand: int = 0
    _idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._idle.set()

    def refuse_new(self) -> None:
        self.stopping = True

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        self.in_hand += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.in_hand -= 1
            if not self.in_hand:
                self._idle.set()

    async def drained(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for every update in hand to be handled; False if some are
        still in hand (their requests are then cut off, and Telegram sends them again)."""
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True


INTAKE_KEY = web.AppKey("intake", Intake)


def create_web_app(
    application: Application,  # type: ignore[type-arg]
    metrics: Metrics,
    *,
    webhook_path: str | None = None,
    secret: str | None = None,
    fetching: Callable[[], bool] | None = None,
) -> web.Application:
    """``fetching``: whether long polling runs (serve's Poller); by default PTB's Updater."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[APPLICATION_KEY] = application
    app[INTAKE_KEY] = Intake()
    app[METRICS_KEY] = metrics
    app[POLLING_KEY] = webhook_path is None
    if fetching is not None:
        app[FETCHING_KEY] = fetching
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    if webhook_path is not None:
        if not secret:
            raise ValueError("webhook mode needs a secret")
        app[SECRET_KEY] = secret
        app.router.add_post(webhook_path, webhook)
    return app


def _state(request: web.Request) -> AppState:
    state: AppState = request.app[APPLICATION_KEY].bot_data[STATE_KEY]
    return state


async def _database_answers(state: AppState) -> bool:
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), state.sessions() as session:
            await session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("health check: the database does not answer (%s)", type(exc).__name__)
        return False
    return True


def _bot_runs(request: web.Request) -> bool:
    application = request.app[APPLICATION_KEY]
    if not application.running:
        return False
    if request.app[POLLING_KEY]:
        if FETCHING_KEY in request.app:
            return request.app[FETCHING_KEY]()
        return application.updater is not None and application.updater.running
    return True


async def healthz(request: web.Request) -> web.Response:
    bot = _bot_runs(request)
    database = await _database_answers(_state(request))
    body: dict[str, Any] = {
        "bot": "ok" if bot else "down",
        "database": "ok" if database else "down",
    }
    return web.json_response(body, status=200 if bot and database else 503)


async def prometheus(request: web.Request) -> web.Response:
    metrics = request.app[METRICS_KEY]
    state = _state(request)
    metrics.support_contacts.set(len(state.settings.support_contacts))
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS), state.sessions() as session:
            metrics.set_people(await stats.people_by_state(session, state.now()))
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        # The other figures still count; people by state keeps its last value.
        log.warning("metrics: people by state not read (%s)", type(exc).__name__)
        metrics.database_up.set(0)
    else:
        metrics.database_up.set(1)
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE})


def intake_of(app: web.Application) -> Intake:
    return app[INTAKE_KEY]


def _secret_matches(given: str, secret: str) -> bool:
    # A header may hold any byte; aiohttp hands undecodable ones over as surrogates.
    try:
        given_bytes = given.encode("utf-8", "surrogateescape")
    except UnicodeError:
        return False
    return hmac.compare_digest(given_bytes, secret.encode())


def _update_from(body: bytes, application: Application) -> Update | None:  # type: ignore[type-arg]
    """The Update in a POST's body, or None (logged once, by kind only: never the content)."""
    try:
        data = json.loads(body)
        if not isinstance(data, dict):
            raise TypeError(f"a JSON {type(data).__name__}, not an object")
        update = Update.de_json(data, application.bot)
        if update is None:
            raise TypeError("empty")
        # PTB does not check types; the number is stored (telegram/once.py), so it must be one.
        if not isinstance(update.update_id, int) or isinstance(update.update_id, bool):
            raise TypeError("update_id is not a number")
    # Anything at all: the body is a stranger's, and what the parsers raise on it is not a
    # closed list (ValueError, TypeError, KeyError, RecursionError for deep nesting, ...).
    except Exception as exc:
        log.warning("webhook: a body that is not an update was refused (%s)", type(exc).__name__)
        return None
    return update


async def webhook(request: web.Request) -> web.Response:
    if not _secret_matches(request.headers.get(SECRET_HEADER, ""), request.app[SECRET_KEY]):
        # Not Telegram: nothing is read, nothing changes. No detail in the log (no ids).
        log.warning("webhook: a request without the right secret was refused")
        return web.Response(status=403)
    intake = request.app[INTAKE_KEY]
    if intake.stopping:
        # Not taken: Telegram sends it again, to another instance or to this one restarted.
        return web.Response(status=503, headers={"Retry-After": "1"})
    application = request.app[APPLICATION_KEY]
    update = _update_from(await request.read(), application)
    if update is None:
        return web.Response(status=400)
    with intake.holding():
        try:
            # Handlers' own errors end in handlers/errors.on_error (the person is answered);
            # what escapes here means the update was not handled.
            await application.update_processor.process_update(
                update, application.process_update(update)
            )
        except Exception as exc:
            log.error(
                "webhook: update_id=%s not handled (%s); Telegram sends it again",
                update.update_id,
                type(exc).__name__,
            )
            return web.Response(status=500)
    return web.Response(status=200)
