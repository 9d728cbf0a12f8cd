"""``reminderbot run`` as its own process against the sandbox Bot API server (issue 9 and 12):
one polling process per token, and webhook mode with its secret, health and start-up calls."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiohttp
import pytest

from reminderbot.sandbox.runner import bot_environment, stop_process
from reminderbot.sandbox.server import RunningServer
from reminderbot.telegram.app import ALLOWED_UPDATES
from tests.support.harness import catalog

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
A = 111  # the sandbox's Partner A
SECRET = "a-Secret_only-Telegram-knows-123"
T = TypeVar("T")


async def eventually(check: Callable[[], T | None], seconds: float = 20.0) -> T:
    deadline = time.monotonic() + seconds
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_bot(
    server: RunningServer, database: Path, **env: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reminderbot",
        "run",
        cwd=REPO,
        env={
            **bot_environment(server, f"sqlite+aiosqlite:///{database}"),
            "REMINDERBOT_LOG_LEVEL": "INFO",
            "REMINDERBOT_LISTEN": "127.0.0.1:0",
            **env,
        },
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


def start_update(server: RunningServer) -> dict[str, object]:
    """Partner A's /start as Telegram would post it; made here, not queued in the sandbox (which
    would deliver it to the webhook itself, with the right secret)."""
    person = server.state.chats[A].person
    person.started = True
    message = {
        "message_id": 1,
        "from": person.user(),
        "chat": person.chat(),
        "date": int(time.time()),
        "text": "/start",
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }
    return {"update_id": 1, "message": message}


async def health(port: int) -> int:
    process = await asyncio.create_subprocess_exec(
        *dockerfile_healthcheck(),
        env={**bot_environment_base(), "REMINDERBOT_LISTEN": f"0.0.0.0:{port}"},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 30)


def dockerfile_healthcheck() -> list[str]:
    """The HEALTHCHECK's CMD from the Dockerfile, run with this interpreter."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("HEALTHCHECK"))
    command = json.loads(line.split(" CMD ", 1)[1])
    assert command[0] == "reminderbot"
    return [sys.executable, "-m", "reminderbot", *command[1:]]


def bot_environment_base() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REMINDERBOT_")}


# ---------------------------------------------------------------------- issue 9: 409 Conflict
async def test_a_polling_process_told_another_polls_stops_with_one_sentence(
    server: RunningServer, tmp_path: Path
) -> None:
    first = await start_bot(server, tmp_path / "first.db")
    second: asyncio.subprocess.Process | None = None
    try:
        await eventually(lambda: server.state.calls_to("getUpdates"))
        # Long polling removes any webhook first (README: back from webhook mode).
        assert server.state.calls_to("deleteWebhook", ok=True)
        polls = len(server.state.calls_to("getUpdates"))
        second = await start_bot(server, tmp_path / "second.db")
        # Telegram ends the older poll with 409; the first process stops, the second stays.
        _, err = await asyncio.wait_for(first.communicate(), 30)
        assert first.returncode == 2
        log = err.decode()
        assert "Traceback" not in log
        last = log.strip().splitlines()[-1]
        assert "409 Conflict" in last and "REMINDERBOT_WEBHOOK_URL" in last
        assert len([line for line in log.splitlines() if "Conflict" in line]) == 1
        assert second.returncode is None
        # The one that stopped did not end the other's poll on its way out: the second's long
        # poll is still open (or answered), and only one 409 was ever given.
        await asyncio.sleep(2.0)
        assert second.returncode is None
        calls = server.state.calls_to("getUpdates")
        assert len(calls) > polls
        assert sum(1 for call in calls if call.status == 409) == 1
        assert calls[-1].status in (0, 200)
    finally:
        for process in (first, second):
            if process is not None:
                await stop_process(process)


# ---------------------------------------------------------------------- issue 12: webhook mode
async def test_webhook_mode_sets_the_webhook_serves_it_and_refuses_a_wrong_secret(
    server: RunningServer, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hook = f"{base}/telegram/updates"
    bot = await start_bot(
        server,
        tmp_path / "bot.db",
        REMINDERBOT_WEBHOOK_URL=hook,
        REMINDERBOT_WEBHOOK_SECRET=SECRET,
        REMINDERBOT_LISTEN=f"127.0.0.1:{port}",
        REMINDERBOT_LOG_FORMAT="json",
    )
    try:
        (call,) = await eventually(lambda: server.state.calls_to("setWebhook", ok=True))
        assert call.params["url"] == hook
        assert call.params["secret_token"] == SECRET
        allowed = call.params["allowed_updates"]  # form-encoded: JSON text
        assert sorted(json.loads(allowed) if isinstance(allowed, str) else allowed) == sorted(
            ALLOWED_UPDATES
        )
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                with_health = await http.get(f"{base}/healthz")
                if with_health.status == 200:
                    break
                await asyncio.sleep(0.05)
            assert with_health.status == 200
            # The Docker image's HEALTHCHECK command, outside a container.
            assert await health(port) == 0
            assert not server.state.calls_to("getUpdates")  # no polling in webhook mode

            update = start_update(server)
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
                refused = await http.post(hook, json=update, headers=headers)
                assert refused.status in (401, 403)
            await asyncio.sleep(2.0)
            assert not server.state.calls_to("sendMessage")  # nothing happened

            accepted = await http.post(
                hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
            )
            assert accepted.status == 200
        consent_yes = catalog().text("buttons.consent_yes", "en")
        await eventually(
            lambda: any(
                c.chat_id == A and consent_yes in json.dumps(c.params, ensure_ascii=False)
                for c in server.state.calls_to("sendMessage", ok=True)
            )
        )
    finally:
        code = await stop_process(bot)
        err = (await bot.stderr.read()).decode() if bot.stderr else ""
    assert code == 0, err
    assert await health(port) == 1  # nothing answers any more
    # Replicas share the webhook: one stopping never removes it for the others.
    assert not server.state.calls_to("deleteWebhook")
    assert SECRET not in err and server.token not in err
    # One JSON object per line, with start and stop lines that carry no ids.
    messages = [json.loads(line)["message"] for line in err.splitlines()]
    assert any(m.startswith("reminderbot ") and "started (webhook)" in m for m in messages)
    assert messages[-1] == "reminderbot stopped"
    assert not [m for m in messages if re.search(rf"\b{A}\b", m)]


async def test_a_refused_webhook_stops_start_up_with_one_sentence(
    server: RunningServer, tmp_path: Path
) -> None:
    server.state.add_fault("chat_not_found", method="setWebhook")  # any 400 from Telegram
    bot = await start_bot(
        server,
        tmp_path / "bot.db",
        REMINDERBOT_WEBHOOK_URL="https://bot.example.org/telegram/updates",
        REMINDERBOT_WEBHOOK_SECRET=SECRET,
    )
    _, err = await asyncio.wait_for(bot.communicate(), 60)
    log = err.decode()
    assert bot.returncode == 2, log
    assert "Traceback" not in log
    last = log.strip().splitlines()[-1]
    assert "REMINDERBOT_WEBHOOK_URL" in last and "setWebhook" in last
    assert SECRET not in log
