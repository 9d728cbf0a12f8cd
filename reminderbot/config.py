"""Settings: a documented TOML file in ``config/``, overridden by ``REMINDERBOT_*`` variables.

The file is the one named by ``--config`` or ``REMINDERBOT_CONFIG``; else
``config/reminderbot.toml`` in the working folder, if there is one; else the file shipped inside
the package, so an installed bot never starts silently without its practice's contacts.

Any problem becomes a :class:`ConfigError` whose message is one sentence naming the setting, so
the CLI can print it and exit with code 2 instead of showing a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
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
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from reminderbot.resources import shipped

ENV_PREFIX = "REMINDERBOT_"
CONFIG_ENV = "REMINDERBOT_CONFIG"
CONFIG_FLAG = "--config"
DEFAULT_CONFIG_PATH = Path("config/reminderbot.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/reminderbot.sqlite3"
# Telegram's longest text message; /help and /support must fit in one.
MAX_MESSAGE_CHARS = 4096
MAX_SUPPORT_CONTACTS = 10


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
    listen: str = "127.0.0.1:8080"

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
    tick_seconds: float = Field(default=1.0, gt=0, le=60)
    send_rate_per_second: float = Field(default=30.0, gt=0, le=1000)
    paid_broadcast: bool = False
    stale_after: timedelta = Field(default=timedelta(hours=2), gt=timedelta(0))
    protect_content: bool = True

    # Check-ins
    note_max_chars: int = Field(default=500, ge=1, le=3000)

    # Pairing: how long a /pair invite link works (single use either way)
    invite_ttl: timedelta = Field(default=timedelta(hours=48), gt=timedelta(0))

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
        return value

    @field_validator("bot_api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

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
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("use host:port, e.g. 0.0.0.0:8080")
        return value

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> Settings:
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
    def listen_host_port(self) -> tuple[str, int]:
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
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The config file {path} is not valid TOML: {exc}.") from exc


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "settings"
    top = str(first["loc"][0]) if first["loc"] else name
    env_name = ENV_PREFIX + top.upper()
    message = str(first["msg"]).removeprefix("Value error, ")
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
]
