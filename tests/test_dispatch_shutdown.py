"""Shutdown and the shared budget, in process: begin_shutdown cuts every wait short and hands
back what was not sent; replies of this process spend the reminders' budget."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from telegram.error import RetryAfter

from reminderbot.delivery import dispatcher as dispatcher_module
from reminderbot.delivery.pacing import Pacer, is_message, reminder_rate
from reminderbot.sandbox.state import FaultKind
from reminderbot.storage.models import DeliveryStatus
from reminderbot.telegram.app import _tick as dispatcher_job
from reminderbot.telegram.app import begin_shutdown, release_leadership
from reminderbot.telegram.retries import RetryRefusedReplies
from tests.support.botdouble import RecordedCall
from tests.support.harness import BotHarness, FakeClock
from tests.test_dispatch_integrity import NINE, add_people, delivery_of, own_dispatcher, reminders

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


# --------------------------------------------------------------------------- claimed ahead
BACKLOG = list(range(9600, 9610))


def claims_counted(harness: BotHarness) -> list[int]:
    """The size of every claim the dispatcher makes from now on."""
    dispatcher = harness.dispatcher
    sizes: list[int] = []
    claim = dispatcher._claim

    async def counted(stats: Any, **kwargs: Any) -> Any:
        claimed = await claim(stats, **kwargs)
        sizes.append(len(claimed))
        return claimed

    dispatcher._claim = counted  # type: ignore[method-assign]
    return sizes


async def backlog_in_batches_of_four(harness: BotHarness, clock: FakeClock) -> list[int]:
    """Ten people due now, claimed four at a time, two to a chunk; the claims' sizes."""
    await add_people(harness, BACKLOG, NINE)
    clock.set(NINE)
    harness.dispatcher.batch_size, harness.dispatcher.recheck_every = 4, 2
    return claims_counted(harness)


async def test_a_backlog_claimed_ahead_is_sent_once_each(
    harness: BotHarness, clock: FakeClock
) -> None:
    """Batches claimed while the one before still sends: nothing twice, nothing left."""
    sizes = await backlog_in_batches_of_four(harness, clock)
    stats = await harness.tick()
    assert sizes[:3] == [4, 4, 2] and stats.sent == len(BACKLOG)
    assert sorted(c.params["chat_id"] for c in sends(harness)) == BACKLOG
    for chat in BACKLOG:
        assert (await delivery_of(harness, chat)).status is DeliveryStatus.SENT


async def test_a_batch_claimed_ahead_goes_back_unsent_at_shutdown(
    harness: BotHarness, clock: FakeClock
) -> None:
    sizes = await backlog_in_batches_of_four(harness, clock)
    harness.double.latency = 0.05
    tick = asyncio.create_task(harness.tick())
    while len(sizes) < 2:  # the next batch is claimed while the first still sends
        assert not tick.done()
        await asyncio.sleep(0.005)
    begin_shutdown(harness.application)
    await asyncio.wait_for(tick, 5)
    sent = [c.params["chat_id"] for c in sends(harness)]
    assert 0 < len(sent) < 8 and len(set(sent)) == len(sent)
    handed_back = 0
    for chat in BACKLOG[:8]:  # the two batches claimed
        delivery = await delivery_of(harness, chat)
        if chat in sent:
            assert delivery.status is DeliveryStatus.SENT
            continue
        # Handed back: claimable at once, no attempt counted, nothing doubted.
        assert delivery.status is DeliveryStatus.CLAIMED
        assert delivery.retry_at is not None and delivery.retry_at <= clock()
        assert (delivery.attempts, delivery.uncertain) == (0, 0)
        handed_back += 1
    assert handed_back == 8 - len(sent)
    # The next start sends the rest, each once.
    harness.double.latency = 0.0
    after_restart = own_dispatcher(harness, clock)
    while (await after_restart.tick()).claimed:
        pass
    assert sorted(c.params["chat_id"] for c in sends(harness)) == BACKLOG


async def test_a_tick_that_ends_on_its_budget_with_a_backlog_is_followed_at_once(
    harness: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long backlog is drained in ticks of a bounded length (each one logged and counted),
    with no wait for the job queue's next second in between."""
    await add_people(harness, BACKLOG, NINE)
    clock.set(NINE)
    harness.dispatcher.batch_size = 4
    monkeypatch.setattr(dispatcher_module, "TICK_BUDGET_SECONDS", 0.0)  # one batch a tick
    sizes = claims_counted(harness)
    await dispatcher_job(SimpleNamespace(application=harness.application))  # type: ignore[arg-type]
    assert sizes[:3] == [4, 4, 2]
    assert sorted(c.params["chat_id"] for c in sends(harness)) == BACKLOG


async def test_a_batch_claimed_ahead_for_the_next_tick_goes_back_if_it_stops_first(
    harness: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_people(harness, BACKLOG, NINE)
    clock.set(NINE)
    harness.dispatcher.batch_size = 4
    monkeypatch.setattr(dispatcher_module, "TICK_BUDGET_SECONDS", 0.0)
    first = await harness.tick()
    assert first.backlog and first.sent == 4  # and the next four are claimed ahead
    begin_shutdown(harness.application)
    assert (await harness.tick()).sent == 0
    unsent = [chat for chat in BACKLOG if chat not in {c.params["chat_id"] for c in sends(harness)}]
    held = [await delivery_of(harness, chat) for chat in unsent[:4]]
    for delivery in held:  # handed back: claimable at once, no attempt counted, nothing doubted
        assert delivery.status is DeliveryStatus.CLAIMED
        assert delivery.retry_at is not None and delivery.retry_at <= clock()
        assert (delivery.attempts, delivery.uncertain) == (0, 0)
    after_restart = own_dispatcher(harness, clock)
    while (await after_restart.tick()).claimed:
        pass
    assert sorted(c.params["chat_id"] for c in sends(harness)) == BACKLOG
