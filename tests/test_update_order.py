"""One person's updates take effect in the order Telegram numbered them, and once (issue 19).

In process, on SQLite and PostgreSQL: updates are handed to the Application in the order a
second instance, or a redelivery, would make them arrive."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from reminderbot.delivery.reminder import checkin_data
from reminderbot.services import checkins
from reminderbot.services.checkins import ORDERED_WITHIN, CheckInResult
from reminderbot.services.sharing import SharingLevel
from reminderbot.storage import repositories
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import CheckIn, HandledUpdate, Mood
from reminderbot.telegram import once
from reminderbot.telegram.context import BotContext
from reminderbot.telegram.once import KEEP_FOR
from tests.support import factories
from tests.support.botdouble import BotDouble
from tests.support.harness import BotHarness, FakeClock
from tests.test_couples import (
    ALEX,
    SAM,
    calls_to_chat,
    choose_sharing,
    deliver_reminder,
    pair,
    shared_line,
)


def tap(harness: BotHarness, delivery_id: int, mood: Mood) -> object:
    """A tap as Telegram numbers it (each newer than the last), not yet handled."""
    message_id = harness.message_with_button(ALEX, checkin_data(delivery_id, Mood.STEADY))
    return factories.callback_update(
        harness.bot, ALEX, checkin_data(delivery_id, mood), message_id=message_id
    )


async def kept(harness: BotHarness) -> list[Mood]:
    async with harness.state.sessions.begin() as session:
        return list((await session.execute(select(CheckIn.mood))).scalars())


async def test_an_older_tap_handled_last_never_overwrites_the_newer_answer(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    heavy, steady = tap(harness, delivery_id, Mood.HEAVY), tap(harness, delivery_id, Mood.STEADY)
    before = len(calls_to_chat(harness, SAM))
    await harness.process(steady)  # the newer tap reached its instance first
    await harness.process(heavy)
    assert await kept(harness) == [Mood.STEADY]
    # The older tap is answered with the answer that stands, and says nothing to the partner.
    steady_label = harness.text("buttons.mood_steady")
    assert harness.answers()[-2:] == [harness.text("answers.checked_in", mood=steady_label)] * 2
    told = [c.params["text"] for c in calls_to_chat(harness, SAM)[before:]]
    assert told == [shared_line(harness, "sharing.partner_checked_in.steady")]


async def test_taps_in_order_still_change_the_answer(harness: BotHarness, clock: FakeClock) -> None:
    await harness.join(ALEX)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    for mood in (Mood.HEAVY, Mood.STEADY, Mood.HEAVY):
        await harness.process(tap(harness, delivery_id, mood))
    assert await kept(harness) == [Mood.HEAVY]


async def test_a_tap_long_after_the_kept_one_wins_whatever_its_number(
    harness: BotHarness, clock: FakeClock
) -> None:
    """After a week without any update Telegram numbers from a random point: past the
    ordering window a later tap always counts."""
    await harness.join(ALEX)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    older, newer = tap(harness, delivery_id, Mood.OPEN), tap(harness, delivery_id, Mood.HEAVY)
    await harness.process(newer)
    # An hour past the answer's last change (the note window's writes stamp it with the wall
    # clock, so the hour counts from now, not from the test's 09:00).
    clock.set(datetime.now(UTC) + ORDERED_WITHIN + timedelta(minutes=1))
    await harness.process(older)  # a lower number, but an hour later
    assert await kept(harness) == [Mood.OPEN]


async def test_two_first_answers_at_once_are_a_change_never_an_error(
    harness: BotHarness, clock: FakeClock
) -> None:
    """Two transactions insert the first answer to one reminder at the same moment (two
    instances): one becomes a change of the other, the newer number wins, nothing raises."""
    await harness.join(ALEX)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    sessions = harness.state.sessions
    now = clock()

    async def record(mood: Mood, update_id: int) -> CheckInResult:
        async with sessions.begin() as session:
            outcome = await checkins.record(session, ALEX, delivery_id, mood, now, update_id)
            await asyncio.sleep(0.2)  # both have read "no answer yet" before either commits
            return outcome.result

    results = await asyncio.gather(
        record(Mood.STEADY, 10_000_002), record(Mood.HEAVY, 10_000_001), return_exceptions=True
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert await kept(harness) == [Mood.STEADY]


async def test_a_repeat_of_a_command_changes_nothing_and_says_nothing(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    times = factories.command_update(harness.bot, ALEX, "/times", "07:15")
    await harness.process(times)
    seen = len(harness.double.calls)
    await harness.command(ALEX, "/times", "08:45")  # a newer change in between
    later = len(harness.double.calls)
    assert later > seen
    await harness.process(times)  # Telegram sends the old one again
    assert len(harness.double.calls) == later
    async with harness.state.sessions.begin() as session:
        person = await repositories.person_by_telegram_id(session, ALEX)
        assert person is not None
        schedules = await repositories.schedules_of(session, person.id)
    assert [s.local_time.strftime("%H:%M") for s in schedules] == ["08:45"]


async def test_for_someone_who_never_said_yes_only_the_update_number_is_kept(
    harness: BotHarness, clock: FakeClock
) -> None:
    stranger = ALEX + 99
    for text in ("/help", "/times 08:00", "hello"):
        command, _, args = text.partition(" ")
        if command.startswith("/"):
            await harness.command(stranger, command, args)
        else:
            await harness.say(stranger, text)
    assert await harness.person(stranger) is None
    async with harness.state.sessions.begin() as session:
        rows = (await session.execute(select(HandledUpdate))).scalars().all()
    assert len(rows) == 3
    assert {c.name for c in HandledUpdate.__table__.columns} == {"update_id", "handled_at"}


async def test_numbers_older_than_two_days_are_forgotten_by_the_hourly_job(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.command(ALEX, "/help")
    clock.advance(seconds=KEEP_FOR.total_seconds() - 60)
    await harness.command(ALEX, "/help")
    clock.advance(seconds=120)  # the first is now older than KEEP_FOR, the second is not
    job = harness.application.job_queue
    assert job is not None
    (forget,) = job.get_jobs_by_name("forget-handled-updates")
    assert forget.job.trigger.interval == once.FORGET_EVERY
    context = BotContext.from_job(forget, harness.application)
    await once.forget_old(context)
    async with harness.state.sessions.begin() as session:
        left = (await session.execute(select(HandledUpdate.handled_at))).scalars().all()
    assert left == [clock() - timedelta(seconds=120)]


class PartnerLineHeld(BotDouble):
    """Holds the first line to the partner until released, as a slow Telegram would."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        data = args[0] if args else kwargs.get("request_data")
        params = data.parameters if data is not None else {}
        to_sam = url.endswith("/sendMessage") and params.get("chat_id") == SAM
        if to_sam and self.armed and not self.holding.is_set():
            self.holding.set()
            await self.release.wait()
        return await super().do_request(url, method, *args, **kwargs)


async def test_the_partner_ends_up_seeing_the_newer_answer_changed_on_another_instance(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The first shared line is still on its way when another instance changes the answer
    and finds no line to edit yet: the partner still ends up reading the newer answer."""
    telegram = PartnerLineHeld()
    async with (
        BotHarness.running(sessions, clock, double=telegram) as first,
        BotHarness.running(sessions, clock, double=telegram) as second,
    ):
        await pair(first)
        await choose_sharing(first, ALEX, SharingLevel.ALL)
        delivery_id = await deliver_reminder(first, clock, ALEX)
        heavy, steady = tap(first, delivery_id, Mood.HEAVY), tap(first, delivery_id, Mood.STEADY)
        before = len(calls_to_chat(first, SAM))
        telegram.armed = True
        heavy_handled = asyncio.create_task(first.process(heavy))
        await asyncio.wait_for(telegram.holding.wait(), 10)
        await second.process(steady)
        telegram.release.set()
        await asyncio.wait_for(heavy_handled, 10)
        assert await kept(first) == [Mood.STEADY]
        lines = [
            c
            for c in calls_to_chat(first, SAM)[before:]
            if c.method in ("sendMessage", "editMessageText")
        ]
        assert lines[-1].params["text"] == shared_line(first, "sharing.partner_checked_in.steady")
