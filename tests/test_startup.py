"""What ``reminderbot run`` does before it is ready, kept small: start-up is measured by
``python -m tests.bench.app_bench`` (target <= 2 s); these tests keep its big costs away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reminderbot.storage.migrate import HEAD, head_revision, is_at_head, upgrade
from tests.support import databases


def test_the_bot_starts_without_importing_the_chart_library() -> None:
    """Matplotlib (with numpy) cost most of a second of every start; only /checkins' picture
    needs it, so it is imported at the first drawing."""
    script = (
        "import sys\n"
        "import reminderbot.cli, reminderbot.telegram.app, reminderbot.telegram.serve\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'numpy'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_head_names_the_newest_migration() -> None:
    assert head_revision() == HEAD, (
        f"migrate.HEAD is {HEAD!r} but the newest migration is {head_revision()!r}: set HEAD to it"
    )


async def test_a_database_is_at_head_only_with_every_migration(
    database_kind: str, tmp_path: Path
) -> None:
    async with databases.empty_database(database_kind, tmp_path) as database:
        engine = database.engine()
        try:
            assert not await is_at_head(engine)  # no tables at all
            await upgrade(engine, "0003")
            assert not await is_at_head(engine)
            await upgrade(engine)
            assert await is_at_head(engine)
        finally:
            await engine.dispose()


def test_starting_on_an_up_to_date_database_needs_no_alembic(tmp_path: Path) -> None:
    """The first start migrates a new database; later starts read one row and import nothing
    of Alembic (a fifth of a second)."""
    script = (
        "import asyncio, sys\n"
        "from reminderbot.cli import _upgrade\n"
        "from reminderbot.storage import crypto, keys\n"  # as `run` loads them first
        "crypto.use(keys.load_keys(None, None, sys.argv[1]).keyring)\n"
        "print(asyncio.run(_upgrade(sys.argv[1])), 'alembic' in sys.modules)\n"
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    runs = [
        subprocess.run(
            [sys.executable, "-c", script, url], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(2)
    ]
    assert runs == [[HEAD, "True"], [HEAD, "False"]]
