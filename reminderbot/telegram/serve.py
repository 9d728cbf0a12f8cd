"""``reminderbot run``'s life: start, serve until a stop signal or a fatal answer, stop cleanly.

The order follows python-telegram-bot's own ``run_polling`` (initialize, post_init, fetch
updates, start; then the reverse), with three changes it cannot make:

- the bot's own HTTP server (health, metrics, webhook) runs alongside;
- long polling is our own small loop (``Poller``) instead of PTB's Updater, which tells Telegram
  an update was received (the next getUpdates' offset) before handling it: here an update is
  confirmed only once it and every update before it were handled, so a crash loses nothing
  fetched, and the repeat a restart fetches again changes nothing (``telegram/once.py``); a 409
  Conflict, which means that another process polls with the same token, stops this one
  instead of fighting it forever;
- stopping is bounded (``STOP_BUDGET``, under Docker's 10 s): new webhook updates get 503 at
  once, updates in hand may finish, then the Application stops; what cannot finish in time is
  handed back (Telegram sends the update again, a claimed reminder waits for its lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.error import BadRequest, Conflict, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from reminderbot import __version__
from reminderbot.config import Settings
from reminderbot.telegram.app import ALLOWED_UPDATES, begin_shutdown, metrics_of
from reminderbot.telegram.web import create_web_app, intake_of

log = logging.getLogger("reminderbot")

CONFLICT = (
    "Telegram says another process is already fetching updates with this token (409 Conflict); "
    "run one polling process per bot, or set REMINDERBOT_WEBHOOK_URL to run several instances."
)

# Seconds Telegram holds a getUpdates open while there is nothing new (PTB's default too).
POLL_SECONDS = 10
# While an update is still being handled, Telegram would hand it back at once: ask again after
# this pause (or sooner, when one finishes), so others' updates keep flowing meanwhile.
IN_HAND_PAUSE = 0.5
# A failed getUpdates is tried again after this, growing by half each time up to the cap.
RETRY_FIRST_SECONDS, RETRY_MOST_SECONDS = 1.0, 30.0

# Stopping takes at most STOP_SECONDS in all, under the 10 s Docker and compose give before
# SIGKILL; each step has its own cap within what is left.
STOP_SECONDS = 8.5
IN_HAND_SECONDS = 3.5  # updates being handled may finish (their 200 or their confirmation)
APPLICATION_SECONDS = 2.5  # the Application: the reminder run in progress, other jobs
CLOSING_SECONDS = 1.0  # each of: the HTTP server, the Bot API client, the database


class ServeError(Exception):
    """Start-up or running cannot go on; the message is one sentence for the operator."""


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


class Poller:
    """Long polling that tells Telegram an update arrived only once it has been handled.

    getUpdates' ``offset`` confirms every update below it. It is set to the oldest update still
    being handled (or one past the newest when none is), so a process killed at any moment
    is sent again whatever it had not finished. Updates are handled side by side through the
    Application's update processor, one person's in order, as webhook updates are.
    """

    def __init__(
        self,
        application: Application,  # type: ignore[type-arg]
        on_conflict: Callable[[], None],
    ) -> None:
        self.application = application
        self.on_conflict = on_conflict
        self.running = False
        self.conflicted = False
        self._in_hand: dict[int, asyncio.Task[None]] = {}
        self._newest = 0  # the newest update_id taken in hand
        self._told: int | None = None  # the offset Telegram last received

    def _offset(self) -> int | None:
        if self._in_hand:
            return min(self._in_hand)
        return self._newest + 1 if self._newest else None

    async def run(self) -> None:
        """Fetch and handle until cancelled or told of a conflict; never raises otherwise."""
        bot = self.application.bot
        self.running = True
        delay = RETRY_FIRST_SECONDS
        webhook_removed = False
        try:
            while True:
                offset = self._offset()
                try:
                    if not webhook_removed:
                        # A webhook set before (webhook mode) would make getUpdates fail.
                        await bot.delete_webhook(drop_pending_updates=False)
                        webhook_removed = True
                    try:
                        updates = await bot.get_updates(
                            offset=offset,
                            timeout=0 if self._in_hand else POLL_SECONDS,
                            allowed_updates=ALLOWED_UPDATES,
                        )
                    except TelegramError:
                        raise
                    except Exception:  # an update python-telegram-bot cannot read
                        updates = await self._readable_updates(offset)
                except Conflict:
                    # Stop at once: one more getUpdates (a retry, or a confirmation on the way
                    # out) would end the other process's poll in turn.
                    self.conflicted = True
                    self.on_conflict()
                    return
                except TelegramError as exc:
                    log.warning("fetching updates failed (%s); retrying", type(exc).__name__)
                    wait = _seconds(exc.retry_after) if isinstance(exc, RetryAfter) else delay
                    await asyncio.sleep(wait)
                    delay = min(delay * 1.5, RETRY_MOST_SECONDS)
                    continue
                delay = RETRY_FIRST_SECONDS
                self._told = offset
                for update in updates:
                    if update.update_id > self._newest:  # not one already in hand
                        self._take(update)
                if self._in_hand:
                    await asyncio.wait(
                        self._in_hand.values(),
                        timeout=IN_HAND_PAUSE,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
        finally:
            self.running = False

    async def _readable_updates(self, offset: int | None) -> list[Update]:
        """The same updates again, as Telegram's JSON, read one by one: an update that cannot
        be read (a field of a shape this library does not know) is logged by its number and
        skipped, and those around it are handled. Otherwise the polling would fail on it
        forever, and with it the bot."""
        bot = self.application.bot
        with warnings.catch_warnings():
            # It asks for get_updates, which is what could not read them.
            warnings.simplefilter("ignore", PTBUserWarning)
            raw = await bot.do_api_request(
                "getUpdates",
                api_kwargs={"offset": offset, "timeout": 0, "allowed_updates": ALLOWED_UPDATES},
            )
        readable = []
        for data in raw if isinstance(raw, list) else []:
            update_id = data.get("update_id") if isinstance(data, dict) else None
            try:
                readable.append(Update.de_json(data, bot))
            except Exception as exc:
                # The number and the error's type only: the update holds a person's words.
                log.error(
                    "update_id=%s could not be read (%s); skipped", update_id, type(exc).__name__
                )
                if isinstance(update_id, int) and update_id > self._newest:
                    self._newest = update_id  # confirmed with the next fetch
        return readable

    def _take(self, update: Update) -> None:
        self._newest = update.update_id
        task = asyncio.create_task(self._handle(update))
        self._in_hand[update.update_id] = task
        task.add_done_callback(lambda _: self._in_hand.pop(update.update_id, None))

    async def _handle(self, update: Update) -> None:
        application = self.application
        try:
            await application.update_processor.process_update(
                update, application.process_update(update)
            )
        except Exception as exc:
            # Handlers' own errors end in handlers/errors.on_error; this is anything else.
            log.error("update_id=%s not handled (%s)", update.update_id, type(exc).__name__)

    async def finish(self, deadline: _Deadline) -> None:
        """After the loop ended: let updates in hand finish (bounded), then tell Telegram what
        was handled, so a restart does not fetch it again. What did not finish is not
        confirmed: Telegram hands it out again."""
        if self._in_hand:
            in_hand = list(self._in_hand.values())
            _, pending = await asyncio.wait(in_hand, timeout=deadline.left(IN_HAND_SECONDS))
            if pending:
                log.warning(
                    "stopping: %d update(s) still being handled were cut off; "
                    "Telegram sends them again",
                    len(pending),
                )
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=deadline.left(CLOSING_SECONDS))
        offset = self._offset()
        if self.conflicted or offset is None or offset == self._told:
            return
        with contextlib.suppress(TelegramError, TimeoutError):
            async with asyncio.timeout(deadline.left(CLOSING_SECONDS)):
                await self.application.bot.get_updates(offset=offset, timeout=0, limit=1)


@dataclass
class _Deadline:
    at: float

    def left(self, cap: float) -> float:
        return max(0.1, min(cap, self.at - asyncio.get_running_loop().time()))


def _seconds(wait: object) -> float:
    """RetryAfter's wait: an int or a timedelta, depending on PTB's settings."""
    total = getattr(wait, "total_seconds", None)
    return float(total() if callable(total) else wait)  # type: ignore[arg-type]


async def _bounded(step: str, seconds: float, work: Callable[[], object]) -> None:
    """Run one step of stopping for at most ``seconds``; past that, log and go on."""
    try:
        async with asyncio.timeout(seconds):
            result = work()
            if asyncio.iscoroutine(result):
                await result
    except TimeoutError:
        log.warning("stopping: %s took longer than %.1f s and was cut off", step, seconds)


# A batch of reminders makes tens of thousands of short-lived objects; collecting the youngest
# generation every 700 allocations (Python's default) kept them alive long enough to be moved
# to the old generation, whose collections then held the event loop.
GC_YOUNG_THRESHOLD = 20_000


def freeze_startup_objects() -> None:
    """Leave what start-up made (modules, the words in every language, the settings) out of
    every later garbage collection: otherwise each full collection walks them all again and
    holds the event loop, and with it every paced send, for a tenth of a second or more."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


async def serve(application: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    """Run until SIGINT or SIGTERM; raise ServeError for what the operator must fix."""
    stop = _Stop()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.event.set)

    webhook_url = settings.webhook_url
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    listen = settings.listen_host_port
    poller = None if webhook_url else Poller(application, lambda: stop.fatal(CONFLICT))
    web_app = create_web_app(
        application,
        metrics_of(application),
        webhook_path=webhook_path(webhook_url) if webhook_url else None,
        secret=secret,
        fetching=(lambda: poller.running) if poller is not None else None,
    )
    intake = intake_of(web_app)
    # No server unless asked (REMINDERBOT_LISTEN) or needed (webhook mode): two bots on a host,
    # or a bot beside the sandbox, never fight over a port. Requests still open when the server
    # closes were given IN_HAND_SECONDS already.
    runner = (
        web.AppRunner(web_app, access_log=None, shutdown_timeout=0.5)
        if listen is not None
        else None
    )
    polling: asyncio.Task[None] | None = None
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
            assert poller is not None
            polling = asyncio.create_task(poller.run(), name="reminderbot-polling")
            mode = "long polling"
        await application.start()
        freeze_startup_objects()
        log.info("reminderbot %s started (%s); %s", __version__, mode, served)
        if polling is not None:
            # Polling that ends by itself (a conflict) stops the process too.
            polling.add_done_callback(lambda _: stop.event.set())
        await stop.event.wait()
    finally:
        log.info("reminderbot stopping")
        deadline = _Deadline(loop.time() + STOP_SECONDS)
        # 0. The dispatcher stops between chunks and hands back unsent claims, and no 429 wait
        # holds the stop (telegram/app.begin_shutdown).
        begin_shutdown(application)
        # 1. No new updates: a webhook POST is a 503 from now on (Telegram sends it again).
        intake.refuse_new()
        # 2. Updates in hand may finish: their 200 goes out, or their confirmation to Telegram.
        if polling is not None:
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
        if poller is not None:
            await poller.finish(deadline)
        if not await intake.drained(deadline.left(IN_HAND_SECONDS)):
            log.warning(
                "stopping: %d webhook update(s) still being handled were cut off; "
                "Telegram sends them again",
                intake.in_hand,
            )
        # 3. The Application: nothing waits on its update queue (neither mode puts anything
        # there), so this waits only for the jobs running, the reminder run among them.
        if application.running:
            await _bounded(
                "the reminder run in progress",
                deadline.left(APPLICATION_SECONDS),
                application.stop,
            )
        if runner is not None:
            await _bounded(
                "closing the HTTP server", deadline.left(CLOSING_SECONDS), runner.cleanup
            )
        await _bounded(
            "closing the Bot API client", deadline.left(CLOSING_SECONDS), application.shutdown
        )
        if application.post_shutdown is not None:
            post_shutdown = application.post_shutdown
            await _bounded(
                "releasing the database",
                deadline.left(CLOSING_SECONDS),
                lambda: post_shutdown(application),
            )
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        log.info("reminderbot stopped")
    if stop.reason is not None:
        raise ServeError(stop.reason)
