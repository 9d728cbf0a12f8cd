"""`reminderbot messages check` knows the code: every key the code asks for is in messages/, with
the placeholders the code fills in, and nothing else.

Each test copies the shipped messages/ to a temporary folder, breaks it the way an editor might,
runs the real command, and looks for the `file: key: reason` line the editor would read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
UI_FILE = "messages/en/ui.yaml"

UI = dict[str, Any]


def run_check(messages: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "reminderbot", "messages", "check", "--dir", messages.name],
        cwd=messages.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def broken_copy(tmp_path: Path, edit: Callable[[UI], None]) -> Path:
    """A copy of the shipped messages/ with ui.yaml edited by ``edit``."""
    messages = tmp_path / "messages"
    shutil.copytree(REPO / "messages", messages)
    ui_path = messages / "en" / "ui.yaml"
    ui = yaml.safe_load(ui_path.read_text(encoding="utf-8"))
    edit(ui)
    ui_path.write_text(yaml.safe_dump(ui, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return messages


def problem_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stdout.splitlines()


def assert_line(lines: list[str], key: str, *parts: str) -> str:
    prefix = f"{UI_FILE}: {key}: "
    found = [line for line in lines if line.startswith(prefix) and all(p in line for p in parts)]
    assert found, f"no line {prefix}... with {parts} in:\n" + "\n".join(lines)
    return found[0]


def test_shipped_messages_pass_and_say_so() -> None:
    result = run_check(REPO / "messages")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("The words in messages/ are valid"), result.stdout


def test_misspelled_placeholder_fails_with_a_suggestion(tmp_path: Path) -> None:
    def edit(ui: UI) -> None:
        assert "{until}" in ui["pause"]["done_until"]
        ui["pause"]["done_until"] = ui["pause"]["done_until"].replace("{until}", "{untl}")

    lines = problem_lines(run_check(broken_copy(tmp_path, edit)))
    assert_line(lines, "pause.done_until", "{untl}", "not fill", "did you mean {until}")
    assert_line(lines, "pause.done_until", "{until}", "the text has no {until}")


def test_unknown_placeholder_fails(tmp_path: Path) -> None:
    def edit(ui: UI) -> None:
        ui["onboarding"]["consented"] += " {mood}"

    lines = problem_lines(run_check(broken_copy(tmp_path, edit)))
    line = assert_line(lines, "onboarding.consented", "{mood}", "not fill")
    assert "handlers/onboarding.py:" in line  # where the code asks for it


def test_deleted_key_fails_and_names_where_the_code_asks_for_it(tmp_path: Path) -> None:
    def edit(ui: UI) -> None:
        del ui["pause"]["resumed"]

    lines = problem_lines(run_check(broken_copy(tmp_path, edit)))
    assert_line(lines, "pause.resumed", "missing", "reminderbot/telegram/handlers/pausing.py:")


@pytest.mark.parametrize(
    "key",
    [
        "buttons.mood_open",  # f"buttons.mood_{mood.value}", from the Mood enum
        "buttons.quiet_22_07",  # from QUIET_PRESETS, with '-' turned into '_'
        "buttons.audience_involved_partner",  # for a in Audience
        "commands.unpair",  # for name in MENU_COMMANDS
        "sharing.partner_checked_in.need_space",  # notice.mood.value: named in KEY_FAMILIES
        "stop.confirm",  # f"{topic}.confirm", topic from the callers
        "history.months.may",  # MONTH_KEYS[day.month - 1]
    ],
)
def test_deleted_key_of_a_family_built_at_run_time_fails(tmp_path: Path, key: str) -> None:
    def edit(ui: UI) -> None:
        *sections, name = key.split(".")
        for section in sections:
            ui = ui[section]
        del ui[name]

    lines = problem_lines(run_check(broken_copy(tmp_path, edit)))
    assert_line(lines, key, "missing")


def test_unused_key_fails(tmp_path: Path) -> None:
    def edit(ui: UI) -> None:
        ui["pause"]["resumd"] = ui["pause"]["resumed"]

    lines = problem_lines(run_check(broken_copy(tmp_path, edit)))
    assert_line(lines, "pause.resumd", "not used by the code")


def test_caption_over_1024_characters_fails(tmp_path: Path) -> None:
    def edit(ui: UI) -> None:
        ui["mydata"]["caption"] = "x" * 1025  # sent as a document's caption

    lines = problem_lines(run_check(broken_copy(tmp_path, edit)))
    assert_line(lines, "mydata.caption", "1025", "a caption may have at most 1024")


def test_command_descriptions_must_be_3_to_256_characters(tmp_path: Path) -> None:
    def edit(ui: UI) -> None:
        ui["commands"]["help"] = "x" * 257
        ui["commands"]["stop"] = "No"

    lines = problem_lines(run_check(broken_copy(tmp_path, edit)))
    assert_line(lines, "commands.help", "257", "at most 256")
    assert_line(lines, "commands.stop", "at least 3")


def test_a_key_the_scan_cannot_work_out_is_reported_where_it_is(tmp_path: Path) -> None:
    from reminderbot.content.usage import scan_code

    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        "KINDS = ('a', 'b')\n"
        "\n"
        "def known(state, lang):\n"
        "    return [state.text(f'kind.{k}', lang) for k in KINDS]\n"
        "\n"
        "def unknown(state, row, lang):\n"
        "    return state.text(f'kind.{row.kind}', lang, count=1)\n"
    )
    usage = scan_code(package)
    assert [str(p).split(";")[0] for p in usage.problems] == [
        "pkg/mod.py: line 7: the check can't tell which message key f'kind.{row.kind}' is "
        "(it may be kind.{})"
    ]
    assert usage.used_keys() == {"kind.a", "kind.b"}


def test_the_scan_finds_calls_written_over_lines_and_follows_names_into_other_modules(
    tmp_path: Path,
) -> None:
    """Only modules that may call ``.text(`` are walked (the scan runs at every start); a call
    broken over lines is still one, and an enum in a module without calls is still read."""
    from reminderbot.content.usage import scan_code

    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "kinds.py").write_text(
        "import enum\n\nclass Kind(enum.StrEnum):\n    A = 'a'\n    B = 'b'\n"
    )
    (package / "mod.py").write_text(
        "from pkg.kinds import Kind\n"
        "\n"
        "def each(state, lang):\n"
        "    return [\n"
        "        state\n"
        "        .text(f'kind.{k.value}', lang)\n"
        "        for k in Kind\n"
        "    ]\n"
    )
    (package / "split.py").write_text(
        "def split(catalog, lang):\n    return catalog.text (\n        'split.line', lang\n    )\n"
    )
    usage = scan_code(package)
    assert usage.problems == []
    assert usage.used_keys() == {"kind.a", "kind.b", "split.line"}
    assert [(use.file, use.line) for use in usage.uses] == [("pkg/mod.py", 5), ("pkg/split.py", 2)]


def test_the_bot_refuses_to_start_with_words_that_break_the_code(tmp_path: Path) -> None:
    def edit(ui: UI) -> None:
        ui["pause"]["done_until"] = ui["pause"]["done_until"].replace("{until}", "{untl}")

    messages = broken_copy(tmp_path, edit)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERBOT_")}
    env |= {
        "REMINDERBOT_TOKEN": "1:x",
        "REMINDERBOT_MESSAGES_DIR": str(messages),
        "REMINDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "REMINDERBOT_BOT_API_URL": "http://127.0.0.1:9/bot",  # never reached
    }
    result = subprocess.run(
        [sys.executable, "-m", "reminderbot", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "pause.done_until" in lines[0] and "{untl}" in lines[0]
    assert "reminderbot messages check" in lines[0]
