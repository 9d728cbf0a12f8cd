"""A check-in tap is the busiest button: one transaction with a handful of statements, and the
answer goes out as soon as the tap is committed, before the reminder is redrawn.

Runs on SQLite and PostgreSQL against the strict double.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.delivery.reminder import checkin_data
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import CheckIn, Mood
from tests.support.botdouble import BotDouble
from tests.support.harness import BotHarness, FakeClock

ALEX = 6301
# A first tap records its update's number (so a second delivery of it changes nothing),
# reads the person, the delivery and any earlier answer (one SELECT), inserts the check-in
# (one INSERT that becomes an UPDATE for a changed tap) and opens its note window.
MOST_STATEMENTS = 4


@dataclass
class Cost:
    statements: int = 0
    transactions: int = 0


@contextmanager
def counted(engine: AsyncEngine) -> Iterator[Cost]:
    cost = Cost()

    def statement(*_: Any) -> None:
        cost.statements += 1

    def transaction(*_: Any) -> None:
        cost.transactions += 1

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    event.listen(engine.sync_engine, "begin", transaction)
    try:
        yield cost
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", statement)
        event.remove(engine.sync_engine, "begin", transaction)


async def reminded(harness: BotHarness, clock: FakeClock) -> int:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "09:00")
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    await harness.tick()
    (delivery,) = await harness.deliveries(ALEX)
    return delivery.id


async def test_a_tap_is_one_transaction_of_a_few_statements(
    harness: BotHarness, clock: FakeClock, engine: AsyncEngine
) -> None:
    delivery_id = await reminded(harness, clock)
    with counted(engine) as first:
        await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    with counted(engine) as changed:
        await harness.press(ALEX, checkin_data(delivery_id, Mood.HEAVY))
    assert (first.transactions, changed.transactions) == (1, 1)
    assert first.statements <= MOST_STATEMENTS
    assert changed.statements <= MOST_STATEMENTS
    # Still the whole behaviour: recorded, changed, the note window open on the first tap.
    assert harness.answers()[-1] == harness.text(
        "answers.checked_in", mood=harness.text("buttons.mood_heavy")
    )
    assert harness.last_text(ALEX) == harness.text("notes.offer")
    async with harness.state.sessions.begin() as session:
        (checkin,) = (await session.execute(select(CheckIn))).scalars().all()
    assert checkin.mood is Mood.HEAVY and checkin.note_open_until is not None


class AnswerWatch(BotDouble):
    """Notes, when each answer arrives, how many check-ins are committed and how many edits
    went out before it."""

    def __init__(self, sessions: SessionFactory) -> None:
        super().__init__()
        self.sessions = sessions
        self.at_answer: list[tuple[int, int]] = []

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if url.endswith("/answerCallbackQuery"):
            async with self.sessions.begin() as session:
                kept = (await session.execute(select(func.count(CheckIn.id)))).scalar_one()
            self.at_answer.append((kept, len(self.calls_to("editMessageText"))))
        return await super().do_request(url, method, *args, **kwargs)


async def test_a_tap_is_answered_once_kept_and_before_the_redraw(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    double = AnswerWatch(sessions)
    async with BotHarness.running(sessions, clock, double=double) as harness:
        delivery_id = await reminded(harness, clock)
        edits = len(double.calls_to("editMessageText"))
        await harness.press(ALEX, checkin_data(delivery_id, Mood.OPEN))
        assert double.at_answer[-1] == (1, edits)  # committed, not yet redrawn
        assert len(double.calls_to("editMessageText")) == edits + 1  # then redrawn


async def test_a_tap_from_someone_marked_unreachable_brings_their_reminders_back(
    harness: BotHarness, clock: FakeClock
) -> None:
    """The tap's own transaction does what fallback.person_wrote does for every other update."""
    delivery_id = await reminded(harness, clock)
    clock.set(datetime(2026, 3, 3, 9, tzinfo=UTC))
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="403")
    await harness.tick()
    person = await harness.person(ALEX)
    assert person is not None and not person.reachable
    clock.set(datetime(2026, 3, 3, 12, tzinfo=UTC))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    person = await harness.person(ALEX)
    assert person is not None and person.reachable and person.unreachable_since is None
    sent = len(harness.double.calls_to("sendMessage", chat_id=ALEX))
    clock.set(datetime(2026, 3, 4, 9, tzinfo=UTC))
    await harness.tick()
    assert len(harness.double.calls_to("sendMessage", chat_id=ALEX)) == sent + 1
