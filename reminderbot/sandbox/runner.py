"""``reminderbot sandbox``: the local Bot API server, the real bot against it, a throwaway database.

The bot runs as its own process (``python -m reminderbot run``), exactly as in production; only
its environment points it at the sandbox. Ctrl-C stops both and deletes the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reminderbot.sandbox.server import DueNowHook, RunningServer, start_server
from reminderbot.sandbox.state import BOT_USER

log = logging.getLogger(__name__)

# Telegram's bot id is the number before the colon; keep it equal to the sandbox's bot user.
SANDBOX_TOKEN = f"{BOT_USER['id']}:sandbox-local-only"
STOP_GRACE_SECONDS = 10.0


def bot_environment(server: RunningServer, database_url: str) -> dict[str, str]:
    """The environment that points ``reminderbot run`` at the sandbox instead of Telegram."""
    return {
        # Quiet unless asked: the terminal is for the page's address, not the bot's chatter.
        "REMINDERBOT_LOG_LEVEL": "WARNING",
        **os.environ,
        "REMINDERBOT_BOT_API_URL": server.bot_api_url,
        "REMINDERBOT_TOKEN": SANDBOX_TOKEN,
        "REMINDERBOT_DATABASE_URL": database_url,
    }


async def start_bot(
    server: RunningServer, database_url: str, **kwargs: Any
) -> asyncio.subprocess.Process:
    """``python -m reminderbot run`` against the sandbox; ``kwargs`` go to the subprocess."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reminderbot",
        "run",
        env=bot_environment(server, database_url),
        # Its own session: a Ctrl-C reaches only us, and we stop the bot exactly once.
        start_new_session=True,
        **kwargs,
    )


def _configured_timezone() -> str:
    from reminderbot.config import ConfigError, load_settings

    try:
        return load_settings().default_timezone
    except ConfigError:
        return "UTC"


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


async def run_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    open_browser: bool = False,
    display_timezone: str | None = None,
    due_now: Callable[[str], DueNowHook] | None = None,
) -> int:
    """Run until Ctrl-C or until the bot exits; return the bot's exit code.

    ``due_now``, given the sandbox database URL, returns the page's "make next reminder due
    now" action; without it the page hides that control.
    """
    with tempfile.TemporaryDirectory(prefix="reminderbot-sandbox-") as folder:
        database_url = f"sqlite+aiosqlite:///{Path(folder) / 'sandbox.db'}"
        server = await start_server(
            host,
            port,
            token=SANDBOX_TOKEN,
            display_timezone=display_timezone or _configured_timezone(),
            on_due_now=due_now(database_url) if due_now is not None else None,
        )
        process: asyncio.subprocess.Process | None = None
        try:
            process = await start_bot(server, database_url)
            print(f"Sandbox running: open {server.url}/ in your browser (Ctrl-C stops it).")
            if open_browser:
                webbrowser.open(f"{server.url}/")
            return await process.wait()
        finally:
            if process is not None:
                await stop_process(process)
            await server.close()
