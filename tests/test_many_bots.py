"""Several bots on one host, each with its own token and database and nothing else set, start
side by side, and the sandbox beside them (issue 19 item 9): in polling mode a bot opens no
port unless REMINDERBOT_LISTEN asks for one."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from reminderbot.sandbox.runner import stop_process
from reminderbot.sandbox.server import RunningServer, start_server

pytestmark = pytest.mark.e2e

BOTS = 3
START_SECONDS = 30.0


def listening_ports(pid: int) -> set[int]:
    """The TCP ports the process listens on, from /proc (Linux)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rpartition(":")[2], 16))
    return ports


@pytest.fixture
async def servers() -> AsyncIterator[list[RunningServer]]:
    """One fake Telegram per bot: each bot has its own token."""
    running = [await start_server() for _ in range(BOTS)]
    try:
        yield running
    finally:
        for server in running:
            await server.close()


def only(server: RunningServer, database: Path) -> dict[str, str]:
    """Token, Bot API URL and database: nothing else of ours is set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERBOT_")}
    env.update(
        REMINDERBOT_TOKEN=server.token,
        REMINDERBOT_BOT_API_URL=server.bot_api_url,
        REMINDERBOT_DATABASE_URL=f"sqlite+aiosqlite:///{database}",
    )
    return env


async def test_bots_with_their_defaults_and_the_sandbox_share_a_host(
    servers: list[RunningServer], tmp_path: Path
) -> None:
    bots = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "reminderbot",
            "run",
            cwd=tmp_path,
            env=only(server, tmp_path / f"bot{n}.sqlite3"),
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        for n, server in enumerate(servers)
    ]
    sandbox: asyncio.subprocess.Process | None = None
    try:
        # Each bot polls its own Telegram (it started), and none has died of a taken port.
        deadline = time.monotonic() + START_SECONDS
        while not all(server.state.calls_to("getUpdates") for server in servers):
            exited = [bot for bot in bots if bot.returncode is not None]
            assert not exited, (await exited[0].stderr.read()).decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "not every bot started"
            await asyncio.sleep(0.1)
        for bot in bots:
            assert listening_ports(bot.pid) == set()

        # The sandbox beside them, on its own default page port unless that is busy on this
        # shared machine (then any free one): it starts its own bot, which opens no port either.
        sandbox = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "reminderbot",
            "sandbox",
            "--port",
            "0",
            cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if not k.startswith("REMINDERBOT_")},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        assert sandbox.stdout is not None
        line = await asyncio.wait_for(sandbox.stdout.readline(), START_SECONDS)
        assert b"Sandbox running" in line
        await asyncio.sleep(2.0)
        assert sandbox.returncode is None
        assert all(bot.returncode is None for bot in bots)
    finally:
        codes = [await stop_process(bot) for bot in bots]
        if sandbox is not None:
            await stop_process(sandbox)
    logs = [(await bot.stderr.read()).decode() for bot in bots if bot.stderr]
    for code, log in zip(codes, logs, strict=True):
        assert code == 0, log
        assert "Cannot listen" not in log and "Traceback" not in log
