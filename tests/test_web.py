"""The bot's own HTTP server (issue 12): /healthz, /metrics, and the webhook's secret.

In process, on SQLite and PostgreSQL, with the real Application against the strict double."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from reminderbot.delivery.reminder import checkin_data
from reminderbot.metrics import HANDLER_PATHS, PEOPLE_STATES, UPDATE_KINDS
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.models import Mood
from reminderbot.telegram.app import metrics_of, run_tick
from reminderbot.telegram.web import MAX_BODY_BYTES, create_web_app, intake_of
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


# ---------------------------------------------------------------------- acknowledged means kept
SECRET_HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


async def test_a_200_is_answered_only_once_the_update_is_handled(
    harness: BotHarness,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    """Telegram forgets an update it got a 200 for: by then the welcome must be on its way."""
    update = factories.command_update(harness.bot, ALEX, "/start").to_dict()
    response = await client.post(HOOK, json=update, headers=SECRET_HEADERS)
    assert response.status == 200
    # No waiting: the reply went out before the 200 did.
    assert harness.text("buttons.consent_yes") in harness.last_buttons(ALEX)


async def test_an_update_delivered_twice_takes_effect_and_is_answered_once(
    harness: BotHarness,
    clock: FakeClock,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    """Telegram sends an update again when its 200 was lost (a crash, a time-out): the second
    delivery is recognised by its update_id, changes nothing and says nothing."""
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "09:00")
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    await harness.tick()
    (delivery,) = await harness.deliveries(ALEX)
    message_id = harness.double.message_id_of(harness.seen(ALEX)[-1])
    updates = [
        factories.command_update(harness.bot, ALEX, "/times", "07:15"),
        factories.command_update(harness.bot, ALEX, "/help"),
        factories.callback_update(
            harness.bot, ALEX, checkin_data(delivery.id, Mood.HEAVY), message_id=message_id
        ),
    ]
    for update in updates:
        before = len(harness.double.calls)
        for _ in range(2):
            response = await client.post(HOOK, json=update.to_dict(), headers=SECRET_HEADERS)
            assert response.status == 200
        once = len(harness.double.calls) - before
        assert once >= 1
        # The same update once more, now as a third delivery: not one call to Telegram.
        response = await client.post(HOOK, json=update.to_dict(), headers=SECRET_HEADERS)
        assert response.status == 200
        assert len(harness.double.calls) - before == once, update.to_dict()
    answers = harness.double.calls_to("answerCallbackQuery")
    assert len([a for a in answers if "Heavy" in str(a.params.get("text"))]) == 1
    times = [t for t in harness.all_texts(ALEX) if "07:15" in t]
    assert len(times) == 1


async def test_a_post_while_stopping_is_503_and_changes_nothing(
    harness: BotHarness,
) -> None:
    app = create_web_app(
        harness.application, metrics_of(harness.application), webhook_path=HOOK, secret=SECRET
    )
    async with TestClient(TestServer(app)) as test_client:
        intake_of(app).refuse_new()
        update = factories.command_update(harness.bot, ALEX, "/start").to_dict()
        response = await test_client.post(HOOK, json=update, headers=SECRET_HEADERS)
        assert response.status == 503
    assert harness.seen(ALEX) == []


# ---------------------------------------------------------------------- what anyone may POST
async def _raw_post(client: TestClient, header: bytes, body: bytes) -> int:  # type: ignore[type-arg]
    """A POST written byte by byte: aiohttp's client will not send a header like this."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST " + HOOK.encode() + b" HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"X-Telegram-Bot-Api-Secret-Token: " + header + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    return int(status_line.split()[1])


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []


@pytest.mark.parametrize("header", [b"\xff", SECRET.encode() + b"\xc3", "é".encode(), b"\xe2\x82"])
async def test_a_secret_header_that_is_not_ascii_is_refused_without_a_traceback(
    harness: BotHarness,
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
    header: bytes,
) -> None:
    update = factories.command_update(harness.bot, ALEX, "/start").to_dict()
    with caplog.at_level(logging.WARNING):
        assert await _raw_post(client, header, json.dumps(update).encode()) == 403
    _no_traceback(caplog)
    assert [r.getMessage() for r in caplog.records] == [
        "webhook: a request without the right secret was refused"
    ]
    assert harness.seen(ALEX) == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[]", id="a list"),
        pytest.param(b'[{"update_id": 1}]', id="a list of updates"),
        pytest.param(b"null", id="null"),
        pytest.param(b"42", id="a number"),
        pytest.param(b'"update"', id="a string"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100,000 levels deep"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="100,000 objects deep"),
        pytest.param(b'{"update_id": "x", "message": 7}', id="the wrong shape"),
        pytest.param(b"{}", id="no update_id"),
        pytest.param(b'{"update_id": "12"}', id="update_id a string"),
        pytest.param(b'{"update_id": true}', id="update_id true"),
        pytest.param(b'{"update_id": 1.5}', id="update_id a fraction"),
        pytest.param(b"\xff\xfe", id="not UTF-8"),
        pytest.param(b"", id="empty"),
    ],
)
async def test_a_body_that_is_not_an_update_is_a_400_logged_once_without_content(
    harness: BotHarness,
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
    body: bytes,
) -> None:
    with caplog.at_level(logging.WARNING):
        response = await client.post(
            HOOK, data=body, headers={**SECRET_HEADERS, "Content-Type": "application/json"}
        )
        assert response.status == 400
    _no_traceback(caplog)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("webhook: a body that is not an update was refused (")
    assert "update" not in record.getMessage().split("(", 1)[1]  # the kind of error, not content


async def test_a_body_over_the_limit_is_refused_before_it_is_read(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = b'{"update_id": 1, "x": "' + b"a" * (MAX_BODY_BYTES + 10) + b'"}'
    with caplog.at_level(logging.WARNING):
        response = await client.post(HOOK, data=io.BytesIO(body), headers=SECRET_HEADERS)
    assert response.status == 413
    _no_traceback(caplog)
