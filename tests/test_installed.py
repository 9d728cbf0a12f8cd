"""Installed anywhere: the wheel, installed into a fresh virtual environment, run from a folder
that has neither config/ nor messages/ (issue 12), and from a checkout with edited words (issue
21). Slow: the module builds and installs the wheel once."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

import aiohttp
import pytest

from reminderbot.sandbox.server import start_server

REPO = Path(__file__).resolve().parents[1]
_PYCACHE = shutil.ignore_patterns("__pycache__", "*.egg-info")


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REMINDERBOT_", "PYTHON"))}
    clean.update(env or {})
    return subprocess.run(
        list(args), cwd=cwd, env=clean, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout, installed into a fresh virtual environment: its bin/."""
    tmp_path = tmp_path_factory.mktemp("installed")
    wheels = tmp_path / "wheels"
    built = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        str(REPO),
        "--no-deps",
        "-q",
        "-w",
        str(wheels),
        cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("reminderbot-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    # pip's own cache makes the dependencies quick after the first time.
    installed = _run(str(env_dir / "bin" / "pip"), "install", "-q", str(wheel), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    return env_dir / "bin"


async def test_the_wheel_runs_from_any_folder(installed: Path, tmp_path: Path) -> None:
    bot = str(installed / "reminderbot")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    checked = _run(bot, "messages", "check", cwd=elsewhere)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "site-packages" in checked.stdout  # the shipped words, not a checkout's

    # Start-up up to the point where Telegram (here the sandbox) refuses the token.
    server = await start_server(token="1:the-right-token")
    try:
        process = await asyncio.create_subprocess_exec(
            bot,
            "run",
            cwd=elsewhere,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("REMINDERBOT_")},
                "REMINDERBOT_TOKEN": "1:a-wrong-token",
                "REMINDERBOT_BOT_API_URL": server.bot_api_url,
                "REMINDERBOT_LISTEN": "127.0.0.1:0",
            },
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        await server.close()
    log = err.decode()
    assert process.returncode == 2, log
    assert "refused the bot token" in log.strip().splitlines()[-1]
    assert "Traceback" not in log and "a-wrong-token" not in log
    # It says which configuration and which words it loaded: the ones in the package.
    shipped = "site-packages/reminderbot/_data"
    assert f"{shipped}/config/reminderbot.toml" in log
    assert f"{shipped}/messages" in log
    assert (elsewhere / "data").is_dir()  # the default SQLite database, in the working folder


EDIT = ("Would you like to begin?", "Would you like to begin? (edited in the checkout)")


async def _sandbox_welcome(bin_dir: Path, cwd: Path, env: dict[str, str]) -> tuple[str, str, str]:
    """Start `reminderbot sandbox` in ``cwd``, say /start as Partner A: what it printed on
    stdout and stderr, and the welcome the page shows."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REMINDERBOT_", "PYTHON"))}
    sandbox = await asyncio.create_subprocess_exec(
        str(bin_dir / "reminderbot"),
        *("sandbox", "--port", "0"),
        cwd=cwd,
        env={**clean, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert sandbox.stdout is not None and sandbox.stderr is not None
    try:
        first = (await asyncio.wait_for(sandbox.stdout.readline(), 60)).decode()
        second = (await asyncio.wait_for(sandbox.stdout.readline(), 10)).decode()
        found = re.search(r"http://127\.0\.0\.1:\d+", first)
        assert found is not None, first
        api = f"{found[0]}/sandbox/api"
        async with aiohttp.ClientSession() as http:
            for _ in range(600):  # the bot is up once it polls
                async with http.get(f"{api}/calls?method=getUpdates") as answer:
                    if await answer.json():
                        break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the bot never polled")
            async with http.post(
                f"{api}/chats/111/messages",
                json={"text": "/start"},
                headers={"X-Sandbox-Control": "1"},
            ) as answer:
                assert answer.status < 300
            welcome = ""
            for _ in range(300):
                async with http.get(f"{api}/chats/111") as answer:
                    shown = [m for m in (await answer.json())["messages"] if m["from_bot"]]
                if shown:
                    welcome = shown[0]["text"]
                    break
                await asyncio.sleep(0.1)
        assert welcome, "the bot never answered /start"
    finally:
        if sandbox.returncode is None:
            sandbox.send_signal(signal.SIGINT)
        await asyncio.wait_for(sandbox.wait(), 30)
    err = (await sandbox.stderr.read()).decode()
    return first + second, err, welcome


async def test_an_edited_checkout_is_checked_and_shown_only_once_named(
    installed: Path, tmp_path: Path
) -> None:
    """After `pip install .`, `messages check`, the sandbox and `run` use one copy of the words
    (the installed one), say which, and tell an editor whose checkout differs what to set
    (issue 21, finding 8)."""
    checkout = tmp_path / "checkout"
    # A checkout: its own reminderbot/ (which `python -m` would import from here) and words.
    shutil.copytree(REPO / "reminderbot", checkout / "reminderbot", ignore=_PYCACHE)
    shutil.copytree(REPO / "messages", checkout / "messages", ignore=_PYCACHE)
    ui = checkout / "messages" / "en" / "ui.yaml"
    assert EDIT[0] in ui.read_text()
    ui.write_text(ui.read_text().replace(*EDIT))
    site = "site-packages/reminderbot/_data/messages"

    checked = _run(str(installed / "reminderbot"), "messages", "check", cwd=checkout)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{site}/ are valid" in checked.stdout
    (note,) = checked.stderr.strip().splitlines()
    assert "REMINDERBOT_MESSAGES_DIR=./messages" in note and site in note

    printed, err, welcome = await _sandbox_welcome(installed, checkout, {})
    assert "Words: " in printed and f"{site}/" in printed
    assert note in err
    assert EDIT[0] in welcome and EDIT[1] not in welcome  # what `run` serves

    # Named, the edit is what is checked and shown.
    named = {"REMINDERBOT_MESSAGES_DIR": "./messages"}
    checked = _run(str(installed / "reminderbot"), "messages", "check", cwd=checkout, env=named)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{(checkout / 'messages').as_posix()}/ are valid" in checked.stdout
    assert checked.stderr == ""
    printed, err, welcome = await _sandbox_welcome(installed, checkout, named)
    assert f"Words: {(checkout / 'messages').as_posix()}/" in printed
    assert EDIT[1] in welcome
