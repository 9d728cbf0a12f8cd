"""``reminderbot sandbox``: the local Bot API server, the real bot against it, a throwaway database.

The bot runs as its own process (``python -m reminderbot run``), exactly as in production; only
its environment points it at the sandbox, with a token made for this run. Ctrl-C or SIGTERM stops
both and deletes the database.

Tests start bots the same way: ``start_bot`` for one long-polling process, and
``start_webhook_bots`` for several instances in webhook mode behind the sandbox's round robin.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import webbrowser
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reminderbot.resources import MESSAGES_VARIABLE, unserved_edits_note
from reminderbot.sandbox.server import DueNowHook, RunningServer, start_server
from reminderbot.sandbox.state import SandboxState, default_people

log = logging.getLogger(__name__)

STOP_GRACE_SECONDS = 10.0
# What every webhook instance sets with setWebhook. The sandbox never calls it: it delivers to the
# instances' own addresses, as a load balancer in front of them would. Only its path is used.
PUBLIC_WEBHOOK_URL = "https://reminderbot.invalid/telegram/webhook"


class SandboxError(Exception):
    """Why the sandbox cannot start, in one sentence for the person at the terminal."""


def bot_environment(
    server: RunningServer, database_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment that points ``reminderbot run`` at the sandbox instead of Telegram."""
    return {
        # Quiet unless asked: the terminal is for the page's address, not the bot's chatter.
        "REMINDERBOT_LOG_LEVEL": "WARNING",
        # The bot's own health/metrics server on a free port: never in the way of the page.
        "REMINDERBOT_LISTEN": "127.0.0.1:0",
        **os.environ,
        "REMINDERBOT_BOT_API_URL": server.bot_api_url,
        "REMINDERBOT_TOKEN": server.token,
        "REMINDERBOT_DATABASE_URL": database_url,
        **(extra or {}),
    }


async def start_bot(
    server: RunningServer,
    database_url: str,
    *,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> asyncio.subprocess.Process:
    """``python -m reminderbot run`` against the sandbox; ``env`` adds to its environment and
    ``kwargs`` go to the subprocess."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        # -P: the installed bot, as `reminderbot run` starts it, even from a checkout's folder
        # (where -m would import the checkout's reminderbot/ and read its messages/).
        "-P",
        "-m",
        "reminderbot",
        "run",
        env=bot_environment(server, database_url, env),
        # Its own session: a Ctrl-C reaches only us, and we stop the bot exactly once.
        start_new_session=True,
        **kwargs,
    )


@dataclass
class WebhookBot:
    """One ``reminderbot run`` in webhook mode."""

    process: asyncio.subprocess.Process
    listen: str  # its REMINDERBOT_LISTEN, host:port
    url: str  # where the sandbox POSTs this instance's share of the updates


def free_port() -> int:
    """A port nobody listens on right now (the bot binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def webhook_environment(secret: str, listen: str, public_url: str) -> dict[str, str]:
    return {
        "REMINDERBOT_WEBHOOK_URL": public_url,
        "REMINDERBOT_WEBHOOK_SECRET": secret,
        "REMINDERBOT_LISTEN": listen,
    }


async def start_webhook_bot(
    server: RunningServer,
    database_url: str,
    *,
    secret: str,
    listen: str | None = None,
    public_url: str = PUBLIC_WEBHOOK_URL,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> WebhookBot:
    """One instance in webhook mode, on ``listen`` (default: a free port on 127.0.0.1).

    It is not added to the server's instances: ``start_webhook_bots`` does that, and a restarted
    instance keeps its ``listen`` and so its place.
    """
    listen = listen or f"127.0.0.1:{free_port()}"
    extra = {**webhook_environment(secret, listen, public_url), **(env or {})}
    process = await start_bot(server, database_url, env=extra, **kwargs)
    path = urlsplit(public_url).path or "/"
    return WebhookBot(process=process, listen=listen, url=f"http://{listen}{path}")


async def start_webhook_bots(
    server: RunningServer,
    database_url: str,
    count: int,
    *,
    secret: str | None = None,
    public_url: str = PUBLIC_WEBHOOK_URL,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> list[WebhookBot]:
    """``count`` instances of ``reminderbot run`` in webhook mode, all setting ``public_url``
    with one secret; the server delivers updates to them in turn, skipping any that is down.

    Ready once each has called setWebhook (see ``tests/test_e2e.py``'s ``Sandbox``).
    """
    secret = secret or secrets.token_urlsafe(16)
    listens = [f"127.0.0.1:{free_port()}" for _ in range(count)]
    path = urlsplit(public_url).path or "/"
    # The balancer knows its instances before they come up, as in a deployment.
    server.state.webhook_targets = [f"http://{listen}{path}" for listen in listens]
    server.state.touch()
    return [
        await start_webhook_bot(
            server,
            database_url,
            secret=secret,
            listen=listen,
            public_url=public_url,
            env=env,
            **kwargs,
        )
        for listen in listens
    ]


@dataclass(frozen=True)
class Configured:
    """What the sandbox takes from the settings `reminderbot run` would read here."""

    timezone: str = "UTC"
    words: Path | None = None  # None: the settings are broken, and the bot will say how
    words_note: str | None = None  # the working folder's messages/ is not what is served


def _configured() -> Configured:
    from reminderbot.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError:
        return Configured()
    words = settings.messages_dir.absolute()
    chosen = "messages_dir" in settings.model_fields_set
    note = unserved_edits_note(words, Path.cwd(), chosen=chosen)
    return Configured(settings.default_timezone, words, note)


async def stop_process(process: asyncio.subprocess.Process) -> int:
    """SIGINT first (the bot stops polling and closes cleanly), then SIGKILL if it lingers."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return process.returncode if process.returncode is not None else -1


async def _serve(host: str, port: int, **kwargs: Any) -> RunningServer:
    try:
        return await start_server(host, port, **kwargs)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SandboxError(
                f"Port {port} is already in use on {host}; stop the program using it "
                "or choose another port with --port."
            ) from exc
        raise SandboxError(
            f"The sandbox cannot listen on {host}:{port} ({exc.strerror or type(exc).__name__}); "
            "choose another port with --port."
        ) from exc


async def run_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    open_browser: bool = False,
    display_timezone: str | None = None,
    due_now: Callable[[str], DueNowHook] | None = None,
    languages: Sequence[str] = (),
) -> int:
    """Run until Ctrl-C, SIGTERM or until the bot exits; return 0 when asked to stop, else the
    bot's exit code. Either way the bot is stopped and the temporary database deleted.

    ``due_now``, given the sandbox database URL, returns the page's "make next reminder due
    now" action; without it the page hides that control. ``languages`` are the panes'
    Telegram language codes, in order (English for a pane without one).
    """
    configured = _configured()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    # Both end in the same orderly stop; the default SIGTERM would skip every cleanup.
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        with tempfile.TemporaryDirectory(
            prefix="reminderbot-sandbox-", ignore_cleanup_errors=True
        ) as folder:
            database_url = f"sqlite+aiosqlite:///{Path(folder) / 'sandbox.db'}"
            server = await _serve(
                host,
                port,
                display_timezone=display_timezone or configured.timezone,
                on_due_now=due_now(database_url) if due_now is not None else None,
                state=SandboxState(people=default_people(languages)),
            )
            try:
                return await _run_bot(server, database_url, stop, open_browser, configured)
            finally:
                await server.close()
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)


async def _run_bot(
    server: RunningServer,
    database_url: str,
    stop: asyncio.Event,
    open_browser: bool,
    configured: Configured,
) -> int:
    # The bot shows exactly the words printed here, the ones `reminderbot run` serves.
    words = {} if configured.words is None else {MESSAGES_VARIABLE: str(configured.words)}
    process = await start_bot(server, database_url, env=words)
    try:
        print(f"Sandbox running: open {server.url}/ in your browser (Ctrl-C stops it).", flush=True)
        if configured.words is not None:
            print(
                f"Words: {configured.words.as_posix().rstrip('/')}/, as `reminderbot run` "
                "serves them here.",
                flush=True,
            )
        if configured.words_note is not None:
            print(configured.words_note, file=sys.stderr, flush=True)
        if open_browser:
            webbrowser.open(f"{server.url}/")
        exited = asyncio.ensure_future(process.wait())
        asked = asyncio.ensure_future(stop.wait())
        await asyncio.wait({exited, asked}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (exited, asked):
            waiter.cancel()
        if stop.is_set():
            return 0
        code = process.returncode if process.returncode is not None else -1
        print(f"The bot stopped (exit code {code}), so the sandbox stops too.", file=sys.stderr)
        return code
    finally:
        await stop_process(process)
