"""The dispatcher at a real process's edges, against the sandbox server: a Telegram outage
around the due minute, and SIGTERM while Telegram holds the bot back with a 429."""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from reminderbot.sandbox.runner import free_port, start_bot, stop_process
from reminderbot.sandbox.state import FaultKind, OutageMode
from reminderbot.sandbox.state import Person as SandboxPerson
from reminderbot.storage.db import create_engine
from tests.bench.dispatch_bench import add_people
from tests.support.relay import Relay
from tests.test_e2e import Sandbox, eventually

pytestmark = pytest.mark.e2e

PEOPLE = 12
FIRST_CHAT = 10_000_001  # add_people gives people 1..N the chats 10_000_001..
CHATS = [FIRST_CHAT + i for i in range(PEOPLE)]


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox.open(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}") as running:
        for chat in CHATS:
            running.state.add_person(
                SandboxPerson(user_id=chat, first_name=f"P{chat}", label=f"P{chat}", started=True)
            )
        yield running


def reminders_per_chat(sandbox: Sandbox) -> Counter[int]:
    return Counter(
        int(call.chat_id)
        for call in sandbox.state.calls_to("sendMessage", ok=True)
        if call.chat_id is not None and int(call.chat_id) in CHATS
    )


async def due_soon(sandbox: Sandbox, seconds: float) -> None:
    engine = create_engine(sandbox.database_url)
    try:
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=seconds)
        await add_people(engine, PEOPLE, due)
    finally:
        await engine.dispose()


async def gauges(listen: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(f"http://{listen}/metrics") as answer:
        page = await answer.text()
    return {
        name: float(value)
        for name, value in re.findall(r"^(reminderbot_\w+) (\S+)$", page, re.MULTILINE)
    }


async def test_a_telegram_outage_around_the_due_minute_loses_and_doubles_nothing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """15 s of 502 pages from Telegram's gateway, then 10 s of refused connections, around
    the due minute: each reminder arrives exactly once, within a minute of the recovery."""
    relay = Relay("127.0.0.1", int(sandbox.server.url.rsplit(":", 1)[1]))
    await relay.start()
    listen = f"127.0.0.1:{free_port()}"
    api_url = sandbox.server.bot_api_url.replace(
        sandbox.server.url, f"http://127.0.0.1:{relay.port}"
    )
    log_path = tmp_path / "bot.log"
    with log_path.open("wb") as log:
        process = await start_bot(
            sandbox.server,
            sandbox.database_url,
            env={
                "REMINDERBOT_BOT_API_URL": api_url,
                "REMINDERBOT_LISTEN": listen,
                "REMINDERBOT_TICK_SECONDS": "0.2",
            },
            stderr=log,
        )
        try:
            polls = len(sandbox.state.calls_to("getUpdates"))
            await eventually(lambda: len(sandbox.state.calls_to("getUpdates")) > polls, 30)

            sandbox.state.add_fault(
                FaultKind.OUTAGE, count=None, duration=15, mode=OutageMode.BAD_GATEWAY
            )
            await due_soon(sandbox, seconds=3)
            await asyncio.sleep(10)
            # The operator sees it: this process sends, and a reminder is overdue.
            seen = await gauges(listen)
            assert seen["reminderbot_sending_leader"] == 1
            assert seen["reminderbot_oldest_overdue_seconds"] >= 5
            assert reminders_per_chat(sandbox) == {}
            await asyncio.sleep(5)
            await relay.refuse()  # the gateway's pages end; connections are refused instead
            await asyncio.sleep(10)
            assert reminders_per_chat(sandbox) == {}
            await relay.restore()
            recovered = time.monotonic()

            await eventually(lambda: len(reminders_per_chat(sandbox)) == PEOPLE, seconds=60)
            assert time.monotonic() - recovered <= 60
            await asyncio.sleep(3)  # later ticks send nothing more
            assert reminders_per_chat(sandbox) == dict.fromkeys(CHATS, 1)
            assert (await gauges(listen))["reminderbot_oldest_overdue_seconds"] == 0
        finally:
            code = await stop_process(process)
            await relay.close()
    assert code == 0
    output = log_path.read_text()
    # One line said Telegram was out of reach; PTB's traceback per 502 page is not there.
    assert output.count("Bot API is out of reach") == 1, output
    assert "Can not load invalid JSON" not in output
    assert "Traceback" not in output


async def test_sigterm_with_a_429_pending_exits_within_10_s_and_the_rest_go_out_once(
    sandbox: Sandbox,
) -> None:
    state = sandbox.state
    await sandbox.start_bot()
    # Telegram holds every send back for 30 s at a time.
    state.add_fault(
        FaultKind.RETRY_AFTER, method="sendMessage", count=None, duration=300, retry_after=30
    )
    await due_soon(sandbox, seconds=1)
    await eventually(
        lambda: any(c.status == 429 for c in state.calls_to("sendMessage")), seconds=20
    )
    assert sandbox.process is not None
    process, sandbox.process = sandbox.process, None
    asked = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = await asyncio.wait_for(process.wait(), 15)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    took = time.monotonic() - asked
    assert code == 0
    assert took <= 10, f"the bot took {took:.1f} s to stop"
    assert reminders_per_chat(sandbox) == {}

    # The next start sends what the stopped one had handed back, once each.
    state.clear_faults()
    await sandbox.start_bot()
    await eventually(lambda: len(reminders_per_chat(sandbox)) == PEOPLE, seconds=30)
    await asyncio.sleep(3)
    assert reminders_per_chat(sandbox) == dict.fromkeys(CHATS, 1)
