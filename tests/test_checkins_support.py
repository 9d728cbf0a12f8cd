"""Check-ins that help: a word after the tap, /checkins with its picture, and support.

Every test acts as a person would and asserts on what the strict Telegram double recorded.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from reminderbot.content.limits import MESSAGE_LIMIT, telegram_length
from reminderbot.delivery.reminder import checkin_data, pause_data
from reminderbot.services import chart
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import CheckIn, Mood
from reminderbot.telegram import callbacks
from tests.support.harness import BotHarness, FakeClock

ALEX = 7001
SAM = 7002
CONTACTS = ("Practice line: +1 555 0100", "Crisis line: 988")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def reminder_at(harness: BotHarness, clock: FakeClock, user_id: int, when: datetime) -> int:
    """Let the dispatcher send the reminder due at ``when``; its delivery id."""
    clock.set(when)
    stats = await harness.tick()
    assert stats.sent == 1
    return (await harness.deliveries(user_id))[-1].id


async def joined(
    harness: BotHarness, user_id: int, times: str = "09:00", timezone: str = "UTC"
) -> None:
    """Said yes, answered the timezone question and chose their times."""
    await harness.join(user_id)
    await harness.command(user_id, "/timezone", timezone)
    await harness.command(user_id, "/times", times)


async def checkins_of(harness: BotHarness) -> list[CheckIn]:
    async with harness.state.sessions.begin() as session:
        return list((await session.execute(select(CheckIn).order_by(CheckIn.id))).scalars())


def sent_texts(harness: BotHarness, chat_id: int) -> list[str]:
    return [str(c.params["text"]) for c in harness.double.calls_to("sendMessage", chat_id=chat_id)]


def reminders(harness: BotHarness, chat_id: int) -> list[dict[str, Any]]:
    return [
        call.params
        for call in harness.double.calls_to("sendMessage", chat_id=chat_id)
        if any(d.startswith("ci:") for row in harness.double.buttons(call) for _, d in row)
    ]


# --------------------------------------------------------------------------- a word after a tap
async def test_a_word_after_a_tap_is_kept_with_that_checkin(
    harness: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await joined(harness, ALEX)
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    offer = harness.double.calls_to("sendMessage", chat_id=ALEX)[-1]
    assert offer.params["text"] == harness.text("notes.offer")
    assert offer.params["protect_content"] is True

    clock.advance(minutes=4)
    with caplog.at_level(logging.DEBUG):
        await harness.say(ALEX, "A long walk helped today.")
    kept = harness.double.calls_to("sendMessage", chat_id=ALEX)[-1]
    assert kept.params["text"] == harness.text("notes.kept")
    assert kept.params["protect_content"] is True
    (checkin,) = await checkins_of(harness)
    assert checkin.note == "A long walk helped today."
    # Notes are never logged: not by us at any level, nor by anything at the usual INFO.
    logged = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("reminderbot") or r.levelno >= logging.INFO
    ]
    assert caplog.records and not any("long walk" in line for line in logged)

    # People write in several bubbles: one more inside the window is added to the note ...
    await harness.say(ALEX, "And one more thing.")
    assert harness.last_text(ALEX) == harness.text("notes.added")
    (checkin,) = await checkins_of(harness)
    assert checkin.note == "A long walk helped today.\nAnd one more thing."
    # ... one that would pass the limit is not, and the note stays as it was ...
    limit = harness.state.settings.note_max_chars
    await harness.say(ALEX, "z" * limit)
    assert harness.last_text(ALEX) == harness.text("notes.too_long_to_add", limit=limit)
    (checkin,) = await checkins_of(harness)
    assert checkin.note == "A long walk helped today.\nAnd one more thing."
    # ... and once the window has ended, text is not a note and changes nothing.
    clock.advance(minutes=7)
    await harness.say(ALEX, "And later, something else.")
    assert harness.last_text(ALEX) == harness.text("errors.free_text")
    (checkin,) = await checkins_of(harness)
    assert checkin.note == "A long walk helped today.\nAnd one more thing."


async def test_silence_is_fine_and_nothing_nags_later(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX)
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.NEED_SPACE))
    before = len(harness.seen(ALEX))
    for minutes in (5, 10, 11, 60, 60 * 12):
        clock.set(utc(2026, 3, 2, 9) + timedelta(minutes=minutes))
        await harness.tick()
    # Hours later: not a single message about the note they did not write.
    assert len(harness.seen(ALEX)) == before
    # The next day's reminder arrives as usual, with nothing about yesterday.
    clock.set(utc(2026, 3, 3, 9))
    await harness.tick()
    assert len(harness.seen(ALEX)) == before + 1
    assert len(reminders(harness, ALEX)) == 2
    # A text after the window is not kept as a note.
    await harness.say(ALEX, "too late for a note")
    assert harness.last_text(ALEX) == harness.text("errors.free_text")
    assert [c.note for c in await checkins_of(harness)] == [None]


async def test_a_changed_answer_is_not_offered_a_second_word(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX)
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.OPEN))
    assert sent_texts(harness, ALEX).count(harness.text("notes.offer")) == 1
    # Changing the answer keeps the note window of that same check-in.
    await harness.say(ALEX, "Felt close to them tonight.")
    (checkin,) = await checkins_of(harness)
    assert (checkin.mood, checkin.note) == (Mood.OPEN, "Felt close to them tonight.")


async def test_a_note_with_characters_a_database_cannot_hold_is_kept_cleaned(
    harness: BotHarness, clock: FakeClock
) -> None:
    """PostgreSQL refuses U+0000 in text (and a lone surrogate cannot be encoded): the note is
    kept without them, never lost and reported as "the database is down"."""
    await joined(harness, ALEX)
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    await harness.say(ALEX, "Calm\x00 day \ud800today")
    assert harness.last_text(ALEX) == harness.text("notes.kept")
    (checkin,) = await checkins_of(harness)
    assert checkin.note == "Calm day \ufffdtoday"
    assert harness.text("errors.database_down") not in harness.all_texts(ALEX)


async def test_an_overlong_note_is_refused_kindly_and_the_window_stays_open(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX)
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.HEAVY))
    limit = harness.state.settings.note_max_chars
    assert limit == 500
    await harness.say(ALEX, "x" * (limit + 1))
    refusal = harness.double.calls_to("sendMessage", chat_id=ALEX)[-1]
    assert refusal.params["text"] == harness.text("notes.too_long", limit=limit)
    assert refusal.params["protect_content"] is True
    (checkin,) = await checkins_of(harness)
    assert checkin.note is None and checkin.note_open_until is not None

    exactly = "y" * limit
    clock.advance(minutes=2)
    await harness.say(ALEX, exactly)
    assert harness.last_text(ALEX) == harness.text("notes.kept")
    (checkin,) = await checkins_of(harness)
    assert checkin.note == exactly


@pytest.mark.parametrize(
    "other",
    ["command", "settings_button", "support_button", "pause_button"],
)
async def test_a_text_after_another_button_or_command_is_not_misattached(
    harness: BotHarness, clock: FakeClock, other: str
) -> None:
    await joined(harness, ALEX)
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.HEAVY))
    match other:
        case "command":
            await harness.command(ALEX, "/settings")
        case "settings_button":
            await harness.command(ALEX, "/settings")
            await harness.press(ALEX, callbacks.settings_data("kindsmenu"))
        case "support_button":
            await harness.press(ALEX, callbacks.SUPPORT_NOW)
        case "pause_button":
            await harness.press(ALEX, pause_data(delivery_id))
    await harness.say(ALEX, "this was meant for something else")
    assert harness.last_text(ALEX) == harness.text("errors.free_text")
    (checkin,) = await checkins_of(harness)
    assert checkin.note is None and checkin.note_open_until is None


async def test_a_note_belongs_to_the_latest_tap_only(harness: BotHarness, clock: FakeClock) -> None:
    await joined(harness, ALEX, "09:00 09:30")
    first = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    second = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9, 30))
    await harness.press(ALEX, checkin_data(first, Mood.STEADY))
    await harness.press(ALEX, checkin_data(second, Mood.HEAVY))
    await harness.say(ALEX, "about the second one")
    by_delivery = {c.delivery_id: c.note for c in await checkins_of(harness)}
    assert by_delivery == {first: None, second: "about the second one"}
    # Changing the first answer afterwards does not reopen its window.
    await harness.press(ALEX, checkin_data(first, Mood.OPEN))
    await harness.say(ALEX, "not a note")
    assert harness.last_text(ALEX) == harness.text("errors.free_text")
    by_delivery = {c.delivery_id: c.note for c in await checkins_of(harness)}
    assert by_delivery == {first: None, second: "about the second one"}


async def test_one_persons_window_does_not_take_another_persons_text(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX)
    await joined(harness, SAM)
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    alex_delivery = (await harness.deliveries(ALEX))[-1].id
    await harness.press(ALEX, checkin_data(alex_delivery, Mood.STEADY))
    await harness.say(SAM, "hello")
    assert harness.last_text(SAM) == harness.text("errors.free_text")
    (checkin,) = await checkins_of(harness)
    assert checkin.note is None and checkin.note_open_until is not None


async def test_a_note_is_kept_even_with_the_timezone_question_unanswered(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.join(ALEX)  # asked for their timezone after the yes, and never answered
    await harness.command(ALEX, "/times", "09:00")
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    await harness.say(ALEX, "Berlin")
    assert harness.last_text(ALEX) == harness.text("notes.kept")
    (checkin,) = await checkins_of(harness)
    assert checkin.note == "Berlin"
    person = await harness.person(ALEX)
    assert person is not None and person.timezone == "UTC"


# --------------------------------------------------------------------------- check-in prompts
async def test_a_checkin_prompt_arrives_as_its_own_kind_with_the_same_buttons(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX)
    await harness.command(ALEX, "/settings")
    await harness.press(ALEX, callbacks.settings_data("kindsmenu"))
    for kind in ("affirmation", "practice", "checkin_prompt"):
        await harness.press(ALEX, callbacks.settings_data("kind", kind))
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))

    (reminder,) = reminders(harness, ALEX)
    catalog = harness.state.catalog
    prompts = {i.text for i in catalog.items("en", ["checkin_prompt"])}  # type: ignore[list-item]
    assert reminder["text"] in prompts
    assert reminder["protect_content"] is True
    (delivery,) = await harness.deliveries(ALEX)
    assert delivery.kind == "checkin_prompt"
    call = harness.double.calls_to("sendMessage", chat_id=ALEX)[-1]
    assert harness.double.buttons(call) == [
        [
            (harness.text("buttons.mood_steady"), f"ci:{delivery_id}:s"),
            (harness.text("buttons.mood_heavy"), f"ci:{delivery_id}:h"),
        ],
        [
            (harness.text("buttons.mood_need_space"), f"ci:{delivery_id}:n"),
            (harness.text("buttons.mood_open"), f"ci:{delivery_id}:o"),
        ],
        [(harness.text("buttons.pause"), f"pz:{delivery_id}")],
    ]
    # Answering it works like any reminder, the word afterwards included.
    await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    assert harness.last_text(ALEX) == harness.text("notes.offer")


# --------------------------------------------------------------------------- /checkins
class DrawnCharts:
    """Wraps the real drawing to see what it was given and on which thread it ran."""

    def __init__(self) -> None:
        self.charts: list[chart.MoodChart] = []
        self.threads: list[threading.Thread] = []
        self._render = chart.render

    def __call__(self, data: chart.MoodChart) -> bytes:
        self.charts.append(data)
        self.threads.append(threading.current_thread())
        return self._render(data)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> DrawnCharts:
    drawn = DrawnCharts()
    monkeypatch.setattr(chart, "render", drawn)
    return drawn


def assert_png(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    with Image.open(io.BytesIO(data)) as image:
        image.load()  # decodes every pixel: a truncated or corrupt file fails here
        assert image.size == (width, height)
    # Readable on a phone, and within Telegram's 1280 px before it recompresses.
    assert 800 <= width <= 1280 and 500 <= height <= 1280
    return width, height


async def test_checkins_with_none_gets_a_kind_sentence_and_no_picture(
    harness: BotHarness, clock: FakeClock, drawn: DrawnCharts
) -> None:
    await harness.command(SAM, "/checkins")  # never said yes: no buttons will come
    assert harness.last_text(SAM) == harness.text("history.no_data")
    await joined(harness, ALEX)
    await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))  # silence is an answer too
    await harness.command(ALEX, "/checkins")
    assert harness.last_text(ALEX) == harness.text("history.none")
    assert not harness.double.calls_to("sendPhoto")
    assert drawn.charts == []


async def test_checkins_with_a_few_lists_local_days_and_sends_a_picture(
    harness: BotHarness, clock: FakeClock, drawn: DrawnCharts
) -> None:
    await joined(harness, ALEX, "22:00", "America/New_York")
    # 22:00 in New York is 03:00 UTC the next day: the list must show their own dates.
    first = await reminder_at(harness, clock, ALEX, utc(2026, 3, 3, 3))
    await harness.press(ALEX, checkin_data(first, Mood.HEAVY))
    await harness.say(ALEX, "A hard evening.")
    second = await reminder_at(harness, clock, ALEX, utc(2026, 3, 4, 3))
    await harness.press(ALEX, checkin_data(second, Mood.OPEN))
    clock.advance(minutes=20)

    await harness.command(ALEX, "/checkins")
    listing = harness.double.calls_to("sendMessage", chat_id=ALEX)[-1]
    assert listing.params["text"] == "\n".join(
        [
            harness.text("history.heading"),
            harness.text("history.day_line", weekday="Mon", day="2", month="Mar", moods="Heavy"),
            harness.text("history.note_line", mood="Heavy", note="A hard evening."),
            harness.text(
                "history.day_line", weekday="Tue", day="3", month="Mar", moods="Open to closeness"
            ),
        ]
    )
    assert listing.params["protect_content"] is True

    (photo,) = harness.double.calls_to("sendPhoto", chat_id=ALEX)
    assert photo.params["caption"] == harness.text("history.chart_caption")
    assert photo.params["protect_content"] is True
    (png,) = photo.files.values()
    assert_png(png)

    (data,) = drawn.charts
    assert drawn.threads[0] is not threading.main_thread()  # drawn off the event loop
    assert len(data.days) == 28 and data.days[-1].isoformat() == "2026-03-03"
    assert data.day_labels[-1] == harness.text("history.chart_date", day="3", month="Mar")
    assert {(d.isoformat(), m): n for (d, m), n in data.counts.items()} == {
        ("2026-03-02", Mood.HEAVY): 1,
        ("2026-03-03", Mood.OPEN): 1,
    }
    # Only dates and mood levels: nothing they wrote reaches the picture.
    assert "hard evening" not in repr(data)
    # The rows read like the buttons under a reminder (tests/test_wording.py checks that).
    assert [label for _, label in data.moods] == [
        harness.text(f"buttons.mood_{m.value}")
        for m in (Mood.STEADY, Mood.HEAVY, Mood.NEED_SPACE, Mood.OPEN)
    ]


async def test_checkins_with_many_fit_telegram_and_show_four_weeks(
    harness: BotHarness, clock: FakeClock, drawn: DrawnCharts
) -> None:
    await joined(harness, ALEX)
    person = await harness.person(ALEX)
    assert person is not None
    moods = list(Mood)
    limit = harness.state.settings.note_max_chars
    async with harness.state.sessions.begin() as session:
        for days_ago in range(35):
            for n in range(6):
                at = utc(2026, 3, 2, n) - timedelta(days=days_ago)
                note = f"note {days_ago}-{n} ".ljust(limit, ".")
                session.add(
                    CheckIn(
                        person_id=person.id,
                        mood=moods[(days_ago + n) % 4],
                        note=note,
                        created_at=at,
                        updated_at=at,
                    )
                )
    clock.set(utc(2026, 3, 2, 7))
    before = len(harness.seen(ALEX))
    await harness.command(ALEX, "/checkins")

    listing = [str(c.params["text"]) for c in harness.seen(ALEX)[before:] if "text" in c.params]
    assert len(listing) > 1  # too long for one message, so split between lines
    assert all(telegram_length(text) <= MESSAGE_LIMIT for text in listing)
    joined_text = "\n".join(listing)
    assert joined_text.startswith(harness.text("history.heading"))
    for days_ago in range(35):
        for n in range(6):
            shown = f"note {days_ago}-{n} " in joined_text
            assert shown is (days_ago < 14), (days_ago, n)
    day_lines = [line for line in joined_text.splitlines() if line.startswith(("Mon", "Tue"))]
    assert day_lines[-1] == harness.text(
        "history.day_line",
        weekday="Mon",
        day="2",
        month="Mar",
        moods=", ".join(harness.text(f"buttons.mood_{moods[n % 4].value}") for n in range(6)),
    )

    (photo,) = harness.double.calls_to("sendPhoto", chat_id=ALEX)
    (png,) = photo.files.values()
    assert_png(png)
    (data,) = drawn.charts
    assert sum(data.counts.values()) == 28 * 6
    assert "note" not in repr(data)


async def test_checkins_only_weeks_ago_say_so_kindly_and_still_show_the_picture(
    harness: BotHarness, clock: FakeClock, drawn: DrawnCharts
) -> None:
    await joined(harness, ALEX)
    person = await harness.person(ALEX)
    assert person is not None
    at = utc(2026, 2, 10, 12)  # three weeks before the clock's Monday
    async with harness.state.sessions.begin() as session:
        session.add(CheckIn(person_id=person.id, mood=Mood.STEADY, created_at=at, updated_at=at))
    await harness.command(ALEX, "/checkins")
    assert harness.text("history.none_recent") in harness.all_texts(ALEX)
    assert harness.text("history.heading") not in "".join(harness.all_texts(ALEX))
    (photo,) = harness.double.calls_to("sendPhoto", chat_id=ALEX)
    assert_png(next(iter(photo.files.values())))
    (data,) = drawn.charts
    assert dict(data.counts) == {(at.date(), Mood.STEADY): 1}


async def test_checkins_replies_follow_the_protect_content_setting(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    async with BotHarness.running(sessions, clock, protect_content=False) as harness:
        await joined(harness, ALEX)
        delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
        await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
        await harness.say(ALEX, "fine")
        await harness.command(ALEX, "/checkins")
        calls = harness.double.calls_to("sendMessage", chat_id=ALEX)
        assert reminders(harness, ALEX)[0]["protect_content"] is False
        assert [c.params["protect_content"] for c in calls[-3:]] == [False, False, False]
        (photo,) = harness.double.calls_to("sendPhoto", chat_id=ALEX)
        assert photo.params["protect_content"] is False


# --------------------------------------------------------------------------- support
def assert_support(harness: BotHarness, text: str) -> None:
    for contact in CONTACTS:
        assert contact in text
    grounding = [
        item.text
        for item in harness.state.catalog.items("en", ["grounding"])  # type: ignore[list-item]
        if item.text in text
    ]
    assert 2 <= len(grounding) <= 3
    assert text.startswith(harness.text("support_path.text", grounding="", contacts="")[:40])
    assert text.endswith(harness.text("support_path.text", grounding="", contacts="")[-60:])
    assert "?" not in text  # it never asks them to explain


async def test_support_from_the_command_needs_no_consent_and_stores_nothing(
    harness: BotHarness,
) -> None:
    await harness.command(SAM, "/support")
    assert_support(harness, harness.last_text(SAM))
    assert await harness.person(SAM) is None


class DatabaseDown:
    """Stands in for the session factory while the database server is unreachable."""

    def begin(self) -> Any:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))


async def test_support_works_while_the_database_is_down(harness: BotHarness) -> None:
    working = harness.state.sessions
    harness.state.sessions = DatabaseDown()  # type: ignore[assignment]
    try:
        await harness.command(SAM, "/support")
    finally:
        harness.state.sessions = working
    assert_support(harness, harness.last_text(SAM))


async def test_support_button_after_heavy_or_need_space(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX)
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    hard_now = harness.text("support_path.buttons.hard_now")

    def reminder_buttons() -> list[str]:
        edit = harness.double.calls_to("editMessageText", chat_id=ALEX)[-1]
        return [label for row in harness.double.buttons(edit) for label, _ in row]

    await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    assert hard_now not in reminder_buttons()
    await harness.press(ALEX, checkin_data(delivery_id, Mood.NEED_SPACE))
    assert hard_now in reminder_buttons()
    await harness.press(ALEX, checkin_data(delivery_id, Mood.HEAVY))
    assert reminder_buttons()[-1] == hard_now
    assert harness.text("buttons.pause") in reminder_buttons()

    answered = len(harness.double.calls_to("answerCallbackQuery"))
    await harness.press_label(ALEX, hard_now)
    assert len(harness.double.calls_to("answerCallbackQuery")) == answered + 1
    assert_support(harness, harness.last_text(ALEX))
    # The check-in stays as it was.
    (checkin,) = await checkins_of(harness)
    assert checkin.mood is Mood.HEAVY


# --------------------------------------------------------------------------- leaving
async def test_mydata_contains_the_note_and_delete_removes_it(
    harness: BotHarness, clock: FakeClock
) -> None:
    await joined(harness, ALEX)
    await joined(harness, SAM)
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    for user_id, note in ((ALEX, "only mine"), (SAM, "sam's own")):
        delivery_id = (await harness.deliveries(user_id))[-1].id
        await harness.press(user_id, checkin_data(delivery_id, Mood.HEAVY))
        await harness.say(user_id, note)

    await harness.command(ALEX, "/mydata")
    _, document = harness.double.calls_to("sendDocument", chat_id=ALEX)  # to read, JSON
    (content,) = document.files.values()
    export = json.loads(content)
    assert [(c["mood"], c["note"]) for c in export["checkins"]] == [("heavy", "only mine")]

    await harness.command(ALEX, "/delete")
    await harness.press(ALEX, callbacks.delete_data(True))
    async with harness.state.sessions.begin() as session:
        # Notes are encrypted: SQL cannot compare them, so every note left is read and looked at.
        notes = (await session.execute(select(CheckIn.note))).scalars().all()
        assert "only mine" not in notes
    assert [c.note for c in await checkins_of(harness)] == ["sam's own"]
