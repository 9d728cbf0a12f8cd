"""Shutdown and the shared budget, in process: begin_shutdown cuts every wait short and hands
back what was not sent; replies of this process spend the reminders' budget."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from telegram.error import RetryAfter

from reminderbot.delivery.pacing import Pacer, is_message, reminder_rate
from reminderbot.sandbox.state import FaultKind
from reminderbot.storage.models import DeliveryStatus
from reminderbot.telegram.app import begin_shutdown, release_leadership
from reminderbot.telegram.retries import RetryRefusedReplies
from tests.support.botdouble import RecordedCall
from tests.support.harness import BotHarness, FakeClock
from tests.test_dispatch_integrity import NINE, add_people, delivery_of, reminders

CHATS = [9500, 9501, 9502]


def sends(harness: BotHarness) -> list[RecordedCall]:
    """Every sendMessage Telegram got, answered or refused."""
    return [c for c in harness.double.calls if c.method == "sendMessage"]


def refused(harness: BotHarness) -> bool:
    return any(c.fault == "429" for c in sends(harness))


async def test_shutdown_during_a_429_wait_hands_back_the_claims_unsent(
    harness: BotHarness, clock: FakeClock
) -> None:
    await add_people(harness, CHATS, NINE)
    clock.set(NINE)
    state = harness.double.state
    state.add_fault(
        FaultKind.RETRY_AFTER, method="sendMessage", count=None, duration=600, retry_after=30
    )
    tick = asyncio.create_task(harness.tick())
    while not refused(harness):
        assert not tick.done()
        await asyncio.sleep(0.01)
    asked = time.monotonic()
    begin_shutdown(harness.application)
    await asyncio.wait_for(tick, 5)
    assert time.monotonic() - asked < 2
    assert len(sends(harness)) == 1  # nothing more was tried
    for chat in CHATS:
        delivery = await delivery_of(harness, chat)
        # Handed back: still claimed, claimable at once, no attempt counted, nothing doubted.
        assert delivery.status is DeliveryStatus.CLAIMED
        assert delivery.retry_at is not None and delivery.retry_at <= clock()
        assert (delivery.attempts, delivery.uncertain) == (0, 0)
    assert (await harness.tick()).claimed == 0  # a stopped dispatcher claims nothing


async def test_after_a_shutdown_the_next_start_sends_what_was_handed_back_once(
    harness: BotHarness, clock: FakeClock
) -> None:
    await add_people(harness, CHATS, NINE)
    clock.set(NINE)
    state = harness.double.state
    fault = state.add_fault(
        FaultKind.RETRY_AFTER, method="sendMessage", count=None, duration=600, retry_after=30
    )
    tick = asyncio.create_task(harness.tick())
    while not refused(harness):
        assert not tick.done()
        await asyncio.sleep(0.01)
    begin_shutdown(harness.application)
    await asyncio.wait_for(tick, 5)
    state.clear_faults(fault.id)
    await release_leadership(harness.application)  # as the stopped process does last
    async with BotHarness.running(harness.state.sessions, clock, double=harness.double) as again:
        clock.advance(seconds=1)
        await again.tick()
    assert {chat: len(reminders(harness, chat)) for chat in CHATS} == dict.fromkeys(CHATS, 1)


async def test_a_reply_waiting_out_a_429_stops_waiting_at_shutdown() -> None:
    limiter = RetryRefusedReplies()
    calls = 0

    async def refused(*_: Any, **__: Any) -> Any:
        nonlocal calls
        calls += 1
        raise RetryAfter(25)

    waiting = asyncio.create_task(limiter.process_request(refused, (), {}, "sendMessage", {}, None))
    await asyncio.sleep(0.1)
    asked = time.monotonic()
    limiter.stop_waiting()
    with pytest.raises(RetryAfter):
        await asyncio.wait_for(waiting, 2)
    assert time.monotonic() - asked < 1 and calls == 1


async def test_a_reply_sent_by_this_process_delays_the_next_reminder_by_one_slot() -> None:
    pacer = Pacer(30)
    await pacer.slot(1)
    interval = 1 / reminder_rate(30)
    pacer.spend()  # a reply went out meanwhile
    started = time.monotonic()
    await pacer.slot(2)
    assert time.monotonic() - started >= 2 * interval - 0.005


async def test_replies_are_counted_against_the_reminders_rate(
    harness: BotHarness, clock: FakeClock
) -> None:
    """The bot's own replies (not edits or answers to a press) reach the dispatcher's pacer."""
    spent: list[str] = []
    harness.dispatcher.pacer.spend = lambda: spent.append("reply")  # type: ignore[method-assign]
    await harness.command(CHATS[0], "/help")
    assert spent == ["reply"]
    assert is_message("sendMessage") and is_message("sendPhoto")
    assert not is_message("editMessageText") and not is_message("answerCallbackQuery")
    assert not is_message("sendChatAction")


def test_reminders_leave_room_for_replies_and_jitter_at_every_rate() -> None:
    assert 25 <= reminder_rate(30) <= 27
    assert 990 <= reminder_rate(1000) < 1000  # at a paid rate the room costs next to nothing
    assert reminder_rate(2) == 1
