"""A Telegram outage around a due minute: answers that prove the Bot API never handled a send
count as not sent and are tried again until Telegram is back; each reminder arrives once."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from aiohttp import web
from telegram.error import NetworkError
from telegram.request import HTTPXRequest

from reminderbot.delivery import send as send_module
from reminderbot.delivery.send import Refusal
from reminderbot.sandbox.state import FaultKind, OutageMode
from reminderbot.storage.models import DeliveryStatus
from tests.support.harness import BotHarness, FakeClock
from tests.test_dispatch_integrity import NINE, add_people, delivery_of, reminders

CHATS = [9300 + i for i in range(6)]
EVERY_CALL = 1_000_000  # an outage fault that lasts until the test clears it


async def test_a_minute_of_gateway_pages_then_refused_connections_loses_and_doubles_nothing(
    harness: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The reported loss: 502 pages (a gateway's HTML, not a Bot API answer), then dropped
    connections, around the due minute. Each reminder arrives exactly once, within a minute
    of Telegram's recovery."""
    caplog.set_level(logging.INFO)
    await add_people(harness, CHATS, NINE)
    state = harness.double.state
    outage_ends = NINE + timedelta(seconds=60)
    state.add_fault(FaultKind.OUTAGE, count=EVERY_CALL, mode=OutageMode.BAD_GATEWAY)
    sent_at: dict[int, object] = {}
    for second in range(-30, 240, 3):
        clock.set(NINE + timedelta(seconds=second))
        if second == 30:  # the gateway now drops connections instead
            state.clear_faults()
            state.add_fault(FaultKind.OUTAGE, count=EVERY_CALL, mode=OutageMode.RESET)
        if clock() >= outage_ends:
            state.clear_faults()
        await harness.tick()
        for chat in CHATS:
            if chat not in sent_at and reminders(harness, chat):
                sent_at[chat] = clock()
    assert {chat: len(reminders(harness, chat)) for chat in CHATS} == dict.fromkeys(CHATS, 1)
    assert all(at <= outage_ends + timedelta(minutes=1) for at in sent_at.values()), sent_at
    for chat in CHATS:
        delivery = await delivery_of(harness, chat)
        assert delivery.status is DeliveryStatus.SENT
        assert delivery.uncertain == 0
    # The operator reads one line when Telegram goes out of reach and one when it is back.
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("reminderbot")]
    assert sum("out of reach" in line for line in lines) == 1
    assert sum("answers again" in line for line in lines) == 1


async def test_an_outage_just_short_of_stale_after_still_delivers_within_a_minute(
    harness: BotHarness, clock: FakeClock
) -> None:
    """Backoff between tries is capped at about 30 s, so even after 100 minutes down the
    reminder goes out within a minute of recovery (stale_after is two hours here)."""
    chat = CHATS[0]
    await add_people(harness, [chat], NINE)
    state = harness.double.state
    state.add_fault(FaultKind.OUTAGE, count=EVERY_CALL, mode=OutageMode.BAD_GATEWAY)
    recovered = NINE + timedelta(minutes=100)
    sent_at = None
    for second in range(0, 110 * 60, 5):
        clock.set(NINE + timedelta(seconds=second))
        if clock() >= recovered:
            state.clear_faults()
        await harness.tick()
        if sent_at is None and reminders(harness, chat):
            sent_at = clock()
    assert len(reminders(harness, chat)) == 1
    assert sent_at is not None and sent_at <= recovered + timedelta(minutes=1)


async def test_an_outage_longer_than_stale_after_ends_the_reminder_as_stale(
    harness: BotHarness, clock: FakeClock
) -> None:
    chat = CHATS[1]
    await add_people(harness, [chat], NINE)
    harness.double.state.add_fault(FaultKind.OUTAGE, count=EVERY_CALL, mode=OutageMode.BAD_GATEWAY)
    for minute in range(0, 130, 1):
        clock.set(NINE + timedelta(minutes=minute))
        await harness.tick()
    harness.double.state.clear_faults()
    clock.set(NINE + timedelta(minutes=131))
    await harness.tick()
    assert reminders(harness, chat) == []
    delivery = await delivery_of(harness, chat)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.FAILED, "stale")


# ------------------------------------------------------ what PTB's real HTTP client raises
@pytest.fixture
async def gateway() -> object:
    """A real HTTP server in front of 'Telegram' that answers as a gateway would."""
    answers: dict[str, web.Response] = {}

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return answers[request.match_info["method"]]

    app = web.Application()
    app.router.add_post("/bot1:x/{method}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}/bot1:x", answers
    await runner.cleanup()


async def _refusal(url: str) -> Refusal:
    request = HTTPXRequest(connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.post(url)
    finally:
        await request.shutdown()
    return send_module.classify(caught.value)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        # A gateway's own page: the Bot API never saw the request.
        (502, "<html><body>502 Bad Gateway</body></html>", "text/html", Refusal.NOT_SENT),
        (503, "<html>Service Temporarily Unavailable</html>", "text/html", Refusal.NOT_SENT),
        (500, "<html>Internal Server Error</html>", "text/html", Refusal.NOT_SENT),
        # The gateway gave up waiting for the Bot API's answer: it may have sent the message.
        (504, "<html>504 Gateway Time-out</html>", "text/html", Refusal.MAYBE_SENT),
        # The Bot API itself answered: it saw the request, so its fate is not proven.
        (
            502,
            '{"ok":false,"error_code":502,"description":"Bad Gateway"}',
            "application/json",
            Refusal.MAYBE_SENT,
        ),
    ],
)
async def test_the_real_http_client_classes_gateway_pages_as_not_sent(
    gateway: tuple[str, dict[str, web.Response]],
    status: int,
    body: str,
    content_type: str,
    expected: Refusal,
) -> None:
    base, answers = gateway
    answers["sendMessage"] = web.Response(status=status, text=body, content_type=content_type)
    assert await _refusal(f"{base}/sendMessage") is expected
