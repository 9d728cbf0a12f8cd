"""Operators see trouble before people feel it (issue 23): the metrics the alerts need, the
Grafana dashboard and the Prometheus rules in deploy/, and the compose profile that runs them.

No container engine runs here, so the files are checked, not the containers: every expression
names a metric the bot exports with labels it has, and every alert rule is unit-tested by
``promtool test rules`` (Debian's ``prometheus`` package; the tests skip, saying so, without it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from reminderbot.config import SupportContact
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.telegram.app import metrics_of
from reminderbot.telegram.web import create_web_app
from tests.support.harness import BotHarness

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "reminderbot.json"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
SAM = 5_550_202


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.fixture
async def client(harness: BotHarness) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    app = create_web_app(harness.application, metrics_of(harness.application))
    await harness.application.start()
    try:
        async with TestClient(TestServer(app)) as test_client:
            yield test_client
    finally:
        await harness.application.stop()


# ---------------------------------------------------------------------- what /metrics tells
async def test_support_that_fails_is_counted_apart_from_other_failures(
    harness: BotHarness,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    support = ("reminderbot_handler_errors_total", (("path", "support"),))
    other = ("reminderbot_handler_errors_total", (("path", "other"),))
    before = samples(await (await client.get("/metrics")).text())
    assert (before[support], before[other]) == (0, 0)  # there from the start: increase() works

    harness.double.fail_next("sendMessage", chat_id=SAM, error="network")
    await harness.command(SAM, "/support")  # someone in a hard moment got nothing
    harness.double.fail_next("sendMessage", chat_id=SAM, error="network")
    await harness.command(SAM, "/help")  # the practice's contacts are there too
    harness.double.fail_next("sendMessage", chat_id=SAM, error="network")
    await harness.command(SAM, "/start")

    after = samples(await (await client.get("/metrics")).text())
    assert (after[support], after[other]) == (2, 1)


async def test_the_database_going_down_and_back_shows_in_metrics(
    harness: BotHarness,
    client: TestClient,  # type: ignore[type-arg]
    tmp_path: Path,
) -> None:
    up = ("reminderbot_database_up", ())
    assert samples(await (await client.get("/metrics")).text())[up] == 1
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}")  # a folder: not a database
    working = harness.state.sessions
    harness.state.sessions = create_session_factory(engine)
    try:
        response = await client.get("/metrics")
        assert response.status == 200  # the other figures still count
        assert samples(await response.text())[up] == 0
    finally:
        harness.state.sessions = working
        await engine.dispose()
    assert samples(await (await client.get("/metrics")).text())[up] == 1


async def test_metrics_say_how_many_support_contacts_are_configured(
    harness: BotHarness,
    client: TestClient,  # type: ignore[type-arg]
) -> None:
    contacts = ("reminderbot_support_contacts", ())
    configured = len(harness.state.settings.support_contacts)
    assert configured > 0
    assert samples(await (await client.get("/metrics")).text())[contacts] == configured
    harness.state.settings = harness.state.settings.model_copy(update={"support_contacts": []})
    assert samples(await (await client.get("/metrics")).text())[contacts] == 0
    one = [SupportContact(name="Practice", contact="+1 555 0100")]
    harness.state.settings = harness.state.settings.model_copy(update={"support_contacts": one})
    assert samples(await (await client.get("/metrics")).text())[contacts] == 1
