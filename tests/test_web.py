"""The bot's own HTTP server (issue 12): /healthz, /metrics, and the webhook's secret.

In process, on SQLite and PostgreSQL, with the real Application against the strict double."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from reminderbot.metrics import HANDLER_PATHS, PEOPLE_STATES, UPDATE_KINDS
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.telegram.app import metrics_of, run_tick
from reminderbot.telegram.web import create_web_app
from tests.support import factories
from tests.support.harness import BotHarness, FakeClock

ALEX = 5_550_101
SECRET = "only-telegram-knows"
HOOK = "/telegram/updates"


@pytest.fixture
async def client(harness: BotHarness) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = create_web_app(
        harness.application, metrics_of(harness.application), webhook_path=HOOK, secret=SECRET
    )
    await harness.application.start()
    try:
        async with TestClient(TestServer(app)) as test_client:
            yield test_client
    finally:
        await harness.application.stop()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, parsed by prometheus-client's own parser."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


# ---------------------------------------------------------------------- health
async def test_healthz_is_200_when_the_bot_runs_and_its_database_answers(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"bot": "ok", "database": "ok"}


@pytest.mark.parametrize(
    "down",
    [
        "postgresql+asyncpg://nobody@127.0.0.1:1/none",  # a server that is not there
        "sqlite+aiosqlite:///{tmp}",  # a folder: not a database file
    ],
)
async def test_healthz_is_503_when_the_database_is_down(
    harness: BotHarness,
    client: TestClient,  # type: ignore[type-arg]
    tmp_path: Path,
    down: str,
) -> None:
    engine = create_engine(down.format(tmp=tmp_path))
    working = harness.state.sessions
    harness.state.sessions = create_session_factory(engine)
    try:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["database"] == "down"
    finally:
        harness.state.sessions = working
        await engine.dispose()
    assert (await client.get("/healthz")).status == 200  # and back when it answers again


async def test_healthz_is_503_when_the_bot_is_not_running(harness: BotHarness) -> None:
    app = create_web_app(harness.application, metrics_of(harness.application))
    async with TestClient(TestServer(app)) as test_client:
        response = await test_client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["bot"] == "down"


# ---------------------------------------------------------------------- metrics
async def test_metrics_parse_and_count_a_delivery_without_naming_anyone(
    harness: BotHarness,
    clock: FakeClock,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    sent = ("reminderbot_deliveries_total", (("outcome", "sent"), ("reason", "")))
    before = samples(await (await client.get("/metrics")).text())
    assert before[sent] == 0

    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "09:00")
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert await run_tick(harness.dispatcher, metrics_of(harness.application))

    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    text = await response.text()
    after = samples(text)
    assert after[sent] == 1
    assert after[("reminderbot_tick_duration_seconds_count", ())] == 1
    assert after[("reminderbot_delivery_lateness_seconds_count", ())] == 1
    assert after[("reminderbot_telegram_429_total", ())] == 0
    assert after[("reminderbot_updates_handled_total", (("kind", "message"),))] >= 2
    assert after[("reminderbot_updates_handled_total", (("kind", "callback_query"),))] >= 1
    assert after[("reminderbot_people", (("state", "active"),))] == 1
    # No label or value names a person, a chat or any words.
    allowed = {
        "outcome": {"sent", "skipped", "failed"},
        "kind": set(UPDATE_KINDS),
        "state": set(PEOPLE_STATES),
        "path": set(HANDLER_PATHS),
    }
    for (_, labels), _value in after.items():
        for name, value in labels:
            if name in allowed:
                assert value in allowed[name]
            else:
                assert name in {"reason", "le"}, name
    assert str(ALEX) not in text
    reminder = str(harness.seen(ALEX)[-1].params["text"])
    assert reminder[:20] not in text


# ---------------------------------------------------------------------- webhook secret
async def test_a_post_without_the_secret_is_refused_and_changes_nothing(
    harness: BotHarness,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    update = factories.command_update(harness.bot, ALEX, "/start").to_dict()
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
        response = await client.post(HOOK, json=update, headers=headers)
        assert response.status in (401, 403)
    await asyncio.sleep(0.5)  # the Application is running: a queued update would be answered
    assert harness.seen(ALEX) == []
    assert await harness.person(ALEX) is None

    response = await client.post(
        HOOK, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert response.status == 200
    for _ in range(100):
        if harness.seen(ALEX):
            break
        await asyncio.sleep(0.05)
    # The welcome, with its yes and not-now buttons.
    assert harness.text("buttons.consent_yes") in harness.last_buttons(ALEX)


async def test_a_post_that_is_not_an_update_is_refused(
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    response = await client.post(
        HOOK, data=b"not json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert response.status == 400


async def test_metrics_count_429s_and_failures_by_reason(
    harness: BotHarness,
    clock: FakeClock,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    sam = ALEX + 1
    for user_id in (ALEX, sam):
        await harness.join(user_id)
        await harness.command(user_id, "/times", "09:00")
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="429", retry_after=1)
    harness.double.fail_next("sendMessage", chat_id=sam, error="403")
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert await run_tick(harness.dispatcher, metrics_of(harness.application))

    after = samples(await (await client.get("/metrics")).text())
    assert after[("reminderbot_telegram_429_total", ())] == 1
    assert after[("reminderbot_deliveries_total", (("outcome", "sent"), ("reason", "")))] == 1
    failed = ("reminderbot_deliveries_total", (("outcome", "failed"), ("reason", "blocked")))
    assert after[failed] == 1
    assert after[("reminderbot_people", (("state", "unreachable"),))] == 1
