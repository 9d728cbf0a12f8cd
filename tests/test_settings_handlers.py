"""Settings as a person changes them: /timezone, /times, /quiet and the /settings buttons."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from sqlalchemy import select

from reminderbot.services.schedules import MAX_DAILY_TIMES
from reminderbot.services.timekeeping import place_name
from reminderbot.storage.models import Audience, Schedule
from reminderbot.telegram import callbacks
from tests.support.harness import BotHarness

ALEX = 8001


async def schedule_times(harness: BotHarness) -> list[time]:
    async with harness.state.sessions.begin() as session:
        return list(
            (
                await session.execute(select(Schedule.local_time).order_by(Schedule.local_time))
            ).scalars()
        )


async def test_first_yes_gives_one_daily_reminder_at_the_default_time(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    assert await schedule_times(harness) == [time(9, 0)]
    async with harness.state.sessions.begin() as session:
        due = (await session.execute(select(Schedule.next_due_at))).scalar_one()
    assert due == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_timezone_buttons_after_yes_and_typed_city(harness: BotHarness) -> None:
    await harness.join(ALEX)
    # A place on the button, the IANA name in its data (issue 21, finding 13).
    assert "Berlin" in harness.last_buttons(ALEX)
    assert harness.button_data(ALEX, "Berlin") == callbacks.settings_data("tz", "Europe/Berlin")
    assert harness.button_data(ALEX, "New York") == callbacks.settings_data(
        "tz", "America/New_York"
    )
    assert not [label for label in harness.last_buttons(ALEX) if "/" in label or "_" in label]
    await harness.say(ALEX, "Berlin")
    person = await harness.person(ALEX)
    assert person is not None and person.timezone == "Europe/Berlin"
    assert harness.last_text(ALEX) == harness.text(
        "settings.timezone_set", timezone="Europe/Berlin", times="09:00"
    )
    # 09:00 in Berlin in March (CET) is 08:00 UTC.
    async with harness.state.sessions.begin() as session:
        due = (await session.execute(select(Schedule.next_due_at))).scalar_one()
    assert due == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    # Afterwards, free text is no longer read as a timezone.
    await harness.say(ALEX, "Paris")
    assert harness.last_text(ALEX) == harness.text("errors.free_text")


async def test_timezone_button_press(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.press(ALEX, callbacks.settings_data("tz", "America/New_York"))
    person = await harness.person(ALEX)
    assert person is not None and person.timezone == "America/New_York"
    assert harness.answers()[-1] == harness.text("answers.saved")


async def test_timezone_command_forms_and_suggestions(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/timezone", "UTC+2")
    person = await harness.person(ALEX)
    assert person is not None and person.timezone == "UTC+02:00"
    await harness.command(ALEX, "/timezone", "Berlni")
    assert harness.last_text(ALEX) == harness.text("settings.timezone_suggest")
    assert harness.button_data(ALEX, "Berlin") == callbacks.settings_data("tz", "Europe/Berlin")
    await harness.command(ALEX, "/timezone", "Qwxyzzy")
    assert harness.last_text(ALEX) == harness.text("settings.timezone_unknown")
    person = await harness.person(ALEX)
    assert person is not None and person.timezone == "UTC+02:00"


async def test_times_command_sets_several_times(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "20:00 08:30")
    assert await schedule_times(harness) == [time(8, 30), time(20, 0)]
    assert harness.last_text(ALEX) == harness.text(
        "settings.times_set", times="08:30, 20:00", timezone="UTC"
    )


async def test_times_command_refuses_anything_else_with_an_example(harness: BotHarness) -> None:
    await harness.join(ALEX)
    for args in ("", "tomorrow", "25:00", "08:30 nine", "1 2 3 4 5 6 7"):
        await harness.command(ALEX, "/times", args)
        most = harness.text(f"numbers.{MAX_DAILY_TIMES}")  # "one to six", in words
        assert harness.last_text(ALEX) == harness.text("settings.times_usage", most=most)
    assert await schedule_times(harness) == [time(9, 0)]


async def test_settings_need_consent_first(harness: BotHarness) -> None:
    for command in ("/settings", "/times", "/timezone", "/pause", "/resume", "/quiet"):
        await harness.command(ALEX, command, "08:00" if command == "/times" else "")
        assert harness.last_text(ALEX) == harness.text("settings.start_first")
    assert await harness.person(ALEX) is None


async def test_settings_summary_and_buttons_change_each_part(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/settings")
    summary = harness.last_text(ALEX)
    assert "Timezone: UTC" in summary and "Times: 09:00" in summary
    await harness.press(ALEX, callbacks.settings_data("timesmenu"))
    await harness.press(ALEX, callbacks.settings_data("times", "both"))
    assert await schedule_times(harness) == [time(8, 30), time(20, 0)]
    await harness.press(ALEX, callbacks.settings_data("quietmenu"))
    await harness.press(ALEX, callbacks.settings_data("quiet", "22-07"))
    await harness.press(ALEX, callbacks.settings_data("kindsmenu"))
    await harness.press(ALEX, callbacks.settings_data("kind", "practice"))
    await harness.press(ALEX, callbacks.settings_data("whomenu"))
    await harness.press(ALEX, callbacks.settings_data("who", "hurt_partner"))
    await harness.press(ALEX, callbacks.settings_data("discreetmenu"))
    await harness.press(ALEX, callbacks.settings_data("discreet", "silent"))
    person = await harness.person(ALEX)
    assert person is not None
    assert (person.quiet_start, person.quiet_end) == (time(22), time(7))
    assert person.wants_practices is False and person.wants_affirmations is True
    assert person.audience is Audience.HURT_PARTNER
    assert person.silent is True
    final = harness.double.calls_to("editMessageText", chat_id=ALEX)[-1].params["text"]
    assert "Quiet hours: 22:00–07:00" in str(final)
    assert "Practice reminders: off" in str(final)


async def test_silent_and_discreet_change_what_a_reminder_looks_like(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/settings")
    await harness.press(ALEX, callbacks.settings_data("discreetmenu"))
    await harness.press(ALEX, callbacks.settings_data("discreet", "preview"))
    await harness.press(ALEX, callbacks.settings_data("discreet", "silent"))
    harness.state.clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))  # type: ignore[attr-defined]
    await harness.tick()
    reminder = harness.seen(ALEX)[-1].params
    assert str(reminder["text"]).startswith(harness.text("reminder.discreet_first_line") + "\n\n")
    assert reminder["disable_notification"] is True
    assert reminder["protect_content"] is True


async def test_forged_settings_value_is_refused(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.press(ALEX, callbacks.settings_data("tz", "Mars/Olympus"), message_id=1)
    await harness.press(ALEX, callbacks.settings_data("day", "9"), message_id=1)
    await harness.press(ALEX, callbacks.settings_data("who", "admin"), message_id=1)
    assert harness.answers()[-3:] == [harness.text("answers.stale_button")] * 3
    person = await harness.person(ALEX)
    assert person is not None and person.timezone == "UTC" and person.weekdays == 0b1111111


@pytest.mark.parametrize(
    ("zone", "place"),
    [
        ("America/New_York", "New York"),
        ("America/Argentina/Buenos_Aires", "Buenos Aires"),
        ("Europe/Berlin", "Berlin"),
        ("UTC", "UTC"),
        ("UTC+05:30", "UTC+05:30"),
        ("Etc/GMT+5", "UTC-5"),  # POSIX signs: five hours behind UTC
        ("Etc/GMT-14", "UTC+14"),
        ("Etc/UTC", "UTC"),
    ],
)
def test_a_timezone_reads_as_a_place(zone: str, place: str) -> None:
    assert place_name(zone) == place
