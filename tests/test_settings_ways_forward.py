"""/settings and its neighbours without dead ends: each section says what it is for and what
else works there, the current choice is marked, going back saves nothing, and an old quiet-hours
offer is judged by what is stored now."""

from __future__ import annotations

from datetime import time

from reminderbot.services.pausing import PauseLength
from reminderbot.telegram import callbacks
from tests.support.harness import BotHarness
from tests.test_settings_handlers import schedule_times

ALEX = 8401


def shown(harness: BotHarness) -> str:
    """The text of the settings message as it reads now (pressing edits it in place)."""
    for call in reversed(harness.double.calls):
        if call.params.get("chat_id") == ALEX and "text" in call.params:
            return str(call.params["text"])
    raise AssertionError("nothing shown")


async def open_section(harness: BotHarness, section: str) -> None:
    await harness.command(ALEX, "/settings")
    await harness.press(ALEX, callbacks.settings_data(section))


async def test_the_timezone_section_says_a_city_can_be_typed_and_reads_it(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/timezone", "UTC")  # the question after the yes is answered
    await open_section(harness, "tzmenu")
    assert shown(harness).startswith(harness.text("settings.section.timezone"))
    await harness.say(ALEX, "Berlin")
    person = await harness.person(ALEX)
    assert person is not None and person.timezone == "Europe/Berlin"


async def test_the_times_section_shows_the_current_times_and_the_command(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "07:30 21:00")
    await open_section(harness, "timesmenu")
    hint = harness.text("settings.section.times", times="07:30, 21:00")
    assert shown(harness).startswith(hint)
    assert "/times" in hint


async def test_quiet_hours_mark_the_current_choice(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await open_section(harness, "quietmenu")
    chosen = harness.text("buttons.chosen", label=harness.text("buttons.quiet_off"))
    assert chosen in harness.last_buttons(ALEX) or chosen in buttons_of_last_edit(harness)
    await harness.press(ALEX, callbacks.settings_data("quiet", "22-07"))
    await harness.press(ALEX, callbacks.settings_data("quietmenu"))
    marked = harness.text("buttons.chosen", label=harness.text("buttons.quiet_22_07"))
    assert marked in buttons_of_last_edit(harness)
    assert chosen not in buttons_of_last_edit(harness)


def buttons_of_last_edit(harness: BotHarness) -> list[str]:
    for call in reversed(harness.double.calls):
        if call.params.get("chat_id") == ALEX and harness.double.buttons(call):
            return [text for row in harness.double.buttons(call) for text, _ in row]
    return []


async def test_about_me_and_discreet_delivery_are_explained(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await open_section(harness, "whomenu")
    assert shown(harness).startswith(harness.text("settings.section.about_me"))
    await harness.press(ALEX, callbacks.settings_data("discreetmenu"))
    first_line = harness.text("reminder.discreet_first_line")
    hint = harness.text("settings.section.discreet", first_line=first_line)
    assert shown(harness).startswith(hint)


async def test_back_and_opening_a_section_save_nothing(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await open_section(harness, "daysmenu")
    await harness.press(ALEX, callbacks.settings_data("main"))
    saved = harness.text("answers.saved")
    assert saved not in harness.answers()[-2:]
    # A real change still says so.
    await harness.press(ALEX, callbacks.settings_data("quietmenu"))
    await harness.press(ALEX, callbacks.settings_data("quiet", "22-07"))
    assert harness.answers()[-1] == saved


async def test_the_quiet_warning_speaks_of_several_times_and_offers_to_keep_them(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "06:00 23:00")
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    assert harness.last_text(ALEX) == harness.text(
        "settings.quiet_covers_many", start="22:00", end="07:00", times="06:00, 23:00"
    )
    assert harness.text("buttons.keep_times") in harness.last_buttons(ALEX)
    await harness.press_label(ALEX, harness.text("buttons.keep_times"))
    assert shown(harness) == harness.text("settings.quiet_kept")
    assert await schedule_times(harness) == [time(6, 0), time(23, 0)]


async def test_one_covered_time_is_spoken_of_as_one(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "06:00")
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    assert harness.last_text(ALEX) == harness.text(
        "settings.quiet_covers", start="22:00", end="07:00", times="06:00"
    )


async def test_an_old_move_button_does_nothing_after_quiet_hours_are_off(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "06:00")
    await harness.command(ALEX, "/quiet", "22:00 07:00")
    move = callbacks.move_data(time(6, 0), time(7, 0))
    assert harness.text("buttons.move_time", time="06:00", to="07:00") in harness.last_buttons(ALEX)
    await harness.command(ALEX, "/quiet", "off")
    await harness.press(ALEX, move)
    assert harness.answers()[-1] == harness.text("answers.stale_button")
    assert await schedule_times(harness) == [time(6, 0)]


async def test_quiet_is_in_the_command_menu(harness: BotHarness) -> None:
    menus = harness.double.calls_to("setMyCommands")  # the default, then one per language
    assert len(menus) == len(harness.state.catalog.languages)
    for menu in menus:
        commands = menu.params["commands"]
        assert isinstance(commands, list)
        assert "quiet" in [c["command"] for c in commands]


async def test_a_pause_for_today_ends_tomorrow_in_words(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/pause")
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.TODAY, shared=False))
    assert shown(harness) == harness.text("pause.done_until", until=harness.text("pause.tomorrow"))
