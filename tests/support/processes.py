"""Running ``reminderbot`` commands as real processes, the way an operator does."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


async def run_reminderbot(
    *args: str, env: dict[str, str], cwd: Path = REPO, seconds: float = 60
) -> tuple[int, str, str]:
    """``python -m reminderbot ARGS`` to its end: exit code, stdout and stderr. A command that
    outlives ``seconds`` is killed (and the test fails on the wait)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reminderbot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=seconds)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def lines_of(text: str) -> list[str]:
    """The non-blank lines of a command's output."""
    return [line for line in text.splitlines() if line.strip()]
