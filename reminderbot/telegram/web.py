"""The bot's own HTTP server (``REMINDERBOT_LISTEN``), in both modes.

- ``GET /healthz``: 200 when the bot runs and its database answers, 503 otherwise.
- ``GET /metrics``: the Prometheus text format (see :mod:`reminderbot.metrics`).
- ``POST <the webhook URL's path>``, in webhook mode only: Telegram's updates. A request without
  the matching ``X-Telegram-Bot-Api-Secret-Token`` is refused before anything is read.

python-telegram-bot's own webhook server cannot serve other paths, so this is the custom
server its documentation describes: updates go onto ``application.update_queue``, and the
Application processes them exactly as it does polled ones.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
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


def create_web_app(
    application: Application,  # type: ignore[type-arg]
    metrics: Metrics,
    *,
    webhook_path: str | None = None,
    secret: str | None = None,
) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[APPLICATION_KEY] = application
    app[METRICS_KEY] = metrics
    app[POLLING_KEY] = webhook_path is None
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


async def webhook(request: web.Request) -> web.Response:
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), request.app[SECRET_KEY].encode()):
        # Not Telegram: nothing is read, nothing changes. No detail in the log (no ids).
        log.warning("webhook: a request without the right secret was refused")
        return web.Response(status=403)
    application = request.app[APPLICATION_KEY]
    try:
        data = await request.json()
        update = Update.de_json(data, application.bot)
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("webhook: a body that is not an update was refused (%s)", type(exc).__name__)
        return web.Response(status=400)
    if update is None:
        return web.Response(status=400)
    await application.update_queue.put(update)
    return web.Response(status=200)
