"""Settings: a documented TOML file in ``config/``, overridden by ``REMINDERBOT_*`` variables.

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

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

ENV_PREFIX = "REMINDERBOT_"
CONFIG_ENV = "REMINDERBOT_CONFIG"
DEFAULT_CONFIG_PATH = Path("config/reminderbot.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/reminderbot.sqlite3"


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one sentence meant for the operator."""


def _check_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{value!r} is not an IANA timezone such as Europe/Berlin") from exc


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

    token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    bot_api_url: str = "https://api.telegram.org/bot"
    messages_dir: Path = Path("messages")
    log_level: str = "INFO"

    practice_name: str = Field(default="Your counseling practice", min_length=1, max_length=200)
    support_contacts: list[SupportContact] = Field(default_factory=list)
    admin_chat_ids: list[int] = Field(default_factory=list)

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
    stale_after: timedelta = timedelta(hours=2)
    protect_content: bool = True

    # Check-ins
    note_max_chars: int = Field(default=500, ge=1, le=3000)

    # Pairing: how long a /pair invite link works (single use either way)
    invite_ttl: timedelta = Field(default=timedelta(hours=48), gt=timedelta(0))

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


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{CONFIG_ENV} points to {path}, which does not exist.") from exc
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
    return f"Setting {name} ({env_name}) is invalid: {message}."


def load_settings(config_path: Path | None = None) -> Settings:
    """Read the config file (if any) and the environment; raise ConfigError on any problem."""
    explicit = config_path or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    path = explicit or DEFAULT_CONFIG_PATH
    file_values: dict[str, Any] = {}
    if explicit is not None or path.exists():
        file_values = _read_file(path)
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
    return settings


__all__ = [
    "ConfigError",
    "Settings",
    "SupportContact",
    "load_settings",
]
