"""The ``reminderbot`` command: run, db upgrade, db backup, messages check, sandbox.

Operator mistakes (a missing token, a broken config or messages file, an unreachable database)
end with one clear sentence and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from reminderbot import __version__
from reminderbot.config import ConfigError, Settings, load_settings, unknown_variables
from reminderbot.logs import fatal_line
from reminderbot.storage.crypto import DataKeyError

if TYPE_CHECKING:
    from reminderbot.content import Catalog, Problem
    from reminderbot.content.usage import CodeUsage

EXIT_USAGE = 2
log = logging.getLogger("reminderbot")


class StartupError(Exception):
    """A problem the operator must fix; the message is what they read."""


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _load(args: argparse.Namespace, *, warn: bool = True) -> Settings:
    """The settings; ``warn`` prints what is odd about the environment (``run`` logs it)."""
    config = getattr(args, "config", None)
    settings = load_settings(Path(config), flag=True) if config else load_settings()
    if warn:
        for warning in unknown_variables():
            print(f"reminderbot: warning: {warning}", file=sys.stderr)
    return settings


# Why a database cannot be used, by the exception somewhere in the chain (the drivers' own
# messages may carry the URL, and so the password; these never do).
_DATABASE_CAUSES = {
    "InvalidCatalogNameError": "that database does not exist on the server",
    "InvalidPasswordError": "the server refused the password",
    "InvalidAuthorizationSpecificationError": "the server does not know that user",
    "ConnectionRefusedError": "nothing accepts connections at that host and port",
    "gaierror": "that host name is not known",
    "TimeoutError": "the server did not answer in time",
    "SSLError": "the SSL handshake failed",
    "InsufficientPrivilegeError": "that user may not do this in that database",
}


def database_cause(exc: BaseException) -> str:
    """What went wrong with the database, in words that name no password."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if name in _DATABASE_CAUSES:
            return _DATABASE_CAUSES[name]
        text = str(current).lower()
        if "rejected ssl upgrade" in text:
            return "the server does not accept SSL connections (drop ssl= or sslmode=)"
        if "unable to open database file" in text:
            return "the file cannot be opened or created (check the folder and its permissions)"
        if "file is not a database" in text:
            return "that file is not a SQLite database"
        nested = getattr(current, "orig", None)
        current = (
            nested
            if isinstance(nested, BaseException) and id(nested) not in seen
            else current.__cause__ or current.__context__
        )
    return type(exc).__name__


def _load_keys(settings: Settings) -> str | None:
    """Install this run's data keys; returns the one line to log when a key file was made."""
    from reminderbot.storage import crypto, keys

    secret = settings.data_key.get_secret_value() if settings.data_key else None
    loaded = keys.load_keys(secret, settings.data_key_file, settings.database_url)
    crypto.use(loaded.keyring, missing=loaded.missing)
    if loaded.created is None:
        return None
    return (
        f"made a new data key in {loaded.created}: back it up apart from the database, "
        "which cannot be read without it"
    )


async def _upgrade(url: str) -> str | None:
    from sqlalchemy.exc import SQLAlchemyError

    from reminderbot.storage import keys
    from reminderbot.storage.db import create_engine
    from reminderbot.storage.migrate import (
        HEAD,
        MigrationError,
        current_revision,
        is_at_head,
        upgrade,
    )

    engine = create_engine(url)
    try:
        # A wrong key stops here, before any migration or any other work.
        unlocked = await keys.unlock(engine)
        if unlocked and await is_at_head(engine):
            return HEAD  # nothing to do: no Alembic, no write lock (most starts)
        await upgrade(engine)
        if not await keys.unlock(engine):  # another replica may have done the encrypting
            raise StartupError("The database has no encryption key after the upgrade.")
        return await current_revision(engine)
    except MigrationError as exc:
        raise StartupError(str(exc)) from exc
    except (SQLAlchemyError, OSError) as exc:
        raise StartupError(
            f"The database at {_safe_url(url)} cannot be reached or migrated: "
            f"{database_cause(exc)}; check REMINDERBOT_DATABASE_URL."
        ) from exc
    finally:
        await engine.dispose()


def _hold_database(url: str) -> None:
    """One process per SQLite file, for the life of this process: a bot, or an upgrade."""
    from reminderbot.storage.lock import DatabaseLockError, hold_sqlite_lock

    try:
        hold_sqlite_lock(url)
    except DatabaseLockError as exc:
        raise StartupError(str(exc)) from exc


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _load(args)
    # Migrating a SQLite file under a live bot would change tables it is using.
    _hold_database(settings.database_url)
    made = _load_keys(settings)
    if made:
        print(f"reminderbot: {made}", file=sys.stderr)
    revision = asyncio.run(_upgrade(settings.database_url))
    print(f"database {_safe_url(settings.database_url)} is at revision {revision}")
    return 0


def cmd_db_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the SQLite database, safe while the bot runs (no lock taken)."""
    from reminderbot.storage.backup import BackupError, backup

    settings = _load(args)
    try:
        print(backup(settings.database_url, Path(args.path)).report())
    except BackupError as exc:
        raise StartupError(str(exc)) from exc
    return 0


def cmd_db_new_key(args: argparse.Namespace) -> int:
    from reminderbot.storage.crypto import new_key

    print(new_key())
    return 0


def cmd_db_rotate_key(args: argparse.Namespace) -> int:
    """Beside running bots (no database lock): short transactions, values compared first."""
    from reminderbot.storage import keys
    from reminderbot.storage.crypto import keyring
    from reminderbot.storage.db import create_engine

    settings = _load(args)
    _load_keys(settings)

    async def rotate() -> keys.Rotation:
        engine = create_engine(settings.database_url)
        try:
            if not await keys.unlock(engine):
                raise StartupError(
                    "The database is not encrypted yet; run `reminderbot db upgrade` first."
                )
            return await keys.rotate(engine, batch=args.batch)
        finally:
            await engine.dispose()

    report = asyncio.run(rotate())
    first = keyring().first_id.hex()
    print(f"re-encrypted {report.rewritten} value(s) under data key {first}")
    if report.left:
        where = ", ".join(f"{n} in {t}" for t, n in sorted(report.left.items()))
        print(
            f"still under another key: {where}; an instance still encrypts with it: restart "
            f"every instance with key {first} first, then run this again",
            file=sys.stderr,
        )
        return 1
    print("every value is under it: the other keys can be retired")
    return 0


def cmd_messages_check(args: argparse.Namespace) -> int:
    from reminderbot.content.check import check_messages
    from reminderbot.content.usage import scan_code
    from reminderbot.resources import unserved_edits_note

    if args.dir:
        messages_dir, note = Path(args.dir), None
    else:
        # The words `run` would serve from here, by the same settings.
        settings = _load(args)
        messages_dir = settings.messages_dir.absolute()
        note = unserved_edits_note(messages_dir, Path.cwd(), chosen=_words_chosen(settings))
    article = Path(args.article) if args.article else messages_dir / "article.txt"
    code = scan_code()
    problems = check_messages(messages_dir, article if article.exists() else None, code=code)
    if not article.exists():
        print(f"warning: {article} not found; sources were not checked", file=sys.stderr)
    for problem in problems:
        print(problem)
    if note is not None:
        print(note, file=sys.stderr)
    if problems:
        _print_translations(messages_dir, args.list)
        print(f"{len(problems)} problem(s) in {messages_dir}", file=sys.stderr)
        return 1
    print(
        f"The words in {messages_dir.as_posix().rstrip('/')}/ are valid, and they match "
        f"the {len(code.uses)} places in the code that use them."
    )
    unfinished = _print_translations(messages_dir, args.list)
    return 1 if args.complete and unfinished else 0


def _print_translations(messages_dir: Path, listed: bool) -> int:
    """One line per translation: served, fuzzy, missing. Fuzzy and missing lines are said in
    English (a content item: skipped), so they are reported, not problems. Returns how many."""
    from reminderbot.content.check import PO_FILE, translation_status

    unfinished = 0
    for lang, status in sorted(translation_status(messages_dir).items()):
        print(
            f"{lang}: {status.translated} of {status.total} lines translated; "
            f"{len(status.fuzzy)} fuzzy, {len(status.missing)} missing"
        )
        unfinished += len(status.fuzzy) + len(status.missing)
        if listed:
            where = f"{messages_dir.name}/{lang}/{PO_FILE}"
            for key in status.fuzzy:
                print(f"  {where}: {key}: fuzzy (the English changed); English is said instead")
            for key in status.missing:
                print(f"  {where}: {key}: missing; English is said instead (an item: skipped)")
    return unfinished


def cmd_messages_extract(args: argparse.Namespace) -> int:
    from reminderbot.content.po import extract
    from reminderbot.content.types import MessagesError

    messages_dir = Path(args.dir) if args.dir else _load(args).messages_dir
    try:
        path = extract(messages_dir)
    except MessagesError as exc:
        raise StartupError(f"Fix the English first ({exc.problems[0]}).") from exc
    print(f"Wrote {path}")
    return 0


def cmd_messages_update(args: argparse.Namespace) -> int:
    from reminderbot.content.po import update
    from reminderbot.content.types import MessagesError

    messages_dir = Path(args.dir) if args.dir else _load(args).messages_dir
    try:
        results = update(messages_dir, add=tuple(args.add))
    except MessagesError as exc:
        raise StartupError(f"Fix the English first ({exc.problems[0]}).") from exc
    for result in results:
        started = " (new)" if result.created else ""
        print(
            f"{result.path}{started}: {result.total} lines, {result.fuzzy} fuzzy, "
            f"{result.missing} untranslated"
        )
    return 0


def _words_chosen(settings: Settings) -> bool:
    """Whether the operator named the words (config file or environment)."""
    return "messages_dir" in settings.model_fields_set


def cmd_run(args: argparse.Namespace) -> int:
    from telegram.error import InvalidToken, NetworkError

    from reminderbot.content.usage import scan_code
    from reminderbot.logs import configure
    from reminderbot.resources import unserved_edits_note
    from reminderbot.storage.db import create_session_factory, serving_engine
    from reminderbot.telegram.app import build_application, oversized_messages
    from reminderbot.telegram.contacts import example_warning
    from reminderbot.telegram.context import AppState
    from reminderbot.telegram.serve import ServeError, serve

    settings = _load(args, warn=False)
    token = settings.require_token()
    configure(settings.log_level, token, settings.log_format)
    for warning in unknown_variables():
        log.warning("%s", warning)
    # Words that don't match what the code asks for (a misspelled placeholder, a deleted key)
    # would otherwise reach a person as "Something went wrong"; the scan takes a fraction of a
    # second, once, on the words the catalog was built from.
    catalog, mismatches = _catalog(settings, scan_code())
    if mismatches:
        raise StartupError(
            f"The words in {settings.messages_dir} don't match the code ({mismatches[0]}); "
            "run `reminderbot messages check` for the full list."
        )
    database = _database_file(settings.database_url)  # before the engine creates it
    _hold_database(settings.database_url)  # until this process exits
    engine = serving_engine(settings.database_url)
    state = AppState(settings=settings, catalog=catalog, sessions=create_session_factory(engine))
    oversized = oversized_messages(state)
    if oversized is not None:
        raise StartupError(oversized)
    log.info("config file: %s", settings.config_path)
    log.info("words: %s (languages %s)", settings.messages_dir, ", ".join(catalog.languages))
    _log_database(settings.database_url, *database)
    note = unserved_edits_note(settings.messages_dir, Path.cwd(), chosen=_words_chosen(settings))
    if note is not None:
        log.warning("%s", note)
    if (examples := example_warning(settings)) is not None:
        log.warning("%s", examples)
    made = _load_keys(settings)
    if made:
        log.warning(made)
    revision = asyncio.run(_upgrade(settings.database_url))
    log.info("database ready at revision %s", revision)
    application = build_application(state, token=token, base_url=settings.bot_api_url)
    try:
        asyncio.run(serve(application, settings))
    except ServeError as exc:
        raise StartupError(str(exc)) from exc
    except InvalidToken as exc:
        raise StartupError(
            "Telegram refused the bot token; check REMINDERBOT_TOKEN (from @BotFather)."
        ) from exc
    except NetworkError as exc:
        raise StartupError(
            f"The Bot API at {settings.bot_api_url} cannot be reached ({type(exc).__name__}); "
            "check the network or REMINDERBOT_BOT_API_URL."
        ) from exc
    return 0


def _database_file(url: str) -> tuple[Path | None, bool]:
    """The SQLite file (absolute) and whether it exists yet; (None, True) for PostgreSQL."""
    from reminderbot.storage.lock import sqlite_file

    database = sqlite_file(url)
    return database, database is None or database.exists()


def _log_database(url: str, database: Path | None, existed: bool) -> None:
    """Say where the data is; a SQLite file not there before is said loudly: a relative path is
    taken from the working folder, so a start from another folder would begin an empty one."""
    if database is None:
        log.info("database: %s", _safe_url(url))
    elif existed:
        log.info("database: %s", database)
    else:
        log.warning(
            "database: %s does not exist yet, so an empty one is created there (a relative "
            "path in REMINDERBOT_DATABASE_URL is taken from the working folder, %s)",
            database,
            Path.cwd(),
        )


def _catalog(settings: Settings, code: CodeUsage | None = None) -> tuple[Catalog, list[Problem]]:
    """The words, and where they and ``code`` disagree; StartupError if they are not valid."""
    from reminderbot.content import MessagesError
    from reminderbot.content.catalog import checked_catalog

    try:
        return checked_catalog(settings.messages_dir, settings.default_language, code)
    except MessagesError as exc:
        raise StartupError(
            f"The words in {settings.messages_dir} are not valid ({exc.problems[0]}); "
            "run `reminderbot messages check` for the full list."
        ) from exc


async def _practice_counts(settings: Settings, catalog: Catalog) -> str:
    from sqlalchemy.exc import SQLAlchemyError

    from reminderbot.services import stats
    from reminderbot.storage.db import create_engine, create_session_factory
    from reminderbot.storage.models import utcnow

    engine = create_engine(settings.database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            counts = await stats.practice_counts(session, utcnow())
    except (SQLAlchemyError, OSError) as exc:
        raise StartupError(
            f"The database at {_safe_url(settings.database_url)} cannot be read: "
            f"{database_cause(exc)}; check REMINDERBOT_DATABASE_URL, or run "
            "`reminderbot db upgrade`."
        ) from exc
    finally:
        await engine.dispose()

    return stats.render(counts, catalog, catalog.default_language, settings.practice_name)


def cmd_stats(args: argparse.Namespace) -> int:
    settings = _load(args)
    print(asyncio.run(_practice_counts(settings, _catalog(settings)[0])))
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 when the running bot's /healthz answers 200: the container's HEALTHCHECK."""
    import urllib.error
    import urllib.request

    settings = _load(args)
    if settings.listen_host_port is None:
        raise StartupError(
            "REMINDERBOT_LISTEN is not set, so the bot serves no /healthz to ask; set it "
            "(e.g. 127.0.0.1:8080) for both the bot and this command."
        )
    host, port = settings.listen_host_port
    if host in {"0.0.0.0", "::", ""}:
        host = "127.0.0.1"
    url = f"http://{host}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            body = response.read().decode()
    except urllib.error.HTTPError as exc:
        print(f"unhealthy: {url} answered {exc.code} {exc.read().decode()}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"unhealthy: {url} cannot be reached ({type(exc).__name__})", file=sys.stderr)
        return 1
    print(f"healthy: {body}")
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from reminderbot.sandbox.due_now import due_now_hook
    from reminderbot.sandbox.runner import SandboxError, run_sandbox

    try:
        return asyncio.run(
            run_sandbox(port=args.port, due_now=due_now_hook, languages=tuple(args.language))
        )
    except SandboxError as exc:
        raise StartupError(str(exc)) from exc


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reminderbot",
        description="A consent-first Telegram companion for couples rebuilding trust.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: $REMINDERBOT_CONFIG or config/reminderbot.toml)",
    )
    # --config also after the subcommand (`reminderbot stats --config x`); SUPPRESS keeps one
    # given before it when none is given after.
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        parents=[config],
        help="run the bot (long polling, or webhook mode with REMINDERBOT_WEBHOOK_URL)",
        description="Apply pending database migrations, then run the bot: long polling, or "
        "webhook mode when REMINDERBOT_WEBHOOK_URL is set. Serves /healthz and /metrics on "
        "REMINDERBOT_LISTEN when set (webhook mode: default 127.0.0.1:8080). Needs "
        "REMINDERBOT_TOKEN.",
    )
    run.set_defaults(func=cmd_run)

    db = sub.add_parser("db", help="database commands", description="Database commands.")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    upgrade = db_sub.add_parser(
        "upgrade",
        parents=[config],
        help="apply pending migrations",
        description="Create or upgrade the database at REMINDERBOT_DATABASE_URL.",
    )
    upgrade.set_defaults(func=cmd_db_upgrade)
    backup = db_sub.add_parser(
        "backup",
        help="copy the SQLite database to PATH, safe while the bot runs",
        description="Copy the SQLite database at REMINDERBOT_DATABASE_URL to PATH (a new file, "
        "readable by its owner only), consistent even while the bot writes. On PostgreSQL it "
        "says what to run instead (pg_dump) and exits 2.",
    )
    backup.add_argument("path", metavar="PATH", help="the new file to write")
    backup.set_defaults(func=cmd_db_backup)
    new_key = db_sub.add_parser(
        "new-key",
        help="print a new data key",
        description="Print a new random data key (for REMINDERBOT_DATA_KEY or a key file).",
    )
    new_key.set_defaults(func=cmd_db_new_key)
    rotate_key = db_sub.add_parser(
        "rotate-key",
        help="re-encrypt every row under the first data key",
        description="Re-encrypt every encrypted value under the first of the data keys given, "
        "in short batches, while the bot runs. Start every instance with the new key first "
        "(REMINDERBOT_DATA_KEY=new,old), run this, then drop the old key. Exit 1 if values "
        "remain under another key.",
    )
    rotate_key.add_argument("--batch", type=int, default=500, help="rows a transaction")
    rotate_key.set_defaults(func=cmd_db_rotate_key)

    messages = sub.add_parser("messages", help="messages commands", description="Messages.")
    messages_sub = messages.add_subparsers(
        dest="messages_command", required=True, metavar="COMMAND"
    )
    check = messages_sub.add_parser(
        "check",
        parents=[config],
        help="validate every file in messages/",
        description="Validate the words in messages/: ids, lengths, placeholders, every "
        "language has every key, every source is in the article. Exit 1 on any problem.",
    )
    check.add_argument("--dir", metavar="PATH", help="messages folder (default: from config)")
    check.add_argument("--article", metavar="PATH", help="article (default: <dir>/article.txt)")
    check.add_argument(
        "--list", action="store_true", help="name every fuzzy and missing translated line"
    )
    check.add_argument(
        "--complete", action="store_true", help="exit 1 if any translation is fuzzy or missing"
    )
    check.set_defaults(func=cmd_messages_check)
    extract = messages_sub.add_parser(
        "extract",
        parents=[config],
        help="write messages/messages.pot from the English",
        description="Regenerate the gettext template messages/messages.pot from the English "
        "ui.yaml and content.yaml (msgctxt: the key or item id; an item's article sentence as "
        "an extracted comment).",
    )
    extract.add_argument("--dir", metavar="PATH", help="messages folder (default: from config)")
    extract.set_defaults(func=cmd_messages_extract)
    update = messages_sub.add_parser(
        "update",
        parents=[config],
        help="merge the English into every translation's PO file",
        description="Regenerate the template and merge it into messages/<lang>/LC_MESSAGES/"
        "messages.po for every language: a line whose English changed is marked fuzzy (and is "
        "not served until a translator confirms it); lines gone from the English are dropped.",
    )
    update.add_argument("--dir", metavar="PATH", help="messages folder (default: from config)")
    update.add_argument(
        "--add", metavar="LANG", action="append", default=[], help="start a new language"
    )
    update.set_defaults(func=cmd_messages_update)

    stats = sub.add_parser(
        "stats",
        parents=[config],
        help="counts for the practice (never content, never ids)",
        description="Print people active, paused, unreachable, stopped and paired; reminders "
        "sent and skipped by reason; check-ins per week for the last eight weeks. Numbers "
        "from 1 to 4 print as <5.",
    )
    stats.set_defaults(func=cmd_stats)

    health = sub.add_parser(
        "health",
        parents=[config],
        help="ask the running bot's /healthz (exit 0 when healthy)",
        description="GET /healthz on REMINDERBOT_LISTEN; exit 0 on 200, 1 otherwise. The "
        "Docker image's HEALTHCHECK.",
    )
    health.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    health.set_defaults(func=cmd_health)

    sandbox = sub.add_parser(
        "sandbox",
        help="try the bot locally, without Telegram",
        description="Start a local Bot API server, the real bot against it and a temporary "
        "database, and print a localhost page with two chats (Partner A and Partner B).",
    )
    sandbox.add_argument("--port", type=int, default=8080, help="page port (default 8080)")
    sandbox.add_argument(
        "--language",
        metavar="CODE",
        action="append",
        default=[],
        help="a pane's Telegram language, e.g. de or es-MX; once per pane, in order",
    )
    sandbox.set_defaults(func=cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, StartupError, DataKeyError) as exc:
        print(fatal_line(str(exc)), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
