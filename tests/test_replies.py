"""Replies that fit the moment: after /stop and /delete, to things that are not text, to quiet
hours over a chosen time, and /checkins when no buttons will come."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from reminderbot.delivery.reminder import checkin_data
from reminderbot.storage.models import Mood
from reminderbot.telegram import callbacks
from tests.support import factories
from tests.support.harness import BotHarness, FakeClock

ALEX = 7101
SAM = 7102
MEDIA = (
    "voice",
    "sticker",
    "photo",
    "video",
    "video_note",
    "audio",
    "animation",
    "document",
    "location",
    "contact",
)


async def stop(harness: BotHarness, user_id: int) -> None:
    await harness.command(user_id, "/stop")
    await harness.press(user_id, callbacks.stop_data(True))


async def delete(harness: BotHarness, user_id: int) -> None:
    await harness.command(user_id, "/delete")
    await harness.press(user_id, callbacks.delete_data(True))


async def times_of(harness: BotHarness, user_id: int) -> list[time]:
    from reminderbot.services import schedules

    person = await harness.person(user_id)
    assert person is not None
    async with harness.state.sessions.begin() as session:
        return await schedules.times_of(session, person.id)


# --------------------------------------------------------------------------- free text
async def test_free_text_from_someone_active_points_to_support(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/timezone", "UTC")  # the question after the yes is answered
    await harness.say(ALEX, "it is hard today")
    assert harness.last_text(ALEX) == harness.text("errors.free_text")
    assert "/support" in harness.text("errors.free_text")


async def test_free_text_after_stop_says_reminders_are_stopped(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await stop(harness, ALEX)
    await harness.say(ALEX, "are you there")
    assert harness.last_text(ALEX) == harness.text("errors.free_text_stopped")


@pytest.mark.parametrize("history", ["deleted", "never started"])
async def test_free_text_with_nothing_held_promises_no_times(
    harness: BotHarness, history: str
) -> None:
    if history == "deleted":
        await harness.join(ALEX)
        await delete(harness, ALEX)
    await harness.say(ALEX, "hello?")
    assert harness.last_text(ALEX) == harness.text("errors.free_text_no_data")
    assert await harness.person(ALEX) is None  # writing stores nothing


# --------------------------------------------------------------------------- media
@pytest.mark.parametrize("kind", MEDIA)
@pytest.mark.parametrize("who", ["active", "stopped", "nobody"])
async def test_media_gets_a_short_reply_and_is_never_downloaded(
    harness: BotHarness, kind: str, who: str
) -> None:
    if who != "nobody":
        await harness.join(ALEX)
    if who == "stopped":
        await stop(harness, ALEX)
    before = len(harness.seen(ALEX))
    update = factories.media_update(harness.bot, ALEX, kind, caption="words in a caption")
    await harness.process(update)
    assert harness.all_texts(ALEX)[before:] == [harness.text("errors.media_not_read")]
    assert harness.double.attempts_to("getFile") == 0
    assert "/support" in harness.text("errors.media_not_read")


async def test_a_burst_of_media_gets_the_pointer_once_a_minute(
    harness: BotHarness, clock: FakeClock
) -> None:
    # An album arrives as one update per photo, and stickers come in runs: one pointer is
    # enough, and a reply per item would also run into Telegram's one-a-second per chat.
    await harness.join(ALEX)
    clock.set(datetime(2026, 3, 2, 12, tzinfo=UTC))
    before = len(harness.seen(ALEX))
    for kind in ["photo", "photo", "photo", "sticker", "sticker"]:
        await harness.process(factories.media_update(harness.bot, ALEX, kind))
        clock.advance(seconds=5)
    assert harness.all_texts(ALEX)[before:] == [harness.text("errors.media_not_read")]
    # Someone else's media is answered as usual.
    await harness.process(factories.media_update(harness.bot, SAM, "voice"))
    assert harness.last_text(SAM) == harness.text("errors.media_not_read")
    # A minute after the pointer, it is said again.
    clock.set(datetime(2026, 3, 2, 12, 1, tzinfo=UTC))
    await harness.process(factories.media_update(harness.bot, ALEX, "voice"))
    assert harness.all_texts(ALEX)[before:] == [harness.text("errors.media_not_read")] * 2


async def test_media_during_a_note_window_is_not_a_note(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.join(ALEX)
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    await harness.press(ALEX, checkin_data(delivery.id, Mood.HEAVY))
    await harness.process(factories.media_update(harness.bot, ALEX, "voice"))
    assert harness.last_text(ALEX) == harness.text("errors.media_not_read")
    assert harness.double.attempts_to("getFile") == 0


# --------------------------------------------------------------------------- quiet hours
def move_buttons(harness: BotHarness) -> list[tuple[str, str]]:
    for call in reversed(harness.seen(ALEX)):
        rows = harness.double.buttons(call)
        if rows:
            return [button for row in rows for button in row]
    return []


async def test_quiet_hours_over_a_chosen_time_say_so_and_offer_to_move_it(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "08:30 23:00")
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    texts = harness.all_texts(ALEX)
    assert texts[-2] == harness.text("settings.quiet_set", start="22:00", end="07:00")
    assert texts[-1] == harness.text(
        "settings.quiet_covers", times="23:00", start="22:00", end="07:00"
    )
    buttons = move_buttons(harness)
    assert (harness.text("buttons.move_time", time="23:00", to="21:30"), "set:move:2300-2130") in (
        buttons
    )
    assert (harness.text("buttons.move_time", time="23:00", to="07:00"), "set:move:2300-0700") in (
        buttons
    )
    await harness.press(ALEX, callbacks.move_data(time(23, 0), time(7, 0)))
    assert await times_of(harness, ALEX) == [time(7, 0), time(8, 30)]
    # The moved time is sent the next morning, at 07:00.
    clock.set(datetime(2026, 3, 3, 7, tzinfo=UTC))
    stats = await harness.tick()
    assert stats.sent == 1


async def test_quiet_hours_that_cover_no_time_add_nothing(harness: BotHarness) -> None:
    await harness.join(ALEX)  # 09:00
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    assert harness.last_text(ALEX) == harness.text("settings.quiet_set", start="22:00", end="07:00")


async def test_times_chosen_inside_quiet_hours_say_so(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    await harness.command(ALEX, "/times", "06:00 20:00")
    assert harness.last_text(ALEX) == harness.text(
        "settings.quiet_covers", times="06:00", start="22:00", end="07:00"
    )
    assert ("set:move:0600-0700") in [data for _, data in move_buttons(harness)]


async def test_a_quiet_preset_over_a_chosen_time_says_so(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "21:30")
    await harness.command(ALEX, "/settings")
    await harness.press(ALEX, callbacks.settings_data("quietmenu"))
    await harness.press(ALEX, callbacks.settings_data("quiet", "21-08"))
    assert harness.last_text(ALEX) == harness.text(
        "settings.quiet_covers", times="21:30", start="21:00", end="08:00"
    )
    await harness.press(ALEX, callbacks.move_data(time(21, 30), time(20, 30)))
    assert await times_of(harness, ALEX) == [time(20, 30)]


async def test_an_old_move_button_changes_nothing(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "23:00")
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    await harness.command(ALEX, "/times", "10:00")
    await harness.press(ALEX, callbacks.move_data(time(23, 0), time(7, 0)))
    assert harness.answers()[-1] == harness.text("answers.stale_button")
    assert await times_of(harness, ALEX) == [time(10, 0)]


# --------------------------------------------------------------------------- /checkins
async def test_checkins_after_delete_promise_no_buttons(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await delete(harness, ALEX)
    await harness.command(ALEX, "/checkins")
    assert harness.last_text(ALEX) == harness.text("history.no_data")


async def test_checkins_after_stop_with_none_promise_no_buttons(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await stop(harness, ALEX)
    await harness.command(ALEX, "/checkins")
    assert harness.last_text(ALEX) == harness.text("history.none_stopped")


async def test_a_move_into_quiet_hours_changed_since_says_so_again(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "23:00")
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    await harness.command(ALEX, "/quiet", "21:00 08:00")  # the earlier offer is now out of date
    await harness.press(ALEX, callbacks.move_data(time(23, 0), time(21, 30)))
    assert await times_of(harness, ALEX) == [time(21, 30)]
    assert harness.last_text(ALEX) == harness.text(
        "settings.quiet_covers", times="21:30", start="21:00", end="08:00"
    )
