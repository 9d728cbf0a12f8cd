"""``reminderbot run`` reads the words once and still tells apart words that are broken from
words that no longer match the code."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.test_config_cli import REPO, assert_one_clear_sentence, run_cli


def words_with(tmp_path: Path, old: str, new: str) -> dict[str, str]:
    messages = tmp_path / "messages"
    shutil.copytree(REPO / "messages", messages)
    ui = messages / "en" / "ui.yaml"
    text = ui.read_text(encoding="utf-8")
    assert old in text
    ui.write_text(text.replace(old, new, 1), encoding="utf-8")
    return {
        "REMINDERBOT_TOKEN": "1:x",
        "REMINDERBOT_MESSAGES_DIR": str(messages),
        "REMINDERBOT_BOT_API_URL": "http://127.0.0.1:9/bot",
        "REMINDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3",
    }


def test_words_that_no_longer_match_the_code_stop_start_up(tmp_path: Path) -> None:
    env = words_with(tmp_path, "from {practice_name} for", "from {practise_name} for")
    result = run_cli("run", cwd=tmp_path, env=env)
    assert_one_clear_sentence(result, "don't match the code", "practise_name")
    assert not (tmp_path / "x.sqlite3").exists()  # stopped before the database


def test_broken_words_stop_start_up_as_not_valid(tmp_path: Path) -> None:
    env = words_with(tmp_path, "from {practice_name} for", "from {practice_name for")
    result = run_cli("run", cwd=tmp_path, env=env)
    assert_one_clear_sentence(result, "are not valid", "braces")
