"""Nothing lost, nothing doubled: the dispatcher under poisoned rows, database errors, 429 waits
that outlive a lease, ambiguous network errors and clock steps."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest

from reminderbot.delivery import claim as claim_module
from reminderbot.delivery import send as send_module
from reminderbot.delivery.dispatcher import LEASE, Dispatcher, Reason, TickStats
from reminderbot.storage.models import Delivery, DeliveryStatus, Person, Schedule
from reminderbot.telegram.app import run_tick
from tests.support.harness import BotHarness, FakeClock, make_dispatcher

NINE = datetime(2026, 3, 2, 9, tzinfo=UTC)
SECRET_WORDS = "words-that-must-never-reach-a-log"


def reminders(harness: BotHarness, chat_id: int) -> list[dict[str, object]]:
    """The reminders a person received: messages with check-in buttons."""
    return [
        call.params
        for call in harness.seen(chat_id)
        if any(d.startswith("ci:") for row in harness.double.buttons(call) for _, d in row)
    ]


async def add_people(harness: BotHarness, chats: list[int], due: datetime) -> None:
    """People who said yes, each with one daily time due at ``due``."""
    async with harness.state.sessions.begin() as session:
        for chat in chats:
            person = Person(
                telegram_user_id=chat,
                chat_id=chat,
                language="en",
                timezone="UTC",
                consent="given",
                consent_given_at=due - timedelta(days=1),
                reachable=True,
                content_seed=chat,
                content_position=0,
            )
            session.add(person)
            await session.flush()
            session.add(Schedule(person_id=person.id, local_time=due.time(), next_due_at=due))


async def delivery_of(harness: BotHarness, chat: int) -> Delivery:
    async with harness.state.sessions.begin() as session:
        query = select(Delivery).join(Person).where(Person.telegram_user_id == chat)
        return (await session.execute(query)).scalar_one()


def own_dispatcher(harness: BotHarness, clock: Callable[[], datetime], **kw: Any) -> Dispatcher:
    return make_dispatcher(harness.state.sessions, harness.bot, clock, **kw)


# --------------------------------------------------------------------------- poisoned rows
POISONED = 8100
HEALTHY = [8101, 8102, 8103, 8104]


async def poison_rotation(harness: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reported stall: choosing this person's line raises (RecursionError in rotation)."""
    real = claim_module.pick

    def pick(pool: Any, seed: int, position: int) -> Any:
        if seed == POISONED:
            raise RecursionError(SECRET_WORDS)
        return real(pool, seed, position)

    monkeypatch.setattr(claim_module, "pick", pick)


async def poison_timezone(harness: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zone that this machine's time zone data no longer knows: the next occurrence and the
    quiet-hours rule both fail for this person."""
    async with harness.state.sessions.begin() as session:
        await session.execute(
            update(Person)
            .where(Person.telegram_user_id == POISONED)
            .values(timezone="Gone/Nowhere", quiet_start=time(22), quiet_end=time(7))
        )


async def poison_rendering(harness: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building this person's message fails (their language's buttons are broken)."""
    async with harness.state.sessions.begin() as session:
        await session.execute(
            update(Person).where(Person.telegram_user_id == POISONED).values(language="xx")
        )
    real = claim_module.reminder_keyboard

    def reminder_keyboard(catalog: Any, lang: str, delivery_id: int) -> Any:
        if lang == "xx":
            raise KeyError(SECRET_WORDS)
        return real(catalog, lang, delivery_id)

    monkeypatch.setattr(claim_module, "reminder_keyboard", reminder_keyboard)


async def poison_sending(harness: BotHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The send itself blows up before any request is made (not a Telegram error)."""
    real = send_module.ReminderSender.send

    async def send(self: Any, message: Any) -> Any:
        if message.chat_id == POISONED:
            raise ValueError(SECRET_WORDS)
        return await real(self, message)

    monkeypatch.setattr(send_module.ReminderSender, "send", send)


@pytest.mark.parametrize(
    "poison", [poison_rotation, poison_timezone, poison_rendering, poison_sending]
)
async def test_one_poisoned_occurrence_fails_alone_and_the_rest_go_out(
    harness: BotHarness,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    poison: Callable[[BotHarness, pytest.MonkeyPatch], Awaitable[None]],
) -> None:
    await add_people(harness, [POISONED, *HEALTHY], NINE)
    await poison(harness, monkeypatch)
    clock.set(NINE)
    with caplog.at_level(logging.INFO):
        assert await run_tick(harness.dispatcher) is True
    for chat in HEALTHY:
        assert len(reminders(harness, chat)) == 1
    assert reminders(harness, POISONED) == []
    delivery = await delivery_of(harness, POISONED)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.FAILED, Reason.INTERNAL)
    # Logged by id only: never the exception's words.
    assert f"person {delivery.person_id}" in caplog.text
    assert SECRET_WORDS not in caplog.text
    # The poisoned schedule does not head the next batch: it moved on like everyone else's.
    async with harness.state.sessions.begin() as session:
        due = (await session.execute(select(Schedule.next_due_at))).scalars().all()
    assert all(d is not None and d > NINE for d in due)
    clock.set(NINE + timedelta(days=1))
    await harness.tick()
    for chat in HEALTHY:
        assert len(reminders(harness, chat)) == 2


async def test_a_pause_ending_for_a_poisoned_person_does_not_hold_back_the_others(
    harness: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_people(harness, [POISONED, *HEALTHY], NINE)
    await poison_timezone(harness, monkeypatch)
    async with harness.state.sessions.begin() as session:
        await session.execute(
            update(Person)
            .where(Person.telegram_user_id == POISONED)
            .values(paused_at=NINE - timedelta(days=1), paused_until=NINE - timedelta(minutes=1))
        )
    clock.set(NINE)
    assert await run_tick(harness.dispatcher) is True
    for chat in HEALTHY:
        assert len(reminders(harness, chat)) == 1
    person = await harness.person(POISONED)
    assert person is not None and person.paused_until is None


async def test_a_poisoned_retry_fails_alone_and_the_other_retries_go_out(
    harness: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await add_people(harness, [POISONED, *HEALTHY], NINE)
    clock.set(NINE)
    harness.double.fail_next("sendMessage", error="network", times=len(HEALTHY) + 1)
    await harness.tick()
    assert all(reminders(harness, chat) == [] for chat in [POISONED, *HEALTHY])
    await poison_rendering(harness, monkeypatch)
    clock.set(NINE + timedelta(minutes=1))
    assert await run_tick(harness.dispatcher) is True
    for chat in HEALTHY:
        assert len(reminders(harness, chat)) == 1
    delivery = await delivery_of(harness, POISONED)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.FAILED, Reason.INTERNAL)


# --------------------------------------------------------------------------- outcomes
@contextmanager
def delivery_updates_fail(engine: AsyncEngine) -> Iterator[None]:
    """The database refuses every write to deliveries after the claim (e.g. a lock time-out)."""

    def refuse(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE DELIVERIES"):
            raise OperationalError(statement, None, Exception("database is locked"))

    event.listen(engine.sync_engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", refuse)


async def test_a_database_error_after_the_sends_does_not_send_the_batch_again(
    harness: BotHarness, clock: FakeClock, engine: AsyncEngine
) -> None:
    chats = list(range(8200, 8210))
    await add_people(harness, chats, NINE)
    clock.set(NINE)
    with delivery_updates_fail(engine):
        await run_tick(harness.dispatcher)
    assert all(len(reminders(harness, chat)) == 1 for chat in chats)
    # The database is back; the lease the claim took runs out.
    for seconds in (1, 30, 90):
        clock.set(NINE + LEASE + timedelta(seconds=seconds))
        assert await run_tick(harness.dispatcher) is True
    assert [len(reminders(harness, chat)) for chat in chats] == [1] * len(chats)
    for chat in chats:
        delivery = await delivery_of(harness, chat)
        assert delivery.status is DeliveryStatus.SENT
        assert delivery.telegram_message_id is not None


async def test_a_live_claim_renews_its_lease_while_429s_hold_it(
    harness: BotHarness, clock: FakeClock
) -> None:
    chat = 8300
    await add_people(harness, [chat], NINE)
    clock.set(NINE)
    first, second = own_dispatcher(harness, clock), own_dispatcher(harness, clock)
    first.lease_check_seconds = 0.02
    harness.double.fail_next("sendMessage", chat_id=chat, error="429", retry_after=3)
    sending = asyncio.create_task(first.tick())
    for _ in range(500):
        if harness.double.attempts_to("sendMessage", chat_id=chat):
            break
        await asyncio.sleep(0.01)
    # While the first instance waits out Telegram's retry_after, three minutes pass on the
    # bot's clock: longer than the lease it took.
    for _ in range(6):
        clock.advance(seconds=30)
        await asyncio.sleep(0.1)
    assert reminders(harness, chat) == [], "the 429 wait should still hold the first send"
    await second.tick()
    await sending
    assert len(reminders(harness, chat)) == 1
    delivery = await delivery_of(harness, chat)
    assert delivery.status is DeliveryStatus.SENT


async def test_a_claim_whose_lease_ran_out_neither_sends_nor_overwrites_the_new_owner(
    harness: BotHarness, clock: FakeClock
) -> None:
    chat = 8310
    await add_people(harness, [chat], NINE)
    clock.set(NINE)
    stalled, other = own_dispatcher(harness, clock), own_dispatcher(harness, clock)
    stats = TickStats()
    claimed = await stalled._claim(stats)  # then the first instance stalls past its lease
    clock.set(NINE + LEASE + timedelta(seconds=1))
    await other.tick()
    assert len(reminders(harness, chat)) == 1
    await stalled._send_all(claimed, stats)  # it wakes up with a claim that is no longer its
    for seconds in (2, 30, 300):
        clock.set(NINE + LEASE + timedelta(seconds=seconds))
        await stalled.tick()
        await other.tick()
    assert len(reminders(harness, chat)) == 1
    delivery = await delivery_of(harness, chat)
    assert delivery.status is DeliveryStatus.SENT


# --------------------------------------------------------------------------- network errors
REAL_CHAT = 8400


def answer_after_sending(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch, failure: str, *, reached: bool
) -> None:
    """Every sendMessage to REAL_CHAT fails with ``failure``. When ``reached``, Telegram got the
    request first (the person has the message) and only the answer went wrong."""
    double = harness.double
    real = double.do_request

    async def do_request(url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        request_data = args[0] if args else kwargs.get("request_data")
        to_chat = request_data is not None and request_data.parameters.get("chat_id") == REAL_CHAT
        if not url.endswith("/sendMessage") or not to_chat:
            return await real(url, method, *args, **kwargs)
        if reached:
            await real(url, method, *args, **kwargs)
        match failure:
            case "502":
                body = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
                return 502, json.dumps(body).encode()
            case "read_error":
                raise NetworkError("httpx.ReadError: ") from httpx.ReadError("")
            case "remote_protocol_error":
                err = httpx.RemoteProtocolError("Server disconnected without sending a response.")
                raise NetworkError(f"httpx.RemoteProtocolError: {err}") from err
            case "connect_error":
                err = httpx.ConnectError("All connection attempts failed")
                raise NetworkError(f"httpx.ConnectError: {err}") from err
            case "pool_timeout":
                # Exactly what PTB's HTTPXRequest raises when its pool is full.
                raise TimedOut(
                    "Pool timeout: All connections in the connection pool are occupied. "
                    "Request was *not* sent to Telegram. Consider adjusting the connection "
                    "pool size or the pool timeout."
                ) from httpx.PoolTimeout("")
        raise AssertionError(failure)

    monkeypatch.setattr(double, "do_request", do_request)


async def minutes_of_ticks(harness: BotHarness, clock: FakeClock, minutes: int) -> None:
    for second in range(0, minutes * 60, 20):
        clock.set(NINE + timedelta(seconds=second))
        await harness.tick()


@pytest.mark.parametrize("failure", ["502", "read_error", "remote_protocol_error"])
async def test_an_error_after_the_request_left_repeats_the_reminder_at_most_once(
    harness: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    await add_people(harness, [REAL_CHAT], NINE)
    answer_after_sending(harness, monkeypatch, failure, reached=True)
    await minutes_of_ticks(harness, clock, 30)
    assert 1 <= len(reminders(harness, REAL_CHAT)) <= 2
    delivery = await delivery_of(harness, REAL_CHAT)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.FAILED, Reason.UNCERTAIN)


@pytest.mark.parametrize("failure", ["connect_error", "pool_timeout"])
async def test_an_error_that_proves_nothing_left_is_retried_until_sent(
    harness: BotHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, failure: str
) -> None:
    await add_people(harness, [REAL_CHAT], NINE)
    answer_after_sending(harness, monkeypatch, failure, reached=False)
    for second in range(0, 60, 20):  # three failed attempts in the first minute
        clock.set(NINE + timedelta(seconds=second))
        await harness.tick()
    monkeypatch.undo()
    await minutes_of_ticks(harness, clock, 10)
    assert len(reminders(harness, REAL_CHAT)) == 1
    delivery = await delivery_of(harness, REAL_CHAT)
    assert delivery.status is DeliveryStatus.SENT and delivery.attempts >= 3


async def test_a_refused_connection_from_the_real_http_client_counts_as_not_sent() -> None:
    """The classification is checked against PTB's own HTTPXRequest, not only our fakes."""
    request = HTTPXRequest(connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.do_request("http://127.0.0.1:9/bot1:x/sendMessage", "POST")
    finally:
        await request.shutdown()
    assert send_module.never_reached_telegram(caught.value)
    assert not send_module.never_reached_telegram(NetworkError("Bad Gateway"))
    assert not send_module.never_reached_telegram(TimedOut())


# --------------------------------------------------------------------------- clock steps
ALEX = 8500
SAM = 8501


async def test_a_clock_step_back_neither_holds_the_tick_nor_sends_early(
    harness: BotHarness, clock: FakeClock
) -> None:
    due = NINE + timedelta(seconds=0.5)
    await add_people(harness, [ALEX], due)
    dispatcher = own_dispatcher(harness, clock, tick_seconds=1.0)
    clock.set(NINE)
    stats = TickStats()
    claimed = await dispatcher._claim(stats)  # due within the lookahead: claimed ahead
    assert len(claimed) == 1
    clock.set(NINE - timedelta(minutes=10))  # NTP steps the clock back
    await asyncio.wait_for(dispatcher._send_all(claimed, stats), timeout=10)
    assert reminders(harness, ALEX) == []
    await asyncio.wait_for(dispatcher.tick(), timeout=10)
    assert reminders(harness, ALEX) == []
    clock.set(due)
    await dispatcher.tick()
    assert len(reminders(harness, ALEX)) == 1
    delivery = await delivery_of(harness, ALEX)
    assert delivery.status is DeliveryStatus.SENT and delivery.uncertain == 0


async def test_a_forward_jump_sends_what_fell_due_and_nothing_early_after_it_is_undone(
    harness: BotHarness, clock: FakeClock
) -> None:
    await add_people(harness, [ALEX], NINE)
    await add_people(harness, [SAM], NINE + timedelta(minutes=5))
    dispatcher = own_dispatcher(harness, clock, tick_seconds=1.0)
    clock.set(NINE + timedelta(minutes=10))  # the clock jumps ten minutes ahead ...
    stats = TickStats()
    claimed = await dispatcher._claim(stats)
    assert len(claimed) == 2
    clock.set(NINE + timedelta(seconds=30))  # ... and is put right before the sends
    await asyncio.wait_for(dispatcher._send_all(claimed, stats), timeout=10)
    assert len(reminders(harness, ALEX)) == 1  # due: it goes
    assert reminders(harness, SAM) == []  # 4.5 minutes early by the clock: it waits
    clock.set(NINE + timedelta(minutes=4, seconds=59))
    await asyncio.wait_for(dispatcher.tick(), timeout=10)
    assert reminders(harness, SAM) == []
    clock.set(NINE + timedelta(minutes=5))
    await dispatcher.tick()
    assert len(reminders(harness, SAM)) == 1
    assert len(reminders(harness, ALEX)) == 1


# --------------------------------------------------------------------------- figures
async def test_a_tick_reports_outcomes_by_reason_and_each_sent_messages_lateness(
    harness: BotHarness, clock: FakeClock
) -> None:
    await add_people(harness, [ALEX, SAM], NINE)
    async with harness.state.sessions.begin() as session:
        await session.execute(
            update(Person)
            .where(Person.telegram_user_id == SAM)
            .values(paused_at=NINE, paused_until=None)
        )
    clock.set(NINE + timedelta(seconds=4))
    stats = await harness.tick()
    assert stats.sent == 1 and stats.skipped == 1
    assert stats.lateness == [4.0]
    assert stats.outcomes == {
        (DeliveryStatus.SENT, ""): 1,
        (DeliveryStatus.SKIPPED, Reason.PAUSED): 1,
    }
