"""Reminders that arrive on time: the dispatcher, check-ins, pausing, Telegram's errors."""

from __future__ import annotations

import asyncio
import itertools
import time as wall
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from reminderbot.delivery.dispatcher import LEASE, Reason, TickStats
from reminderbot.delivery.reminder import checkin_data, pause_data
from reminderbot.services.pausing import PauseLength
from reminderbot.storage.db import create_session_factory
from reminderbot.storage.models import CheckIn, Delivery, DeliveryStatus, Mood, Person, Schedule
from reminderbot.telegram import callbacks
from tests.support.databases import engine_for
from tests.support.harness import BotHarness, FakeClock, make_dispatcher

ALEX = 6001
SAM = 6002


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def reminders(harness: BotHarness, chat_id: int) -> list[dict[str, object]]:
    """The reminders a person received: messages with check-in buttons."""
    out = []
    for call in harness.seen(chat_id):
        if any(d.startswith("ci:") for row in harness.double.buttons(call) for _, d in row):
            out.append(call.params)
    return out


async def joined(harness: BotHarness, user_id: int, times: str = "09:00") -> None:
    await harness.join(user_id)
    await harness.command(user_id, "/times", times)


async def test_a_reminder_arrives_at_the_chosen_time_with_checkin_and_pause(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 8, 59, 59))
    await harness.tick()
    assert reminders(harness, ALEX) == []
    clock.set(utc(2026, 3, 2, 9, 0, 0))
    stats = await harness.tick()
    assert stats.sent == 1
    (reminder,) = reminders(harness, ALEX)
    pool = {i.text for i in harness.state.catalog.items("en", ["affirmation", "practice"])}  # type: ignore[list-item]
    assert reminder["text"] in pool
    assert reminder["protect_content"] is True
    labels = [t for row in harness.double.buttons(harness.seen(ALEX)[-1]) for t, _ in row]
    assert labels == [
        harness.text("buttons.mood_steady"),
        harness.text("buttons.mood_heavy"),
        harness.text("buttons.mood_need_space"),
        harness.text("buttons.mood_open"),
        harness.text("buttons.pause"),
    ]
    (delivery,) = await harness.deliveries(ALEX)
    assert delivery.status is DeliveryStatus.SENT
    assert delivery.telegram_message_id is not None
    assert delivery.due_at == utc(2026, 3, 2, 9)
    # The same minute again sends nothing more; the next one is tomorrow.
    await harness.tick()
    assert len(reminders(harness, ALEX)) == 1
    person = await harness.person(ALEX)
    assert person is not None
    async with harness.state.sessions.begin() as session:
        due = (await session.execute(select(Schedule.next_due_at))).scalar_one()
    assert due == utc(2026, 3, 3, 9)


async def test_each_schedule_in_one_claim_moves_on_to_its_own_next_occurrence(
    harness: BotHarness, clock: FakeClock
) -> None:
    # Claimed together at 09:00 UTC on the eve of New York's spring-forward: Alex and Sam
    # share tomorrow's 09:00 UTC, Cam's 04:00 in New York is 08:00 UTC tomorrow.
    cam = 6003
    clock.set(utc(2026, 3, 7, 8))
    await joined(harness, ALEX, "09:00")
    await joined(harness, SAM, "09:00")
    await harness.join(cam)
    await harness.command(cam, "/timezone", "America/New_York")
    await harness.command(cam, "/times", "04:00")
    clock.set(utc(2026, 3, 7, 9))
    stats = await harness.tick()
    assert stats.sent == 3
    async with harness.state.sessions.begin() as session:
        rows = await session.execute(
            select(Person.chat_id, Schedule.next_due_at).join(
                Person, Person.id == Schedule.person_id
            )
        )
        next_due = {user_id: due for user_id, due in rows}
    assert next_due == {
        ALEX: utc(2026, 3, 8, 9),
        SAM: utc(2026, 3, 8, 9),
        cam: utc(2026, 3, 8, 8),
    }


async def test_no_line_repeats_until_the_pool_is_used_up(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    pool = harness.state.catalog.items("en", ["affirmation", "practice"])  # type: ignore[list-item]
    texts = []
    for day in range(len(pool) + 3):
        clock.set(utc(2026, 3, 2, 9) + timedelta(days=day))
        await harness.tick()
        texts.append(reminders(harness, ALEX)[-1]["text"])
    first_round = texts[: len(pool)]
    assert len(set(first_round)) == len(pool)
    assert all(a != b for a, b in itertools.pairwise(texts))


async def test_checkin_is_answered_recorded_once_and_shown_on_the_reminder(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    (delivery,) = await harness.deliveries(ALEX)
    await harness.press(ALEX, checkin_data(delivery.id, Mood.STEADY))
    assert harness.answers()[-1] == harness.text("answers.checked_in", mood="Steady")
    edit = harness.double.calls_to("editMessageText", chat_id=ALEX)[-1]
    assert str(edit.params["text"]).endswith(harness.text("checkin.recorded_line", mood="Steady"))
    labels = [t for row in harness.double.buttons(edit) for t, _ in row]
    assert harness.text("buttons.chosen", label="Steady") in labels
    assert harness.text("buttons.pause") in labels

    await harness.press(ALEX, checkin_data(delivery.id, Mood.HEAVY))
    async with harness.state.sessions.begin() as session:
        rows = (await session.execute(select(CheckIn))).scalars().all()
    assert [r.mood for r in rows] == [Mood.HEAVY]


async def test_checkin_on_someone_elses_reminder_changes_nothing(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    await joined(harness, SAM, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    (alex_delivery,) = await harness.deliveries(ALEX)
    await harness.press(SAM, checkin_data(alex_delivery.id, Mood.NEED_SPACE), message_id=1)
    assert harness.answers()[-1] == harness.text("answers.stale_button")
    async with harness.state.sessions.begin() as session:
        assert (await session.execute(select(func.count(CheckIn.id)))).scalar_one() == 0


async def test_pause_from_a_reminder_stops_everything_until_it_ends(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    (delivery,) = await harness.deliveries(ALEX)
    await harness.press(ALEX, pause_data(delivery.id))
    assert harness.last_text(ALEX) == harness.text("pause.choose")
    clock.set(utc(2026, 3, 2, 10))
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.THREE_DAYS))
    assert harness.double.calls_to("editMessageText")[-1].params["text"] == harness.text(
        "pause.done_until", until="Thu 05 Mar, 10:00"
    )
    for day in (3, 4, 5):
        clock.set(utc(2026, 3, day, 9))
        await harness.tick()
    assert len(reminders(harness, ALEX)) == 1
    skipped = [d for d in await harness.deliveries(ALEX) if d.status is DeliveryStatus.SKIPPED]
    assert [d.reason for d in skipped] == [Reason.PAUSED] * 3
    # The pause ends by itself with one gentle line; the next reminder arrives as usual.
    clock.set(utc(2026, 3, 5, 10, 0, 1))
    await harness.tick()
    assert harness.last_text(ALEX) == harness.text("pause.ended_by_itself")
    await harness.tick()
    assert harness.all_texts(ALEX).count(harness.text("pause.ended_by_itself")) == 1
    clock.set(utc(2026, 3, 6, 9))
    await harness.tick()
    assert len(reminders(harness, ALEX)) == 2


async def test_pause_end_line_waits_for_quiet_hours_to_end(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    clock.set(utc(2026, 3, 2, 23, 30))
    await harness.command(ALEX, "/pause")
    # Ends at midnight, inside quiet hours
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.TODAY))
    clock.set(utc(2026, 3, 3, 0, 0, 5))
    await harness.tick()
    assert harness.text("pause.ended_by_itself") not in harness.all_texts(ALEX)
    clock.set(utc(2026, 3, 3, 7, 0, 1))
    await harness.tick()
    assert harness.last_text(ALEX) == harness.text("pause.ended_by_itself")


async def test_until_i_resume_lasts_until_resume(harness: BotHarness, clock: FakeClock) -> None:
    await joined(harness, ALEX, "09:00")
    await harness.command(ALEX, "/pause")
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.UNTIL_RESUMED))
    for day in range(2, 12):
        clock.set(utc(2026, 3, day, 9))
        await harness.tick()
    assert reminders(harness, ALEX) == []
    await harness.command(ALEX, "/resume")
    when = harness.text("settings.when.times", times="09:00", timezone="UTC")
    assert harness.last_text(ALEX) == harness.text("pause.resumed", when=when)
    clock.set(utc(2026, 3, 12, 9))
    await harness.tick()
    assert len(reminders(harness, ALEX)) == 1
    await harness.command(ALEX, "/resume")
    assert harness.last_text(ALEX) == harness.text("pause.not_paused")


async def test_a_pause_that_lands_between_claim_and_send_stops_the_message(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    dispatcher = harness.dispatcher
    stats = TickStats()
    claimed = await dispatcher._claim(stats)
    assert len(claimed) == 1
    await harness.command(ALEX, "/pause")
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.TODAY))
    await dispatcher._send_all(claimed, stats)
    assert reminders(harness, ALEX) == []
    (delivery,) = await harness.deliveries(ALEX)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.SKIPPED, Reason.PAUSED)


async def test_a_pause_written_by_another_instance_is_seen_before_sending(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    dispatcher = harness.dispatcher
    stats = TickStats()
    claimed = await dispatcher._claim(stats)
    async with harness.state.sessions.begin() as session:  # no in-process signal
        await session.execute(update(Person).values(paused_at=clock.now, paused_until=None))
    await dispatcher._send_all(claimed, stats)
    assert reminders(harness, ALEX) == []


async def test_stop_between_claim_and_send_stops_the_message(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    stats = TickStats()
    claimed = await harness.dispatcher._claim(stats)
    await harness.command(ALEX, "/stop")
    await harness.press(ALEX, callbacks.stop_data(True))
    await harness.dispatcher._send_all(claimed, stats)
    assert reminders(harness, ALEX) == []


async def test_429_is_waited_out_and_the_message_sent_after(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="429", retry_after=1)
    started = wall.monotonic()
    stats = await harness.tick()
    assert wall.monotonic() - started >= 1.0
    assert stats.rate_limited == 1 and stats.sent == 1
    assert len(reminders(harness, ALEX)) == 1
    (delivery,) = await harness.deliveries(ALEX)
    assert delivery.status is DeliveryStatus.SENT


@pytest.mark.parametrize(
    ("error", "reason"), [("403", Reason.BLOCKED), ("400_chat_not_found", Reason.CHAT_NOT_FOUND)]
)
async def test_blocked_or_missing_chat_marks_unreachable_until_they_write(
    harness: BotHarness, clock: FakeClock, error: str, reason: Reason
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    harness.double.fail_next("sendMessage", chat_id=ALEX, error=error)  # type: ignore[arg-type]
    await harness.tick()
    (delivery,) = await harness.deliveries(ALEX)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.FAILED, reason)
    person = await harness.person(ALEX)
    assert person is not None and not person.reachable
    calls_before = len(harness.double.calls_to("sendMessage", chat_id=ALEX))
    for day in (3, 4, 5):
        clock.set(utc(2026, 3, day, 9))
        await harness.tick()
    assert len(harness.double.calls_to("sendMessage", chat_id=ALEX)) == calls_before
    # They write again: reachable, and the next reminder arrives.
    clock.set(utc(2026, 3, 5, 12))
    await harness.command(ALEX, "/help")
    person = await harness.person(ALEX)
    assert person is not None and person.reachable
    clock.set(utc(2026, 3, 6, 9))
    await harness.tick()
    assert len(reminders(harness, ALEX)) == 1


async def test_a_person_found_blocked_gets_no_second_send_in_the_same_batch(
    harness: BotHarness, clock: FakeClock
) -> None:
    # A retry and a new occurrence of one person in one batch, one message a chunk: the 403 to
    # the first marks them unreachable, and the second is skipped, not sent into the block.
    await joined(harness, ALEX, "09:00 09:01")
    clock.set(utc(2026, 3, 2, 9))
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="network")
    await harness.tick()
    (retry,) = await harness.deliveries(ALEX)
    assert retry.status is DeliveryStatus.CLAIMED
    async with harness.state.sessions.begin() as session:
        await session.execute(
            update(Delivery).where(Delivery.id == retry.id).values(retry_at=utc(2026, 3, 2, 9, 1))
        )
    clock.set(utc(2026, 3, 2, 9, 1))
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="403", times=5)
    before = harness.double.attempts_to("sendMessage", chat_id=ALEX)
    dispatcher = make_dispatcher(harness.state.sessions, harness.bot, clock, rate=5)
    assert dispatcher.recheck_every == 1
    stats = await dispatcher.tick()
    assert stats.claimed == 1 and stats.retried == 1
    assert harness.double.attempts_to("sendMessage", chat_id=ALEX) - before == 1
    outcomes = {d.due_at: (d.status, d.reason) for d in await harness.deliveries(ALEX)}
    assert outcomes == {
        utc(2026, 3, 2, 9): (DeliveryStatus.FAILED, Reason.BLOCKED),
        utc(2026, 3, 2, 9, 1): (DeliveryStatus.SKIPPED, Reason.INACTIVE),
    }


async def test_a_timeout_is_retried_at_most_once(harness: BotHarness, clock: FakeClock) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    before = harness.double.attempts_to("sendMessage", chat_id=ALEX)
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="timeout", times=5)
    await harness.tick()
    for minute in range(1, 30):
        clock.set(utc(2026, 3, 2, 9, minute))
        await harness.tick()
    attempts = harness.double.attempts_to("sendMessage", chat_id=ALEX) - before
    assert attempts == 2
    (delivery,) = await harness.deliveries(ALEX)
    assert (delivery.status, delivery.reason) == (DeliveryStatus.FAILED, Reason.UNCERTAIN)


async def test_network_errors_retry_with_backoff_then_send(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="network", times=3)
    await harness.tick()
    (delivery,) = await harness.deliveries(ALEX)
    assert delivery.status is DeliveryStatus.CLAIMED
    first_retry = delivery.retry_at
    assert first_retry is not None and first_retry > clock.now
    for second in range(0, 120, 2):
        clock.set(utc(2026, 3, 2, 9) + timedelta(seconds=second))
        await harness.tick()
    assert len(reminders(harness, ALEX)) == 1
    (delivery,) = await harness.deliveries(ALEX)
    assert delivery.status is DeliveryStatus.SENT and delivery.attempts == 4


async def test_restart_sends_a_delivery_left_mid_send_exactly_once(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    stats = TickStats()
    await harness.dispatcher._claim(stats)  # claimed, then the process "dies" before sending
    assert reminders(harness, ALEX) == []
    restarted = make_dispatcher(harness.state.sessions, harness.bot, clock)
    await restarted.tick()
    assert reminders(harness, ALEX) == []  # the lease still holds
    clock.set(utc(2026, 3, 2, 9) + LEASE + timedelta(seconds=1))
    await restarted.tick()
    await restarted.tick()
    assert len(reminders(harness, ALEX)) == 1
    (delivery,) = await harness.deliveries(ALEX)
    assert delivery.status is DeliveryStatus.SENT and delivery.uncertain == 1


async def test_after_an_outage_stale_reminders_are_skipped_not_flooded(
    harness: BotHarness, clock: FakeClock
) -> None:
    clock.set(utc(2026, 3, 2, 5))
    await joined(harness, ALEX, "06:00 07:00 08:00")
    await joined(harness, SAM, "09:00")
    # Down from 05:00 to 09:45: 06:00 and 07:00 are over two hours stale, 08:00 and 09:00 not.
    clock.set(utc(2026, 3, 2, 9, 45))
    await harness.tick()
    alex = await harness.deliveries(ALEX)
    assert [(d.due_at.hour, d.status, d.reason) for d in alex] == [
        (6, DeliveryStatus.SKIPPED, Reason.STALE),
        (7, DeliveryStatus.SKIPPED, Reason.STALE),
        (8, DeliveryStatus.SENT, None),
    ]
    assert len(reminders(harness, ALEX)) == 1
    assert len(reminders(harness, SAM)) == 1


async def test_at_most_one_catch_up_message_per_person(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "08:00 08:30 09:00")
    clock.set(utc(2026, 3, 2, 9, 45))
    await harness.tick()
    assert len(reminders(harness, ALEX)) == 1
    reasons = [d.reason for d in await harness.deliveries(ALEX)]
    assert reasons == [Reason.COALESCED, Reason.COALESCED, None]


async def test_quiet_hours_skip_a_reminder_inside_them(
    harness: BotHarness, clock: FakeClock
) -> None:
    clock.set(utc(2026, 3, 2, 5))
    await joined(harness, ALEX, "06:30 09:00")
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    clock.set(utc(2026, 3, 2, 6, 30))
    await harness.tick()
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    assert len(reminders(harness, ALEX)) == 1
    assert [d.reason for d in await harness.deliveries(ALEX)] == [Reason.QUIET_HOURS, None]


async def test_dst_keeps_local_time_through_the_dispatcher(
    harness: BotHarness, clock: FakeClock
) -> None:
    clock.set(utc(2026, 3, 27, 12))
    await joined(harness, ALEX, "08:30")
    await harness.command(ALEX, "/timezone", "Europe/Berlin")
    sent_at = []
    for hour in range(0, 24 * 3 * 4):  # every 15 minutes for three days
        clock.set(utc(2026, 3, 27, 12) + timedelta(minutes=15 * hour))
        before = len(reminders(harness, ALEX))
        await harness.tick()
        if len(reminders(harness, ALEX)) > before:
            sent_at.append(clock.now)
    assert sent_at == [utc(2026, 3, 28, 7, 30), utc(2026, 3, 29, 6, 30), utc(2026, 3, 30, 6, 30)]


async def test_weekdays_setting_is_honoured(harness: BotHarness, clock: FakeClock) -> None:
    await joined(harness, ALEX, "09:00")
    await harness.command(ALEX, "/settings")
    await harness.press(ALEX, callbacks.settings_data("daysmenu"))
    await harness.press(ALEX, callbacks.settings_data("days", "work"))
    for day in range(2, 9):  # Monday 2 March to Sunday 8 March
        clock.set(utc(2026, 3, day, 9))
        await harness.tick()
    assert len(reminders(harness, ALEX)) == 5


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_dispatchers_racing_on_postgres_never_send_twice(
    harness: BotHarness, clock: FakeClock, database_url: str
) -> None:
    """SKIP LOCKED is PostgreSQL's; on SQLite one instance owns the database."""
    people = list(range(7000, 7300))
    async with harness.state.sessions.begin() as session:
        for uid in people:
            session.add(
                Person(
                    telegram_user_id=uid,
                    chat_id=uid,
                    language="en",
                    timezone="UTC",
                    consent="given",
                    consent_given_at=clock.now,
                    reachable=True,
                    content_seed=uid,
                    content_position=0,
                )
            )
        await session.flush()
        ids = (await session.execute(select(Person.id))).scalars().all()
        for pid in ids:
            session.add(
                Schedule(
                    person_id=pid,
                    local_time=datetime(2026, 1, 1, 9).time(),
                    next_due_at=utc(2026, 3, 2, 9),
                )
            )
    clock.set(utc(2026, 3, 2, 9))
    engines = [engine_for(database_url), engine_for(database_url)]
    try:
        dispatchers = [
            make_dispatcher(create_session_factory(engine), harness.bot, clock)
            for engine in engines
        ]
        for d in dispatchers:
            d.batch_size = 40  # many small claims, so the two really interleave
        results = await asyncio.gather(*(d.tick() for d in dispatchers))
    finally:
        for engine in engines:
            await engine.dispose()
    assert all(r.sent > 0 for r in results), "both instances should have taken a share"
    chats = [c.params["chat_id"] for c in harness.double.calls_to("sendMessage")]
    assert sorted(chats) == people
    async with harness.state.sessions.begin() as session:
        count = (await session.execute(select(func.count(Delivery.id)))).scalar_one()
    assert count == len(people)


async def test_claimed_ahead_of_time_and_sent_on_time_never_early(
    harness: BotHarness, clock: FakeClock
) -> None:
    """On the real clock: a tick claims what falls due before the next tick and sends it at
    its due time, so the 1 s tick adds no lateness and nothing leaves early."""
    await joined(harness, ALEX, "09:00")
    due = datetime.now(UTC) + timedelta(seconds=0.6)
    async with harness.state.sessions.begin() as session:
        await session.execute(update(Schedule).values(next_due_at=due))
    dispatcher = make_dispatcher(
        harness.state.sessions, harness.bot, lambda: datetime.now(UTC), rate=30, tick_seconds=1.0
    )
    await dispatcher.tick()
    (reminder,) = [c for c in harness.seen(ALEX) if "protect_content" in c.params]
    assert due.timestamp() <= reminder.at <= due.timestamp() + 0.25


async def test_delete_between_claim_and_send_loses_nothing_for_others(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX, "09:00")
    await joined(harness, SAM, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    stats = TickStats()
    claimed = await harness.dispatcher._claim(stats)
    assert len(claimed) == 2
    await harness.command(ALEX, "/delete")
    await harness.press(ALEX, callbacks.delete_data(True))
    await harness.dispatcher._send_all(claimed, stats)
    assert reminders(harness, ALEX) == []
    assert len(reminders(harness, SAM)) == 1
    (delivery,) = await harness.deliveries(SAM)
    assert delivery.status is DeliveryStatus.SENT


async def test_a_database_outage_is_logged_once_and_nothing_due_is_lost(
    harness: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    from reminderbot.storage.db import create_engine
    from reminderbot.telegram.app import run_tick

    await joined(harness, ALEX, "09:00")
    clock.set(utc(2026, 3, 2, 9))
    working = harness.dispatcher.sessions
    down = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    harness.dispatcher.sessions = create_session_factory(down)
    try:
        with caplog.at_level("INFO"):
            assert await run_tick(harness.dispatcher) is False
            assert await run_tick(harness.dispatcher) is False
        assert caplog.text.count("cannot reach the database") == 1
    finally:
        await down.dispose()
    harness.dispatcher.sessions = working
    assert await run_tick(harness.dispatcher) is True
    assert len(reminders(harness, ALEX)) == 1
