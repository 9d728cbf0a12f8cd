"""The deployment files and the README agree with the code (issue 12). No container engine runs
here, so these check what can go wrong without one: names, paths, ports and settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from reminderbot.config import ENV_PREFIX, Settings, load_settings
from reminderbot.telegram.serve import webhook_path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = {
    "DOMAIN": "bot.example.org",
    "REMINDERBOT_TOKEN": "123456:ABC",
    "REMINDERBOT_WEBHOOK_SECRET": "0123456789abcdef",
    "POSTGRES_PASSWORD": "s3cret",
    "REMINDERBOT_DATA_KEY": "dGVzdC1kYXRhLWtleS1mb3ItcmVtaW5kZXJib3QtMDE=",
}


def compose_bot_environment() -> dict[str, str]:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    env = compose["services"]["bot"]["environment"]

    def fill(value: str) -> str:
        return re.sub(r"\$\{(\w+)(?::\?[^}]*)?\}", lambda m: SAMPLE[m.group(1)], str(value))

    return {name: fill(value) for name, value in env.items()}


def test_compose_runs_replicas_in_webhook_mode_on_postgresql(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert compose["services"]["bot"]["deploy"]["replicas"] >= 2
    assert compose["services"]["db"]["image"].startswith("postgres:")
    for key in [k for k in __import__("os").environ if k.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    for name, value in compose_bot_environment().items():
        monkeypatch.setenv(name, value)
    settings = load_settings()  # the bot would start with exactly these
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.webhook_url == "https://bot.example.org/telegram/updates"
    assert settings.webhook_secret is not None
    assert settings.data_key is not None  # replicas share one key; PostgreSQL has no default


def test_the_proxy_sends_the_webhook_path_to_the_bots_port() -> None:
    env = compose_bot_environment()
    caddy = (REPO / "deploy" / "Caddyfile").read_text()
    path = webhook_path(env["REMINDERBOT_WEBHOOK_URL"])
    assert f"handle {path} {{" in caddy
    port = env["REMINDERBOT_LISTEN"].rpartition(":")[2]
    assert re.search(rf"^\s*port {port}$", caddy, re.MULTILINE)
    assert re.search(r"^\s*name bot$", caddy, re.MULTILINE)  # the compose service's name
    dockerfile = (REPO / "Dockerfile").read_text()
    assert f"EXPOSE {port}" in dockerfile
    assert f"REMINDERBOT_LISTEN=0.0.0.0:{port}" in dockerfile


def readme() -> str:
    return (REPO / "README.md").read_text()


def test_every_setting_is_in_the_readme_table_and_every_row_is_a_setting() -> None:
    rows = set(re.findall(r"^\| `(REMINDERBOT_\w+)` \|", readme(), re.MULTILINE))
    settings = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert settings - rows == set()
    assert rows - settings <= {"REMINDERBOT_CONFIG"}


def test_the_first_readme_command_survives_pasting() -> None:
    first_block = re.search(r"```sh\n(.*?)```", readme(), re.DOTALL)
    assert first_block is not None
    lines = [line for line in first_block.group(1).splitlines() if not line.startswith("#")]
    assert "export REMINDERBOT_TOKEN=" in "\n".join(lines)
    export = next(line for line in lines if "REMINDERBOT_TOKEN=" in line)
    assert export.startswith("export REMINDERBOT_TOKEN=")  # on its own line
    assert not any(c in line for line in lines for c in "<>")  # no shell redirections
