"""Operators see trouble before people feel it (issue 23): the metrics the alerts need, the
Grafana dashboard and the Prometheus rules in deploy/, and the compose profile that runs them.

No container engine runs here, so the files are checked, not the containers: every expression
names a metric the bot exports with labels it has, and every alert rule is unit-tested by
``promtool test rules`` (Debian's ``prometheus`` package; the tests skip, saying so, without it).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from reminderbot.config import SupportContact
from reminderbot.delivery.batch import Reason
from reminderbot.metrics import HANDLER_PATHS, PEOPLE_STATES, UPDATE_KINDS, Metrics
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


# ---------------------------------------------------------------------- what the bot exports
# Added by issue 19 (the edges issue), on another branch: the dashboard and the alerts chart them.
# Once that is merged the registry has them and these entries change nothing.
ADDED_BY_ISSUE_19 = {
    "reminderbot_sending_leader": ("gauge", ()),
    "reminderbot_oldest_overdue_seconds": ("gauge", ()),
}
# Made by Prometheus itself for every target, not by the bot.
MADE_BY_PROMETHEUS = {"up": ("gauge", ())}
TARGET_LABELS = {"job", "instance"}  # Prometheus adds these to every series it scrapes
JOB = "reminderbot"
# Every value a label can take: the closed sets in the code.
LABEL_VALUES: dict[str, set[str]] = {
    "outcome": {"sent", "skipped", "failed"},
    "reason": {""} | {str(reason) for reason in Reason},
    "kind": set(UPDATE_KINDS),
    "state": set(PEOPLE_STATES),
    "path": set(HANDLER_PATHS),
    "job": {JOB},
}


def exported() -> dict[str, frozenset[str]]:
    """Every series name the bot's /metrics can carry, with the labels it may have."""
    families: dict[str, tuple[str, tuple[str, ...]]] = dict(ADDED_BY_ISSUE_19)
    for collector in vars(Metrics()).values():
        if isinstance(collector, MetricWrapperBase):
            (family,) = collector.describe()
            families[family.name] = (family.type, tuple(collector._labelnames))
    families |= MADE_BY_PROMETHEUS
    series: dict[str, frozenset[str]] = {}
    for name, (kind, labels) in families.items():
        own = frozenset(labels) | TARGET_LABELS
        if kind == "counter":
            series[f"{name}_total"] = own
        elif kind == "histogram":
            series[f"{name}_bucket"] = own | {"le"}
            series[f"{name}_sum"] = series[f"{name}_count"] = own
        else:
            series[name] = own
    return series


# ---------------------------------------------------------------------- a small PromQL reader
FUNCTIONS = {
    "sum", "max", "min", "avg", "count", "rate", "irate", "increase", "delta",
    "histogram_quantile", "absent", "vector", "clamp_min", "clamp_max", "topk",
}  # fmt: skip
KEYWORDS = {"and", "or", "unless", "bool", "offset"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<range>\[[^\]]*\])|(?P<matchers>\{[^}]*\})|(?P<number>\d+(\.\d+)?)"""
    r"""|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<open>\()|(?P<close>\))|(?P<op>[-+*/^%<>=!,]+)"""
)
MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*,?')


@dataclass
class Selector:
    metric: str
    matchers: list[tuple[str, str, str]]


@dataclass
class Expression:
    selectors: list[Selector]
    grouping: set[str]  # labels named in by (...), on (...) and the like


def read(expr: str) -> Expression:
    """The metrics (with their matchers) and grouping labels an expression names. Enough PromQL
    for what deploy/ writes; anything it does not understand fails the test, never passes it."""
    selectors: list[Selector] = []
    grouping: set[str] = set()
    plain = expr.replace("$__rate_interval", "5m")  # Grafana's variable, a range in PromQL
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(plain) if m.lastgroup != "space"]
    assert "".join(t for _, t in tokens) == re.sub(r"\s+", "", plain), f"not read: {expr}"
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "name" and text in GROUPING:
            assert following[0] == "open", expr
            j = i + 2
            while tokens[j][0] != "close":
                if tokens[j][0] == "name":
                    grouping.add(tokens[j][1])
                j += 1
            i = j + 1
            continue
        if kind == "name" and (following[0] == "open" or following[1] in GROUPING):
            assert text in FUNCTIONS, f"{text}( in {expr}"
        elif kind == "name" and text not in KEYWORDS:
            matchers: list[tuple[str, str, str]] = []
            if following[0] == "matchers":
                body = following[1][1:-1]
                matchers = [(m.group(1), m.group(2), m.group(3)) for m in MATCHER.finditer(body)]
                assert "".join(m.group() for m in MATCHER.finditer(body)) == body, body
                i += 1
            selectors.append(Selector(text, matchers))
        elif kind == "matchers":
            raise AssertionError(f"a selector without a metric name in {expr}")
        i += 1
    return Expression(selectors, grouping)


def problems(expr: str, series: dict[str, frozenset[str]]) -> list[str]:
    found: list[str] = []
    parsed = read(expr)
    assert parsed.selectors, f"no metric in {expr}"
    names: set[str] = set()
    for selector in parsed.selectors:
        labels = series.get(selector.metric)
        if labels is None:
            found.append(f"{selector.metric} is not exported ({expr})")
            continue
        names |= labels
        for label, op, value in selector.matchers:
            if label not in labels:
                found.append(f"{selector.metric} has no label {label} ({expr})")
                continue
            values = value.split("|") if op in ("=~", "!~") else [value]
            unknown = [v for v in values if v not in LABEL_VALUES.get(label, {v})]
            if unknown:
                found.append(f"{label} is never {unknown} ({expr})")
    for label in parsed.grouping - names:
        found.append(f"no metric in it has the label {label} ({expr})")
    return found


def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def panels() -> Iterator[dict[str, Any]]:
    for panel in dashboard()["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_expressions() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel.get("targets", [])]


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_reader_catches_what_the_bot_does_not_export() -> None:
    series = exported()
    assert problems("sum by (outcome) (rate(reminderbot_deliveries_total[5m]))", series) == []
    assert problems("reminderbot_deliveries", series)  # a counter is read as ..._total
    assert problems("rate(reminderbot_delivery_lateness_seconds[5m])", series)  # a histogram
    assert problems('reminderbot_people{state="asleep"}', series)  # no such state
    assert problems('reminderbot_people{chat="1"}', series)  # no such label
    assert problems('reminderbot_deliveries_total{outcome=~"sent|lost"}', series)
    assert problems("sum by (person) (reminderbot_people)", series)
    assert problems('reminderbot_delivery_lateness_seconds_sum{le="1"}', series)


def test_every_dashboard_expression_names_metrics_and_labels_the_bot_exports() -> None:
    series = exported()
    expressions = dashboard_expressions()
    assert len(expressions) >= 10
    found = [problem for expr in expressions for problem in problems(expr, series)]
    assert found == []
    for panel in panels():
        for target in panel.get("targets", []):
            for label in re.findall(r"\{\{(\w+)\}\}", target.get("legendFormat", "")):
                assert label in LABEL_VALUES or label in TARGET_LABELS, (panel["title"], label)


def test_every_alert_names_metrics_and_labels_the_bot_exports() -> None:
    series = exported()
    found = [problem for rule in rules() for problem in problems(rule["expr"], series)]
    assert found == []


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    charted = {s.metric for expr in dashboard_expressions() for s in read(expr).selectors}
    wanted = {
        "reminderbot_deliveries_total",  # sent, skipped, failed by reason
        "reminderbot_delivery_lateness_seconds_bucket",  # lateness
        "reminderbot_sending_leader",  # which instance leads
        "reminderbot_oldest_overdue_seconds",  # the oldest overdue reminder
        "reminderbot_telegram_429_total",
        "reminderbot_updates_handled_total",
        "reminderbot_database_up",  # database health
        "reminderbot_people",  # people by state
        "reminderbot_handler_errors_total",
    }
    assert wanted - charted == set()
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    for panel in panels():
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]


def test_there_is_an_alert_for_each_harm_the_issue_names() -> None:
    by_metric = {s.metric for rule in rules() for s in read(rule["expr"]).selectors}
    assert {
        "reminderbot_sending_leader",  # no sending leader
        "reminderbot_oldest_overdue_seconds",  # overdue reminders
        "reminderbot_deliveries_total",  # a rising share of failed sends
        "reminderbot_handler_errors_total",  # errors on the support path
        "reminderbot_database_up",  # the database down
        "reminderbot_telegram_429_total",  # sustained 429s
    } <= by_metric
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert set(names) - tested == set()  # each rule has a promtool test


# ---------------------------------------------------------------------- the compose profile
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "compose.yaml").read_text())
    return data


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> the folder or file of this repository mounted there."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            out[target] = REPO / source
    return out


def test_the_monitoring_profile_scrapes_every_replica_and_provisions_grafana() -> None:
    services = compose()["services"]
    assert "profiles" not in services["bot"]  # `docker compose up` alone runs no monitoring
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert prometheus["profiles"] == grafana["profiles"] == ["monitoring"]
    for service in (prometheus, grafana):
        for port in service["ports"]:
            assert port.startswith("127.0.0.1:")  # not on the internet; an SSH tunnel reaches it

    # Prometheus reads deploy/prometheus/prometheus.yml and finds its rules beside it.
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_path = config_flag.partition("=")[2]
    folder, _, filename = config_path.rpartition("/")
    assert mounts(prometheus)[folder] / filename == PROMETHEUS_CONFIG
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS_CONFIG.parent / rule_file).resolve() == RULES
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    (discovery,) = job["dns_sd_configs"]
    # Docker's DNS answers the bot service's name with every replica's address.
    assert discovery["names"] == ["bot"] and discovery["type"] == "A"
    listen = services["bot"]["environment"]["REMINDERBOT_LISTEN"]
    assert discovery["port"] == int(listen.rpartition(":")[2])

    # Grafana gets the data source and the dashboard from the folders mounted into it.
    grafana_mounts = mounts(grafana)
    provisioning = grafana_mounts["/etc/grafana/provisioning"]
    datasource = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards/reminderbot.yml").read_text())
    dashboards = grafana_mounts[provider["providers"][0]["options"]["path"]]
    assert (dashboards / DASHBOARD.name) == DASHBOARD
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['providers'][0]['options']['path']}/{DASHBOARD.name}"
    assert dashboard()["uid"] and dashboard()["panels"]


# ---------------------------------------------------------------------- promtool
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(
            "promtool is not installed (Debian: apt-get install prometheus); the alert rules' "
            "unit tests did not run"
        )
    return found


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args],
        cwd=RULES.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_promtool_accepts_the_prometheus_config_and_rules() -> None:
    result = run_promtool("check", "config", PROMETHEUS_CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr
    result = run_promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_rule_passes_its_promtool_unit_test() -> None:
    result = run_promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
