"""Prometheus metrics for the bot's own HTTP server (``GET /metrics``).

Labels are closed sets chosen here (outcomes, reasons, update kinds, states): no label or value
ever names a person, a chat or any words. Each Application gets its own registry, so several
in one process (tests) never share counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
SENT, SKIPPED, FAILED = "sent", "skipped", "failed"
UPDATE_KINDS = ("message", "callback_query", "other")
PEOPLE_STATES = ("active", "paused", "unreachable", "stopped", "paired")
# Where a failed update was being handled: "support" is /support, /help and the support button,
# the words someone in a hard moment reaches for; everything else is "other".
HANDLER_PATHS = ("support", "other")


@dataclass(frozen=True, slots=True)
class TickFigures:
    """What one dispatcher tick did, in the shape metrics and logs need."""

    claimed: int
    sent: int
    skipped: int
    failed: int
    rate_limited: int
    outcomes: Mapping[tuple[str, str], int]
    lateness_seconds: Iterable[float]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.deliveries = Counter(
            "reminderbot_deliveries",
            "Reminders that reached an outcome (sent, skipped or failed), by reason.",
            ["outcome", "reason"],
            registry=r,
        )
        self.lateness = Histogram(
            "reminderbot_delivery_lateness_seconds",
            "Seconds between a reminder's due time and its send.",
            buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
            registry=r,
        )
        self.tick_duration = Histogram(
            "reminderbot_tick_duration_seconds",
            "Seconds one dispatcher tick took.",
            buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 20, 60),
            registry=r,
        )
        self.rate_limited = Counter(
            "reminderbot_telegram_429",
            "429 Too Many Requests answers received from Telegram.",
            registry=r,
        )
        self.updates = Counter(
            "reminderbot_updates_handled",
            "Updates from Telegram handled, by kind.",
            ["kind"],
            registry=r,
        )
        self.people = Gauge(
            "reminderbot_people",
            "People by state (paired counts people in a couple, whatever their state).",
            ["state"],
            registry=r,
        )
        self.handler_errors = Counter(
            "reminderbot_handler_errors",
            "Updates whose handling failed, by path (support: /support, /help, the support "
            "button).",
            ["path"],
            registry=r,
        )
        self.database_up = Gauge(
            "reminderbot_database_up",
            "1 when this instance's database answered at the last scrape, else 0.",
            registry=r,
        )
        self.support_contacts = Gauge(
            "reminderbot_support_contacts",
            "Support contacts configured (0: /help and /support list none).",
            registry=r,
        )
        for kind in UPDATE_KINDS:
            self.updates.labels(kind=kind)
        # Counters start at 0, so an alert on increase() sees the first error too.
        for path in HANDLER_PATHS:
            self.handler_errors.labels(path=path)
        self.deliveries.labels(outcome=SENT, reason="")

    def record_tick(self, figures: TickFigures, seconds: float) -> None:
        self.tick_duration.observe(seconds)
        for (outcome, reason), count in figures.outcomes.items():
            if count:
                self.deliveries.labels(outcome=outcome, reason=reason).inc(count)
        if figures.rate_limited:
            self.rate_limited.inc(figures.rate_limited)
        for late in figures.lateness_seconds:
            self.lateness.observe(max(late, 0.0))

    def update_handled(self, kind: str) -> None:
        self.updates.labels(kind=kind if kind in UPDATE_KINDS else "other").inc()

    def handler_failed(self, path: str) -> None:
        self.handler_errors.labels(path=path if path in HANDLER_PATHS else "other").inc()

    def set_people(self, counts: Mapping[str, int]) -> None:
        for state in PEOPLE_STATES:
            self.people.labels(state=state).set(counts.get(state, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
