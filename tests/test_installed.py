"""Installed anywhere: the wheel, installed into a fresh virtual environment, run from a folder
that has neither config/ nor messages/ (issue 12). One slow test: it builds and installs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import venv
from pathlib import Path

from reminderbot.sandbox.server import start_server

REPO = Path(__file__).resolve().parents[1]


def _run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("REMINDERBOT_", "PYTHON"))}
    clean.update(env or {})
    return subprocess.run(
        list(args), cwd=cwd, env=clean, capture_output=True, text=True, timeout=300, check=False
    )


async def test_the_wheel_runs_from_any_folder(tmp_path: Path) -> None:
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
    bot = str(env_dir / "bin" / "reminderbot")
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
