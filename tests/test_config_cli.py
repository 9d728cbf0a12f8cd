"""The command line and configuration, as an operator meets them."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.cli import build_parser
from reminderbot.config import ConfigError, load_settings
from reminderbot.storage.migrate import current_revision, downgrade, head_revision, upgrade
from reminderbot.storage.models import Base

REPO = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERBOT_")}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "reminderbot", *args],
        cwd=cwd,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_clear_sentence(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    for needle in needles:
        assert needle in lines[0]


def test_run_without_token_stops_with_one_sentence(tmp_path: Path) -> None:
    assert_one_clear_sentence(run_cli("run", cwd=tmp_path), "REMINDERBOT_TOKEN")


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    result = run_cli("run", cwd=tmp_path, env={"REMINDERBOT_CONFIG": str(tmp_path / "nope.toml")})
    assert_one_clear_sentence(result, "REMINDERBOT_CONFIG", "nope.toml")


def test_unreadable_config_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "config.toml"
    folder.mkdir()  # a directory cannot be read as a file, even by root
    result = run_cli("run", cwd=tmp_path, env={"REMINDERBOT_CONFIG": str(folder)})
    assert_one_clear_sentence(result, "config.toml", "cannot be read")


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("practice_name = \n")
    result = run_cli("run", cwd=tmp_path, env={"REMINDERBOT_CONFIG": str(bad)})
    assert_one_clear_sentence(result, "bad.toml", "not valid TOML")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"REMINDERBOT_DEFAULT_TIMEZONE": "Mars/Base"}, "REMINDERBOT_DEFAULT_TIMEZONE"),
        ({"REMINDERBOT_DATABASE_URL": "mysql://x"}, "REMINDERBOT_DATABASE_URL"),
        ({"REMINDERBOT_TICK_SECONDS": "often"}, "REMINDERBOT_TICK_SECONDS"),
        ({"REMINDERBOT_ADMIN_CHAT_IDS": "not-json"}, "REMINDERBOT_ADMIN_CHAT_IDS"),
        ({"REMINDERBOT_BOT_API_URL": "ftp://x"}, "REMINDERBOT_BOT_API_URL"),
    ],
)
def test_invalid_values_name_the_setting(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    result = run_cli("run", cwd=tmp_path, env={"REMINDERBOT_TOKEN": "1:x", **env})
    assert_one_clear_sentence(result, needle)


def test_unknown_key_in_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('pratice_name = "typo"\n')
    with pytest.raises(ConfigError, match="pratice_name"):
        load_settings(path)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.toml"
    path.write_text('practice_name = "From file"\ndatabase_url = "sqlite+aiosqlite:///f.db"\n')
    monkeypatch.setenv("REMINDERBOT_DATABASE_URL", "sqlite+aiosqlite:///env.db")
    monkeypatch.setenv("REMINDERBOT_BOT_API_URL", "http://127.0.0.1:8081/bot")
    settings = load_settings(path)
    assert settings.practice_name == "From file"
    assert settings.database_url == "sqlite+aiosqlite:///env.db"
    assert settings.bot_api_url == "http://127.0.0.1:8081/bot"


def test_shipped_config_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("REMINDERBOT_")]:
        monkeypatch.delenv(key)
    settings = load_settings(REPO / "config" / "reminderbot.toml")
    assert settings.support_contacts
    assert settings.database_url.startswith("sqlite+aiosqlite:///")


def test_the_token_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from reminderbot.logs import RedactToken

    logger = logging.getLogger("test.redact")
    handler_filter = RedactToken("123:SECRET")
    record = logger.makeRecord(
        "x", logging.INFO, __file__, 1, "POST https://api/bot%s/getMe", ("123:SECRET",), None
    )
    handler_filter.filter(record)
    assert "SECRET" not in record.getMessage()
    assert "<token>" in record.getMessage()


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command the parser knows, as the words an operator types ("db", "backup")."""
    found = [path]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _commands(child, (*path, name))
    return found


def test_help_for_every_subcommand(tmp_path: Path) -> None:
    commands = _commands(build_parser())
    assert ("db", "backup") in commands and ("messages", "update") in commands
    for command in commands:
        result = run_cli(*command, "--help", cwd=tmp_path)
        assert result.returncode == 0, command
        assert "usage: reminderbot" in result.stdout


def test_db_upgrade_creates_a_sqlite_database_and_is_idempotent(tmp_path: Path) -> None:
    env = {"REMINDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/x.sqlite3"}
    for _ in range(2):
        result = run_cli("db", "upgrade", cwd=tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        assert f"revision {head_revision()}" in result.stdout
    assert (tmp_path / "data" / "x.sqlite3").exists()


def test_unreachable_database_is_one_sentence(tmp_path: Path) -> None:
    env = {"REMINDERBOT_DATABASE_URL": "postgresql+asyncpg://nobody:secret@127.0.0.1:1/none"}
    result = run_cli("db", "upgrade", cwd=tmp_path, env=env)
    assert_one_clear_sentence(result, "cannot be reached", "REMINDERBOT_DATABASE_URL")
    assert "secret" not in result.stderr


def test_messages_check_passes_on_the_shipped_messages() -> None:
    result = run_cli("messages", "check", cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr


def test_messages_check_fails_with_file_key_and_reason(tmp_path: Path) -> None:
    broken = tmp_path / "messages" / "en"
    broken.mkdir(parents=True)
    (broken / "ui.yaml").write_text((REPO / "messages/en/ui.yaml").read_text())
    content = (REPO / "messages/en/content.yaml").read_text()
    first_id = re.search(r"^  - id: (\S+)", content, re.MULTILINE).group(1)  # type: ignore[union-attr]
    content += (
        f"\n  - id: {first_id}\n    kind: affirmation\n    audience: anyone\n"
        f'    text: "Again."\n    source: "It’s okay if you feel scared."\n'
    )
    (broken / "content.yaml").write_text(content)
    result = run_cli(
        "messages",
        "check",
        "--dir",
        str(tmp_path / "messages"),
        "--article",
        str(REPO / "messages/article.txt"),
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "content.yaml" in result.stdout and first_id in result.stdout


async def test_migrations_from_empty_match_the_models(engine: AsyncEngine) -> None:
    """Migrate from nothing (the fixture's database is migrated from empty) and compare with
    the models: a model change without a migration fails here, on SQLite and PostgreSQL."""
    assert await current_revision(engine) == head_revision()

    def diff(connection: object) -> list[object]:
        context = MigrationContext.configure(connection)  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {"people", "schedules", "deliveries", "checkins"} <= tables


async def test_migrations_downgrade_and_upgrade_again(engine: AsyncEngine) -> None:
    await downgrade(engine, "base")
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert tables <= {"alembic_version"}
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_logging_never_carries_sql_parameters_or_message_texts(level: str) -> None:
    import logging

    from reminderbot.logs import configure

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure(level, "1:token")
        # SQLAlchemy logs statements with their parameters (a note, say) at INFO.
        assert not logging.getLogger("sqlalchemy.engine.Engine").isEnabledFor(logging.INFO)
        assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
        # python-telegram-bot logs update contents at DEBUG.
        assert not logging.getLogger("telegram.ext.Application").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    finally:
        root.handlers[:], level_before = saved
        root.setLevel(level_before)
        for name in ("sqlalchemy", "aiosqlite", "asyncpg", "telegram", "httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_unreachable_bot_api_ends_with_one_sentence_and_no_traceback(tmp_path: Path) -> None:
    env = {
        "REMINDERBOT_TOKEN": "123:abc",
        "REMINDERBOT_BOT_API_URL": "http://127.0.0.1:9/bot",
        "REMINDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3",
    }
    result = run_cli("run", cwd=REPO, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "cannot be reached" in last and "REMINDERBOT_BOT_API_URL" in last
    assert "123:abc" not in result.stderr


# ------------------------------------------------------ issue 12: which file, which flag
def test_missing_config_named_by_the_flag_says_the_flag(tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path / "nope.toml"), "run", cwd=tmp_path)
    assert_one_clear_sentence(result, "--config", str(tmp_path / "nope.toml"))
    assert "REMINDERBOT_CONFIG" not in result.stderr


def test_missing_config_named_by_the_variable_says_the_full_path(tmp_path: Path) -> None:
    missing = tmp_path / "etc" / "reminderbot.toml"
    result = run_cli("run", cwd=tmp_path, env={"REMINDERBOT_CONFIG": str(missing)})
    assert_one_clear_sentence(result, "REMINDERBOT_CONFIG", str(missing))


def test_from_another_folder_the_shipped_config_and_words_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No config/ or messages/ in the working folder: the shipped ones, never silent defaults."""
    for key in [k for k in os.environ if k.startswith("REMINDERBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    shipped = load_settings(REPO / "config" / "reminderbot.toml")
    assert settings.practice_name == shipped.practice_name
    assert settings.support_contacts == shipped.support_contacts
    assert (settings.messages_dir / "en" / "ui.yaml").is_file()


def test_messages_check_from_another_folder_checks_the_shipped_words(tmp_path: Path) -> None:
    result = run_cli("messages", "check", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_messages_dir_variable_points_at_edited_words(tmp_path: Path) -> None:
    result = run_cli(
        "messages", "check", cwd=tmp_path, env={"REMINDERBOT_MESSAGES_DIR": str(tmp_path / "w")}
    )
    assert result.returncode == 1
    assert str(tmp_path / "w") in result.stdout + result.stderr


# ------------------------------------------------------ issue 9: settings bounds
@pytest.mark.parametrize("value", ["-PT1H", "PT0S"])
def test_stale_after_must_be_positive(tmp_path: Path, value: str) -> None:
    result = run_cli(
        "run", cwd=tmp_path, env={"REMINDERBOT_TOKEN": "1:x", "REMINDERBOT_STALE_AFTER": value}
    )
    assert_one_clear_sentence(result, "REMINDERBOT_STALE_AFTER")


def test_support_contacts_that_overflow_help_stop_start_up(tmp_path: Path) -> None:
    """Eight long contacts fit each field's bound, but /help would pass Telegram's 4096."""
    contacts = [{"name": "N" * 200, "contact": "C" * 300} for _ in range(8)]
    env = {
        "REMINDERBOT_TOKEN": "1:x",
        "REMINDERBOT_SUPPORT_CONTACTS": json.dumps(contacts),
        "REMINDERBOT_BOT_API_URL": "http://127.0.0.1:9/bot",
        "REMINDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3",
    }
    result = run_cli("run", cwd=tmp_path, env=env)
    assert_one_clear_sentence(result, "support_contacts", "4096")


def test_too_many_support_contacts_are_refused(tmp_path: Path) -> None:
    contacts = [{"name": "N", "contact": "C"} for _ in range(30)]
    env = {"REMINDERBOT_TOKEN": "1:x", "REMINDERBOT_SUPPORT_CONTACTS": json.dumps(contacts)}
    assert_one_clear_sentence(run_cli("run", cwd=tmp_path, env=env), "REMINDERBOT_SUPPORT_CONTACTS")


def test_config_named_by_absolute_path_works_from_another_folder(tmp_path: Path) -> None:
    """Issue 12: REMINDERBOT_CONFIG with an absolute path used to fail on its relative words."""
    env = {"REMINDERBOT_CONFIG": str(REPO / "config" / "reminderbot.toml")}
    result = run_cli("messages", "check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


# ------------------------------------------------------ issue 19 item 10: the config battery
NOT_UTF8 = 'practice_name = "Caf\xe9"\n'.encode("latin-1")


@pytest.mark.parametrize(
    ("env", "needles"),
    [
        (
            {"REMINDERBOT_DATABASE_URL": "postgresql+asyncpg://u@db/x?sslmode=sometimes"},
            ["REMINDERBOT_DATABASE_URL", "sslmode", "require"],
        ),
        (
            {"REMINDERBOT_DATABASE_URL": "postgresql+asyncpg://u:pw@db:fivefour/x"},
            ["REMINDERBOT_DATABASE_URL", "port", "number"],
        ),
        (
            {"REMINDERBOT_BOT_API_URL": "http://127.0.0.1:8081/"},
            ["REMINDERBOT_BOT_API_URL", "/bot"],
        ),
        ({"REMINDERBOT_DATABASE_URL": "sqlite+aiosqlite://"}, ["in-memory", "file"]),
        ({"REMINDERBOT_DATABASE_URL": "sqlite+aiosqlite:///:memory:"}, ["in-memory"]),
        ({"REMINDERBOT_INVITE_TTL": "P999999999D"}, ["REMINDERBOT_INVITE_TTL", "at most 30 days"]),
        ({"REMINDERBOT_STALE_AFTER": "P999999999D"}, ["REMINDERBOT_STALE_AFTER", "at most 7 days"]),
        ({"REMINDERBOT_TICK_SECONDS": "0.001"}, ["REMINDERBOT_TICK_SECONDS", "at least 0.1"]),
        ({"REMINDERBOT_DEFAULT_REMINDER_TIME": "9h"}, ["REMINDER_TIME", "24-hour time"]),
        ({"REMINDERBOT_DEFAULT_REMINDER_TIME": "25:00"}, ["REMINDER_TIME", "24-hour time"]),
        ({"REMINDERBOT_PAID_BROADCAST": "maybe"}, ["REMINDERBOT_PAID_BROADCAST", "true or false"]),
        ({"REMINDERBOT_NOTE_MAX_CHARS": "lots"}, ["REMINDERBOT_NOTE_MAX_CHARS", "whole number"]),
    ],
)
def test_each_bad_setting_is_one_sentence_at_start(
    tmp_path: Path, env: dict[str, str], needles: list[str]
) -> None:
    result = run_cli("run", cwd=tmp_path, env={"REMINDERBOT_TOKEN": "1:x", **env})
    assert_one_clear_sentence(result, *needles)
    # Our own words, never pydantic's, and never a password from the URL.
    assert "Input should" not in result.stderr and "pw" not in result.stderr


def test_a_config_file_that_is_not_utf8_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(NOT_UTF8)
    result = run_cli(
        "run", cwd=tmp_path, env={"REMINDERBOT_TOKEN": "1:x", "REMINDERBOT_CONFIG": str(path)}
    )
    assert_one_clear_sentence(result, "latin1.toml", "UTF-8")


def test_libpq_sslmode_becomes_asyncpgs_ssl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hosting providers print libpq URLs; asyncpg takes ssl= and failed on sslmode= with a
    traceback. The mode is kept, under the name asyncpg knows."""
    monkeypatch.setenv(
        "REMINDERBOT_DATABASE_URL", "postgresql+asyncpg://u:pw@db:5432/x?sslmode=require"
    )
    settings = load_settings(REPO / "config" / "reminderbot.toml")
    assert settings.database_url == "postgresql+asyncpg://u:pw@db:5432/x?ssl=require"


# ------------------------------------------------------ issue 21 item 16: the operator
def test_the_sqlite_database_and_its_folder_are_private(tmp_path: Path) -> None:
    """Notes are in that file: other users of the machine must not read it (0644 before)."""
    env = {"REMINDERBOT_DATABASE_URL": "sqlite+aiosqlite:///data/private/x.sqlite3"}
    result = run_cli("db", "upgrade", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "data" / "private"
    assert folder.stat().st_mode & 0o777 == 0o700
    for path in folder.iterdir():  # the database, its lock and any -wal or -shm beside it
        assert path.stat().st_mode & 0o077 == 0, path


def test_start_up_names_the_database_file_and_a_new_one_loudly(tmp_path: Path) -> None:
    """./data is taken from the working folder: a start from another folder must not begin an
    empty database silently."""
    env = {
        "REMINDERBOT_TOKEN": "123:abc",
        "REMINDERBOT_BOT_API_URL": "http://127.0.0.1:9/bot",  # stops after the database is ready
        "REMINDERBOT_DATABASE_URL": "sqlite+aiosqlite:///data/bot.sqlite3",
    }
    first = run_cli("run", cwd=tmp_path, env=env)
    database = str(tmp_path / "data" / "bot.sqlite3")
    (created,) = [line for line in first.stderr.splitlines() if "database:" in line]
    assert "WARNING" in created and database in created and "does not exist yet" in created
    assert str(tmp_path) in created  # the working folder it was taken from
    second = run_cli("run", cwd=tmp_path, env=env)
    (found,) = [line for line in second.stderr.splitlines() if "database:" in line]
    assert "INFO" in found and found.endswith(f"database: {database}")


def test_config_works_before_and_after_the_subcommand(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.toml")
    for args in (["stats", "--config", missing], ["--config", missing, "stats"]):
        assert_one_clear_sentence(run_cli(*args, cwd=tmp_path), "--config", missing)
    edited = tmp_path / "words.toml"
    edited.write_text(f'messages_dir = "{tmp_path / "w"}"\n')
    for args in (
        ["messages", "check", "--config", str(edited)],
        ["db", "upgrade", "--config", str(edited)],
    ):
        result = run_cli(*args, cwd=tmp_path)
        assert "unrecognized arguments" not in result.stderr, args
    result = run_cli("messages", "check", "--config", str(edited), cwd=tmp_path)
    assert str(tmp_path / "w") in result.stdout + result.stderr


def test_a_misspelled_variable_is_a_warning_with_the_right_name(tmp_path: Path) -> None:
    env = {"REMINDERBOT_PRACTISE_NAME": "Typo Practice", "REMINDERBOT_ZZZ": "1"}
    result = run_cli("messages", "check", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 2, warnings
    assert "REMINDERBOT_PRACTISE_NAME" in warnings[0]
    assert "did you mean REMINDERBOT_PRACTICE_NAME?" in warnings[0]
    assert "REMINDERBOT_ZZZ" in warnings[1]
    # `run` logs it, as a warning line of its log.
    env |= {
        "REMINDERBOT_TOKEN": "123:abc",
        "REMINDERBOT_BOT_API_URL": "http://127.0.0.1:9/bot",
        "REMINDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3",
        "REMINDERBOT_LOG_FORMAT": "json",
    }
    run = run_cli("run", cwd=tmp_path, env=env)
    logged = [json.loads(line) for line in run.stderr.splitlines()]
    assert any(
        entry["level"] == "WARNING" and "did you mean REMINDERBOT_PRACTICE_NAME" in entry["message"]
        for entry in logged
    )


def test_with_json_logs_the_last_fatal_line_is_json_too(tmp_path: Path) -> None:
    env = {
        "REMINDERBOT_TOKEN": "123:abc",
        "REMINDERBOT_BOT_API_URL": "http://127.0.0.1:9/bot",
        "REMINDERBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3",
        "REMINDERBOT_LOG_FORMAT": "json",
    }
    result = run_cli("run", cwd=tmp_path, env=env)
    assert result.returncode == 2
    entries = [json.loads(line) for line in result.stderr.splitlines()]  # every line is JSON
    assert entries[-1]["level"] == "CRITICAL"
    assert "cannot be reached" in entries[-1]["message"]
    assert "123:abc" not in result.stderr
    # A setting that is itself wrong stops before logging is set up: still one JSON line.
    bad = run_cli("run", cwd=tmp_path, env={**env, "REMINDERBOT_TICK_SECONDS": "0"})
    (line,) = bad.stderr.splitlines()
    assert "REMINDERBOT_TICK_SECONDS" in json.loads(line)["message"]


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("url", "cause"),
    [
        ("postgresql+asyncpg://postgres:hunter22@{host}/no_such_database_here", "does not exist"),
        ("postgresql+asyncpg://no_such_role:hunter22@{host}/test", "does not know that user"),
        ("postgresql+asyncpg://postgres:hunter22@127.0.0.1:1/test", "nothing accepts"),
    ],
)
def test_a_database_error_names_its_cause_never_the_password(
    tmp_path: Path, postgres_skip_reason: str | None, url: str, cause: str
) -> None:
    if postgres_skip_reason:
        pytest.skip(postgres_skip_reason)
    from sqlalchemy.engine import make_url

    from tests.support.databases import POSTGRES_URL

    test_url = make_url(POSTGRES_URL)
    host = f"{test_url.host}:{test_url.port or 5432}"
    env = {"REMINDERBOT_DATABASE_URL": url.format(host=host)}
    result = run_cli("db", "upgrade", cwd=tmp_path, env=env)
    assert_one_clear_sentence(result, cause, "REMINDERBOT_DATABASE_URL")
    assert "hunter22" not in result.stderr and "DBAPIError" not in result.stderr


def test_the_shipped_config_lists_every_setting_with_its_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The README says the defaults live in the file: each setting has a line there, set or
    commented out, and its value is the default (the practice's name and contacts excepted:
    they are examples to replace)."""
    import tomllib

    from reminderbot.config import Settings

    for key in [k for k in os.environ if k.startswith("REMINDERBOT_")]:
        monkeypatch.delenv(key)
    examples = {"practice_name", "support_contacts"}
    lines = (REPO / "config" / "reminderbot.toml").read_text().splitlines()
    defaults = Settings()
    missing, wrong = [], []
    for name, field in Settings.model_fields.items():
        pattern = re.compile(rf"^(# )?{name} = ")
        found = sorted((line for line in lines if pattern.match(line)), key=lambda x: x[0] == "#")
        if not found:
            missing.append(name)
            continue
        if field.get_default(call_default_factory=True) is None or name in examples:
            continue
        if name == "messages_dir":
            continue  # the shipped words' folder: where the package is installed
        value = tomllib.loads(found[0].removeprefix("# "))[name]
        if getattr(Settings(**{name: value}), name) != getattr(defaults, name):
            wrong.append(f"{name} = {value!r}")
    assert missing == [], f"config/reminderbot.toml lacks these settings: {', '.join(missing)}"
    assert wrong == [], f"config/reminderbot.toml gives these other than the default: {wrong}"


def test_health_without_a_listener_says_so_in_one_sentence(tmp_path: Path) -> None:
    """Polling mode serves no /healthz unless REMINDERBOT_LISTEN asks (issue 19 item 9)."""
    assert_one_clear_sentence(run_cli("health", cwd=tmp_path), "REMINDERBOT_LISTEN")
