"""/mydata is a file a person can read (issue 21, finding 14): plain names and values, their own
local times, days as names, nothing internal; the complete JSON comes beside it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from reminderbot.delivery.batch import Reason
from reminderbot.delivery.reminder import checkin_data
from reminderbot.services import privacy
from reminderbot.services.consent import STORED_LINES
from reminderbot.services.pausing import PauseLength
from reminderbot.storage.models import Mood, SharingLevel
from reminderbot.telegram import callbacks
from tests.support.harness import BotHarness, FakeClock
from tests.test_couples import ALEX, SAM, pair


def documents(harness: BotHarness, user_id: int) -> dict[str, bytes]:
    """The files the last /mydata sent, by file name."""
    sent = harness.double.calls_to("sendDocument", chat_id=user_id)[-2:]
    out: dict[str, bytes] = {}
    for call in sent:
        ((field, content),) = call.files.items()
        out[call.filenames[field]] = content
    return out


async def readable(harness: BotHarness, user_id: int) -> str:
    await harness.command(user_id, "/mydata")
    files = documents(harness, user_id)
    (text,) = [content for name, content in files.items() if name.endswith(".txt")]
    return text.decode("utf-8")


async def settings_button(harness: BotHarness, data: str) -> None:
    """Open /settings and press one of its buttons on that message."""
    await harness.command(ALEX, "/settings")
    message_id = harness.double.message_id_of(harness.seen(ALEX)[-1])
    await harness.press(ALEX, data, message_id=message_id)


async def a_full_life(harness: BotHarness, clock: FakeClock) -> None:
    """Alex in Berlin at 07:30 and 21:00 on weekdays, quiet at night, one reminder answered
    Heavy with a note, then a pause for a week."""
    clock.set(datetime(2026, 3, 2, 5, tzinfo=UTC))  # Monday 06:00 in Berlin
    await harness.join(ALEX)
    await harness.command(ALEX, "/timezone", "Europe/Berlin")
    await harness.command(ALEX, "/times", "07:30 21:00")
    await harness.command(ALEX, "/quiet", "22:00 06:30")
    await settings_button(harness, callbacks.settings_data("days", "work"))
    clock.set(datetime(2026, 3, 2, 6, 30, tzinfo=UTC))  # 07:30 in Berlin
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    clock.advance(minutes=2)
    await harness.press(ALEX, checkin_data(delivery.id, Mood.HEAVY))
    await harness.say(ALEX, "only mine")
    await harness.command(ALEX, "/pause")
    await harness.press(ALEX, callbacks.pause_length_data(PauseLength.WEEK))


async def test_mydata_sends_a_file_to_read_and_the_json_beside_it(
    harness: BotHarness, clock: FakeClock
) -> None:
    await a_full_life(harness, clock)
    await harness.command(ALEX, "/mydata")
    files = documents(harness, ALEX)
    assert sorted(name.rsplit(".", 1)[-1] for name in files) == ["json", "txt"]
    (raw,) = [content for name, content in files.items() if name.endswith(".json")]
    assert json.loads(raw)["person"]["telegram_user_id"] == ALEX  # complete, for programs
    text = await readable(harness, ALEX)

    # Local times, the timezone as a place, days as names.
    assert "Berlin" in text
    assert "07:30, 21:00" in text
    assert "Monday, Tuesday, Wednesday, Thursday, Friday" in text
    assert "22:00" in text and "06:30" in text
    assert "Monday 2026-03-02, 07:32" in text  # the check-in, in Berlin time
    assert "Monday 2026-03-09" in text  # the pause ends in a week
    assert "Heavy" in text and "only mine" in text
    assert harness.text("settings.audience_anyone") in text
    # Nothing internal: no column names, no bit masks, no seeds, no counters.
    person = await harness.person(ALEX)
    assert person is not None
    for internal in ("weekdays", "content_seed", "uncertain", "attempts", "_at", "None"):
        assert internal not in text, internal
    assert str(person.content_seed) not in text
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", text.replace("only mine", ""))
    assert not re.search(r"\d{4}-\d\d-\d\dT", text)  # no ISO timestamps
    assert ": 31\n" not in text and ": 127\n" not in text


async def test_the_file_has_a_section_for_every_line_of_the_welcome(
    harness: BotHarness, clock: FakeClock
) -> None:
    """A section per topic of what the welcome says is stored, in its order (and easy to
    extend: a new topic is a new section)."""
    await a_full_life(harness, clock)
    text = await readable(harness, ALEX)
    assert tuple(STORED_LINES) == privacy.TOPICS
    headings = [harness.text(f"mydata.file.sections.{topic}") for topic in STORED_LINES]
    at = [text.find(f"\n{heading}\n") for heading in headings]
    assert -1 not in at, [h for h, i in zip(headings, at, strict=True) if i == -1]
    assert at == sorted(at)


def test_every_reason_a_delivery_can_end_with_has_words() -> None:
    assert set(privacy.REASONS) == {reason.value for reason in Reason}


async def test_a_paired_persons_file_has_their_side_and_nothing_of_the_partner(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await settings_button(harness, callbacks.settings_data("share", SharingLevel.NEED_SPACE.value))
    clock.set(datetime(2026, 3, 2, 9, tzinfo=UTC))
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    await harness.press(ALEX, checkin_data(delivery.id, Mood.NEED_SPACE))
    text = await readable(harness, ALEX)
    assert harness.text("pairing.sharing_need_space") in text
    assert "Need space" in text
    assert str(SAM) not in text
