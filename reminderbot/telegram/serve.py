"""``reminderbot run``'s life: start, serve until a stop signal or a fatal answer, stop cleanly.

The order follows python-telegram-bot's own ``run_polling`` (initialize, post_init, fetch
updates, start; then the reverse), with two additions it cannot make: the bot's own HTTP server
(health, metrics, webhook) runs alongside, and a 409 Conflict from getUpdates, which means that
another process polls with the same token, stops this one instead of fighting it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web
from telegram.error import BadRequest, Conflict, Forbidden, TelegramError
from telegram.ext import Application

from reminderbot import __version__
from reminderbot.config import Settings
from reminderbot.telegram.app import ALLOWED_UPDATES, metrics_of
from reminderbot.telegram.web import create_web_app

log = logging.getLogger("reminderbot")

CONFLICT = (
    "Telegram says another process is already fetching updates with this token (409 Conflict); "
    "run one polling process per bot, or set REMINDERBOT_WEBHOOK_URL to run several instances."
)


class ServeError(Exception):
    """Start-up or running cannot go on; the message is one sentence for the operator."""


class _PollingConflict(Exception):
    """Ends the polling task after a 409 Conflict."""


@dataclass
class _Stop:
    event: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str | None = None

    def fatal(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.event.set()


def webhook_path(url: str) -> str:
    return urlsplit(url).path or "/"


async def serve(application: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Run until SIGINT or SIGTERM; raise ServeError for what the operator must fix."""
    stop = _Stop()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.event.set)

    def polling_error(exc: TelegramError) -> None:
        if isinstance(exc, Conflict):
            stop.fatal(CONFLICT)
            # Raising ends PTB's retry loop at once: one more getUpdates (a retry, or the
            # clean-up call on stop) would end the other process's poll in turn.
            raise _PollingConflict from exc
        else:
            # PTB would log a full traceback each time; it retries by itself.
            log.warning("fetching updates failed (%s); retrying", type(exc).__name__)

    webhook_url = settings.webhook_url
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    listen = settings.listen_host_port
    # No server unless asked (REMINDERBOT_LISTEN) or needed (webhook mode): two bots on a host,
    # or a bot beside the sandbox, never fight over a port.
    runner = (
        web.AppRunner(
            create_web_app(
                application,
                metrics_of(application),
                webhook_path=webhook_path(webhook_url) if webhook_url else None,
                secret=secret,
            ),
            access_log=None,
        )
        if listen is not None
        else None
    )
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        served = "no health server (REMINDERBOT_LISTEN is not set)"
        if runner is not None and listen is not None:
            await runner.setup()
            try:
                site = web.TCPSite(runner, *listen)
                await site.start()
            except OSError as exc:
                raise ServeError(
                    f"Cannot listen on {settings.listen} ({exc.strerror}); choose another "
                    "host:port with REMINDERBOT_LISTEN."
                ) from exc
            bound = runner.addresses[0][:2] if runner.addresses else listen
            served = "health and metrics on http://{}:{}".format(*bound)
        if webhook_url:
            try:
                await application.bot.set_webhook(
                    webhook_url, secret_token=secret, allowed_updates=ALLOWED_UPDATES
                )
            except (BadRequest, Forbidden) as exc:
                # Telegram's own words say what is wrong with the address (never the secret).
                raise ServeError(
                    f"Telegram refused setWebhook ({exc.message}); check REMINDERBOT_WEBHOOK_URL: "
                    "a public https:// address on port 443, 80, 88 or 8443."
                ) from exc
            mode = "webhook"
        else:
            assert application.updater is not None
            await application.updater.start_polling(
                allowed_updates=ALLOWED_UPDATES,
                drop_pending_updates=False,
                error_callback=polling_error,
            )
            mode = "long polling"
        await application.start()
        log.info("reminderbot %s started (%s); %s", __version__, mode, served)
        await stop.event.wait()
    finally:
        log.info("reminderbot stopping")
        if application.updater is not None and application.updater.running:
            with contextlib.suppress(_PollingConflict):
                await application.updater.stop()
        if application.running:
            await application.stop()
        if runner is not None:
            await runner.cleanup()
        await application.shutdown()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("reminderbot stopped")
    if stop.reason is not None:
        raise ServeError(stop.reason)
