"""Settings: a documented TOML file in ``config/``, overridden by ``REMINDERBOT_*`` variables.

The file is the one named by ``--config`` or ``REMINDERBOT_CONFIG``; else
``config/reminderbot.toml`` in the working folder, if there is one; else the file shipped inside
the package, so an installed bot never starts silently without its practice's contacts.

Any problem becomes a :class:`ConfigError` whose message is one sentence naming the setting, so
the CLI can print it and exit with code 2 instead of showing a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from reminderbot.resources import shipped

ENV_PREFIX = "REMINDERBOT_"
CONFIG_ENV = "REMINDERBOT_CONFIG"
CONFIG_FLAG = "--config"
DEFAULT_CONFIG_PATH = Path("config/reminderbot.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/reminderbot.sqlite3"
# Where webhook mode listens when REMINDERBOT_LISTEN is not set (it needs a server).
WEBHOOK_LISTEN = "127.0.0.1:8080"
# Telegram's longest text message; /help and /support must fit in one.
MAX_MESSAGE_CHARS = 4096
MAX_SUPPORT_CONTACTS = 10
# Below this the dispatcher's idle check would keep a core busy for nothing.
MIN_TICK_SECONDS = 0.1
# Bounds that keep date arithmetic (now + ttl, now - stale_after) far from datetime's limits.
MAX_INVITE_TTL = timedelta(days=30)
MAX_STALE_AFTER = timedelta(days=7)
# libpq's sslmode values, which asyncpg takes as ``ssl``.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# REMINDERBOT_* variables that are not settings but are read elsewhere.
OTHER_VARIABLES = frozenset({CONFIG_ENV, "REMINDERBOT_TEST_POSTGRES_URL"})


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one sentence meant for the operator."""


def _check_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA timezone such as Europe/Berlin") from exc


# Telegram's rule for setWebhook's secret_token.
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class SupportContact(BaseModel):
    """A real person or service the practice wants people to reach in a hard moment."""

    name: str = Field(min_length=1, max_length=200)
    contact: str = Field(min_length=1, max_length=300)
    # The shipped file's contacts are illustrations: marked so, they never reach a person
    # (telegram/contacts.py), and start-up warns until the practice puts in its own.
    example: bool = False


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
    )

    _config_path: Path | None = PrivateAttr(default=None)

    token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    bot_api_url: str = "https://api.telegram.org/bot"
    messages_dir: Path = Field(default_factory=lambda: shipped("messages"))
    log_level: str = "INFO"
    log_format: str = Field(default="text", pattern=r"^(text|json)$")

    # Webhook mode (several instances behind a load balancer); without a URL, long polling.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # The bot's own HTTP server: /healthz, /metrics and, in webhook mode, the webhook path.
    # Unset in polling mode: no server, so several bots and the sandbox share a host with their
    # defaults; webhook mode then uses WEBHOOK_LISTEN.
    listen: str | None = None

    practice_name: str = Field(default="Your counseling practice", min_length=1, max_length=200)
    support_contacts: list[SupportContact] = Field(
        default_factory=list, max_length=MAX_SUPPORT_CONTACTS
    )
    admin_chat_ids: list[int] = Field(default_factory=list)
    # A weekly summary of counts (never content, never ids) to admin_chat_ids; off by default.
    weekly_summary: bool = False

    default_language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    default_timezone: str = "UTC"
    default_reminder_time: time = time(9, 0)
    timezone_choices: list[str] = Field(
        default_factory=lambda: [
            "Europe/London",
            "Europe/Berlin",
            "America/New_York",
            "America/Chicago",
            "America/Los_Angeles",
            "Australia/Sydney",
        ],
        max_length=12,
    )

    # Delivery
    tick_seconds: float = Field(default=1.0, ge=MIN_TICK_SECONDS, le=60)
    send_rate_per_second: float = Field(default=30.0, gt=0, le=1000)
    paid_broadcast: bool = False
    stale_after: timedelta = Field(default=timedelta(hours=2), gt=timedelta(0), le=MAX_STALE_AFTER)
    protect_content: bool = True

    # Check-ins
    note_max_chars: int = Field(default=500, ge=1, le=3000)

    # Pairing: how long a /pair invite link works (single use either way)
    invite_ttl: timedelta = Field(default=timedelta(hours=48), gt=timedelta(0), le=MAX_INVITE_TTL)

    # Retention (services/retention.py, run once a day at retention_time UTC). The welcome,
    # /mydata and the README say these periods; tests/test_retention.py ties them to the words.
    # How long check-ins and their notes are kept unless a person chooses otherwise in
    # /settings, and the longest anyone may choose.
    checkin_keep_days: int = Field(default=90, ge=1, le=3650)
    checkin_keep_max_days: int = Field(default=365, ge=1, le=3650)
    # Stopped, or unreachable (blocked the bot), this many days: erased as /delete erases.
    erase_inactive_after_days: int = Field(default=180, ge=1, le=3650)
    # Which line each reminder was: kept this long, then only when and whether it went out.
    delivery_detail_days: int = Field(default=14, ge=1, le=3650)
    retention_time: time = time(3, 30)

    @model_validator(mode="after")
    def _keep_within_max(self) -> Settings:
        if self.checkin_keep_days > self.checkin_keep_max_days:
            raise ValueError(
                "checkin_keep_days must not be longer than checkin_keep_max_days, the longest a "
                "person may choose"
            )
        return self

    # Encryption at rest (reminderbot/storage/keys.py). Data keys, comma-separated: the first
    # encrypts, all decrypt. Unset: data_key_file, else (SQLite only) <database>.key, made on
    # first start. PostgreSQL needs one of the two.
    data_key: SecretStr | None = None
    data_key_file: Path | None = None

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        _check_zone(value)
        return value

    @field_validator("timezone_choices")
    @classmethod
    def _known_timezones(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_zone(value)
        return values

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        return _database_url(value)

    @field_validator("bot_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        # python-telegram-bot appends the token: without /bot every call is a 404, which looks
        # exactly like a token Telegram refused.
        if not value.rstrip("/").endswith("/bot"):
            raise ValueError(
                "must end in /bot, as https://api.telegram.org/bot does (the token is "
                "appended to it)"
            )
        return value.rstrip("/")

    @field_validator("webhook_url")
    @classmethod
    def _https_webhook(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith("https://") and not value.startswith("http://"):
            raise ValueError("must be the public https:// address Telegram posts updates to")
        return value

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if not value:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("use host:port, e.g. 0.0.0.0:8080")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
        if self.webhook_url and self.listen is None:
            self.listen = WEBHOOK_LISTEN
        if self.webhook_url and (
            self.webhook_secret is None or not _SECRET.match(self.webhook_secret.get_secret_value())
        ):
            raise ValueError(
                "REMINDERBOT_WEBHOOK_SECRET must be set in webhook mode: 1 to 256 characters "
                "A-Z, a-z, 0-9, _ and -, so only Telegram can post updates"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return upper

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs (see load_settings); environment wins over them.
        return env_settings, init_settings

    @property
    def config_path(self) -> Path | None:
        """The file these settings were read from (None when built in code)."""
        return self._config_path

    @property
    def listen_host_port(self) -> tuple[str, int] | None:
        """Where the bot's own HTTP server listens; None for none (polling, not asked)."""
        if self.listen is None:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def rate_ceiling(self) -> float:
        """Telegram allows about 30 messages/s, or up to 1000/s with paid broadcasts."""
        if self.paid_broadcast:
            return self.send_rate_per_second
        return min(self.send_rate_per_second, 30.0)

    def require_token(self) -> str:
        if self.token is None or not self.token.get_secret_value().strip():
            raise ConfigError(
                "REMINDERBOT_TOKEN is not set: put the token @BotFather gave you in that "
                'environment variable (or token = "..." in the config file).'
            )
        return self.token.get_secret_value().strip()


def _database_url(value: str) -> str:
    """The URL as the drivers need it; ValueError with our own words for what cannot work."""
    try:
        url = make_url(value)
    except (ArgumentError, ValueError) as exc:
        if "int()" in str(exc):  # SQLAlchemy's int() of the port, in Python's words
            raise ValueError("the port after the host must be a number, e.g. db:5432") from None
        raise ValueError("it is not a URL such as postgresql+asyncpg://user@host/db") from None
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or "mode=memory" in value:
            raise ValueError(
                "an in-memory database is empty for every connection and gone at exit; give "
                "a file, e.g. sqlite+aiosqlite:///data/reminderbot.sqlite3"
            )
        return value
    return _asyncpg_ssl(url, value)


def _asyncpg_ssl(url: URL, value: str) -> str:
    """libpq's ``sslmode=`` (what most hosting providers print) becomes asyncpg's ``ssl=``."""
    mode = url.query.get("sslmode")
    if mode is None:
        return value
    if isinstance(mode, tuple) or mode not in SSL_MODES:
        raise ValueError(f"sslmode must be one of {', '.join(SSL_MODES)}")
    if "ssl" in url.query:
        raise ValueError("give ssl= or sslmode=, not both")
    query = {k: v for k, v in url.query.items() if k != "sslmode"}
    return url.set(query={**query, "ssl": mode}).render_as_string(hide_password=False)


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """One warning per REMINDERBOT_* variable that is no setting (a misspelling is otherwise
    silently ignored), with the nearest known name."""
    environ = os.environ if environ is None else environ
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | OTHER_VARIABLES
    warnings = []
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX) or name.upper() in known:
            continue
        near = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]}?" if near else "; it is ignored."
        warnings.append(f"{name} is not a setting of reminderbot{hint}")
    return warnings


def _read_file(path: Path, named_by: str | None) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        if named_by is None:
            raise ConfigError(f"The config file {path.absolute()} does not exist.") from exc
        raise ConfigError(f"{named_by} names {path.absolute()}, which does not exist.") from exc
    except OSError as exc:
        raise ConfigError(f"The config file {path} cannot be read ({exc.strerror}).") from exc
    except UnicodeDecodeError:
        raise ConfigError(
            f"The config file {path} is not UTF-8 text; save it as UTF-8 (TOML requires it)."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML: {exc}.") from exc


# pydantic's wording ("Input should be a valid time format, invalid character in hour") becomes
# ours: what to write instead.
_OUR_WORDS = {
    "time_parsing": "use a 24-hour time such as 09:00",
    "time_type": "use a 24-hour time such as 09:00",
    "time_delta_parsing": "use an ISO 8601 duration such as PT2H (2 hours) or P1D (1 day)",
    "time_delta_type": "use an ISO 8601 duration such as PT2H (2 hours) or P1D (1 day)",
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "float_parsing": "use a number such as 1.5",
    "float_type": "use a number such as 1.5",
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "int_from_float": "use a whole number",
    "list_type": "use a list, written in an environment variable as JSON, e.g. [123456789]",
    "string_type": "use text",
    "missing": "it is required",
}


# What a setting with a pattern takes, by setting.
_PATTERN_WORDS = {
    "log_format": 'use "text" or "json"',
    "default_language": "use a language code such as en: a folder of messages/",
}


def _our_words(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind in _OUR_WORDS:
        return _OUR_WORDS[kind]
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = {
            "greater_than": "more than",
            "greater_than_equal": "at least",
            "less_than": "less than",
            "less_than_equal": "at most",
        }[kind]
        # pydantic gives the bound as text, durations included ("30 days").
        bound = next(iter(ctx.values()), "")
        return f"it must be {words} {bound}"
    if kind == "string_too_short":
        return "it must not be empty"
    if kind == "string_too_long":
        return f"it must be at most {ctx.get('max_length')} characters"
    if kind == "too_long":
        return f"give at most {ctx.get('max_length')}"
    if kind == "string_pattern_mismatch":
        return _PATTERN_WORDS.get(str(error["loc"][0]) if error["loc"] else "", "not allowed")
    return str(error["msg"]).removeprefix("Value error, ")


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "settings"
    top = str(first["loc"][0]) if first["loc"] else name
    env_name = ENV_PREFIX + top.upper()
    message = _our_words(first)
    if first["type"] == "extra_forbidden":
        return f"Unknown setting {name!r} in the config file; check its spelling."
    if not first["loc"]:
        return f"The settings are invalid: {message}."
    return f"Setting {name} ({env_name}) is invalid: {message}."


def config_file(config_path: Path | None = None, *, flag: bool = False) -> tuple[Path, str | None]:
    """The config file to read, and what named it (``--config``, the variable, or nothing)."""
    if config_path is not None:
        return config_path, CONFIG_FLAG if flag else None
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV]), CONFIG_ENV
    if DEFAULT_CONFIG_PATH.is_file():
        return DEFAULT_CONFIG_PATH.resolve(), None
    return shipped("config") / DEFAULT_CONFIG_PATH.name, None


def load_settings(config_path: Path | None = None, *, flag: bool = False) -> Settings:
    """Read the config file and the environment; raise ConfigError on any problem.

    ``flag`` says that ``config_path`` came from ``--config``, so a missing file names the flag.
    """
    path, named_by = config_file(config_path, flag=flag)
    file_values = _read_file(path, named_by)
    try:
        settings = Settings(**file_values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    except SettingsError as exc:
        # Raised for an environment value that should be JSON (a list or table) and is not.
        match = re.search(r'field "(\w+)"', str(exc))
        name = match.group(1) if match else "settings"
        raise ConfigError(
            f"Setting {name} ({ENV_PREFIX}{name.upper()}) is invalid: lists and tables in "
            "environment variables are written as JSON, e.g. [123456789]."
        ) from None
    settings._config_path = path
    return settings


__all__ = [
    "ConfigError",
    "Settings",
    "SupportContact",
    "config_file",
    "load_settings",
    "unknown_variables",
]
