"""Every statement the bot makes about a person's data, times or partner, checked against the
stored rows, in each state where it could become false.

Each case brings Alex into one state (never started, on, paused, no days, every kind off,
paired, stopped, erased) the way a person would, then drives every statement: /start, "Not now",
/stop, /delete, /mydata, /timezone, /times and the /settings summary. What each reply says is
compared with what the database holds at that moment, through message keys (editing the words
never breaks this test).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import time

import pytest
from sqlalchemy import select

from reminderbot.services import schedules
from reminderbot.services.pausing import PauseLength, is_paused
from reminderbot.services.preferences import KIND_FLAGS
from reminderbot.services.retention import RetentionPolicy
from reminderbot.storage.models import ConsentState, Person, Schedule
from reminderbot.telegram import callbacks
from tests.support.harness import BotHarness, FakeClock
from tests.test_couples import ALEX, SAM, pair

Setup = Callable[[BotHarness], Awaitable[None]]


async def on(h: BotHarness) -> None:
    await h.join(ALEX)
    await h.command(ALEX, "/timezone", "Europe/Berlin")
    await h.command(ALEX, "/times", "07:30 21:00")


def then(*steps: Setup) -> Setup:
    async def act(h: BotHarness) -> None:
        for step in steps:
            await step(h)

    return act


def pause_for(length: PauseLength) -> Setup:
    async def act(h: BotHarness) -> None:
        await h.command(ALEX, "/pause")
        await h.press(ALEX, callbacks.pause_length_data(length, shared=False))

    return act


async def no_days(h: BotHarness) -> None:
    await h.command(ALEX, "/settings")
    await h.press(ALEX, callbacks.settings_data("daysmenu"))
    for day in range(7):
        await h.press(ALEX, callbacks.settings_data("day", str(day)))


async def every_kind_off(h: BotHarness) -> None:
    await h.command(ALEX, "/settings")
    await h.press(ALEX, callbacks.settings_data("kindsmenu"))
    person = await h.person(ALEX)
    for kind, flag in KIND_FLAGS.items():
        if getattr(person, flag):
            await h.press(ALEX, callbacks.settings_data("kind", kind))


async def stopped(h: BotHarness) -> None:
    await h.command(ALEX, "/stop")
    await h.press(ALEX, callbacks.STOP_CONFIRM)


async def deleted(h: BotHarness) -> None:
    await h.command(ALEX, "/delete")
    await h.press(ALEX, callbacks.DELETE_CONFIRM)


async def paired(h: BotHarness) -> None:
    await pair(h, ALEX, SAM)
    await h.command(ALEX, "/timezone", "Europe/Berlin")
    await h.command(ALEX, "/times", "07:30 21:00")


async def nothing(h: BotHarness) -> None:
    return None


STATES: dict[str, Setup] = {
    "never started": nothing,
    "on": on,
    "paused for today": then(on, pause_for(PauseLength.TODAY)),
    "paused until resumed": then(on, pause_for(PauseLength.UNTIL_RESUMED)),
    "no days": then(on, no_days),
    "every kind off": then(on, every_kind_off),
    "paired": paired,
    "stopped": then(on, stopped),
    "stopped again": then(on, stopped, stopped),
    "stopped while paired": then(paired, stopped),
    "erased": then(on, deleted),
    "erased twice": then(on, deleted, deleted),
}


@dataclass
class Stored:
    """Alex's rows right before a statement."""

    person: Person | None
    times: list[time]

    @property
    def active(self) -> bool:
        return self.person is not None and self.person.consent is ConsentState.GIVEN


async def stored(h: BotHarness) -> Stored:
    async with h.state.sessions.begin() as session:
        person = (
            await session.execute(select(Person).where(Person.telegram_user_id == ALEX))
        ).scalar_one_or_none()
        times = [] if person is None else await schedules.times_of(session, person.id)
    return Stored(person, times)


def said_last(h: BotHarness) -> str:
    """What Alex reads last: a new message, a file's caption, or a message edited in place."""
    for call in reversed(h.double.calls):
        if call.params.get("chat_id") != ALEX or call.fault is not None:
            continue
        if "text" in call.params or "caption" in call.params:
            return str(call.params.get("text", call.params.get("caption", "")))
    raise AssertionError("Alex was told nothing")


def check_when(h: BotHarness, rows: Stored, text: str, clock: FakeClock) -> None:
    """The lines about when reminders come match the rows, each one only when it is true."""
    person = rows.person
    assert person is not None
    shown = ", ".join(t.strftime("%H:%M") for t in rows.times)
    assert h.text("settings.when.times", times=shown, timezone=person.timezone) in text
    assert (h.text("settings.when.no_days") in text) == (person.weekdays == 0)
    kinds_off = not any(getattr(person, flag) for flag in KIND_FLAGS.values())
    assert (h.text("settings.when.no_kinds") in text) == kinds_off
    paused = is_paused(person, clock())
    open_pause = paused and person.paused_until is None
    assert (h.text("settings.when.paused_open") in text) == open_pause
    if paused and person.paused_until is not None:
        # "For today" ends at the coming midnight: said as tomorrow, not as a date at 00:00.
        tomorrow = h.text("pause.tomorrow")
        assert h.text("settings.when.paused_until", until=tomorrow) in text
        assert "00:00" not in text


@pytest.mark.parametrize("state", list(STATES), ids=list(STATES))
async def test_every_statement_matches_the_stored_rows(
    harness: BotHarness, clock: FakeClock, state: str
) -> None:
    h = harness
    await STATES[state](h)

    # /start
    rows = await stored(h)
    await h.command(ALEX, "/start")
    if rows.active:
        check_when(h, rows, said_last(h), clock)
    else:
        assert said_last(h).startswith(
            h.text("onboarding.welcome", stored="", kept="").split("\n")[0]
        )

    # "Not now", under the welcome /start just showed (or, when on, the first one's button).
    rows = await stored(h)
    await h.press(ALEX, callbacks.CONSENT_NO)
    if rows.person is None:
        assert said_last(h) == h.text("onboarding.not_now")
    else:
        # Never "nothing has been stored" while something is.
        assert said_last(h) != h.text("onboarding.not_now")
        key = "onboarding.not_now_active" if rows.active else "onboarding.not_now_stopped"
        assert said_last(h) == h.text(key)

    # /stop: asks only when there is something to stop.
    rows = await stored(h)
    await h.command(ALEX, "/stop")
    if rows.person is None:
        assert said_last(h) == h.text("stop.nothing_to_stop")
    elif not rows.active:
        assert said_last(h) == h.text("stop.already_stopped")
    else:
        inactive_days = RetentionPolicy.of(h.state.settings).words()["inactive_days"]
        assert said_last(h) == h.text("stop.confirm", inactive_days=inactive_days)
        await h.press(ALEX, callbacks.STOP_CANCEL)

    # /delete: asks only when something is held, and says a partner will be told.
    rows = await stored(h)
    await h.command(ALEX, "/delete")
    if rows.person is None:
        assert said_last(h) == h.text("delete.nothing")
    else:
        paired_now = rows.person.couple_id is not None
        assert said_last(h) == h.text("delete.confirm_paired" if paired_now else "delete.confirm")
        await h.press(ALEX, callbacks.DELETE_CANCEL)

    # /mydata: its files (one to read, the same as JSON) exactly when something is held.
    rows = await stored(h)
    files = len(h.double.calls_to("sendDocument"))
    await h.command(ALEX, "/mydata")
    sent_files = len(h.double.calls_to("sendDocument")) - files
    assert sent_files == (2 if rows.person is not None else 0)
    if rows.person is None:
        assert said_last(h) == h.text("mydata.nothing")

    # /timezone, /times and /settings: the person's own settings, not the defaults.
    for command in ("/timezone", "/times", "/settings"):
        rows = await stored(h)
        await h.command(ALEX, command)
        text = said_last(h)
        if not rows.active:
            assert text == h.text("settings.start_first")
            continue
        assert rows.person is not None
        if command == "/settings":
            times = ", ".join(t.strftime("%H:%M") for t in rows.times)
            assert f"Times: {times}" in text and f"Timezone: {rows.person.timezone}" in text
            kinds_off = not any(getattr(rows.person, f) for f in KIND_FLAGS.values())
            assert (h.text("settings.kinds_none") in text) == kinds_off
            assert (h.text("settings.days_none") in text) == (rows.person.weekdays == 0)
        else:
            check_when(h, rows, text, clock)
            assert h.text("settings.ask_timezone", time="09:00", timezone="UTC") != text

    # /resume, last (it changes the rows): what comes now, or that nothing was paused.
    before = await stored(h)
    await h.command(ALEX, "/resume")
    text = said_last(h)
    if not before.active:
        assert text == h.text("settings.start_first")
        return
    assert before.person is not None
    if is_paused(before.person, clock()):
        after = await stored(h)
        check_when(h, after, text, clock)
    else:
        assert text == h.text("pause.not_paused")


async def test_the_schedule_rows_are_what_the_states_say(harness: BotHarness) -> None:
    """The matrix's "on" really stores Berlin and two times, so its checks compare real rows."""
    await on(harness)
    rows = await stored(harness)
    assert rows.person is not None and rows.person.timezone == "Europe/Berlin"
    assert rows.times == [time(7, 30), time(21, 0)]
    async with harness.state.sessions.begin() as session:
        count = len(list((await session.execute(select(Schedule))).scalars()))
    assert count == 2


async def test_a_partner_who_chose_no_times_hears_the_times_they_have(
    harness: BotHarness,
) -> None:
    """Sam joined through the invite and chose nothing: not "the times you chose"."""
    await pair(harness, ALEX, SAM, join_b=False)
    await harness.command(SAM, "/start")
    when = harness.text("settings.when.times", times="09:00", timezone="UTC")
    assert harness.double.last_text(SAM) == harness.text("onboarding.already_on", when=when)


async def test_erasing_while_paired_says_the_partner_was_told(harness: BotHarness) -> None:
    await pair(harness, ALEX, SAM)
    await harness.command(ALEX, "/delete")
    await harness.press(ALEX, callbacks.DELETE_CONFIRM)
    assert said_last(harness) == harness.text("delete.done_unpaired")
    assert harness.double.last_text(SAM) == harness.text("pairing.partner_unpaired")
