"""Informed consent: the welcome names everything stored, stays readable after yes, and /mydata
gives back the record of what was shared with a partner.

Database tests run on SQLite and PostgreSQL, against the strict Telegram double.
"""

from __future__ import annotations

import json

from reminderbot.delivery.reminder import checkin_data
from reminderbot.services.consent import STORED_LINES
from reminderbot.services.retention import RetentionPolicy
from reminderbot.storage.models import Base, Mood, SharingLevel
from reminderbot.telegram import callbacks
from tests.support.botdouble import RecordedCall
from tests.support.harness import BotHarness, FakeClock
from tests.test_couples import (
    button_starting,
    choose_sharing,
    deliver_reminder,
    invite,
    pair,
    utc,
)

ALEX = 8101
SAM = 8102

# Tables that hold nothing about a person. Adding one here needs a reason next to it.
NOT_ABOUT_A_PERSON: frozenset[str] = frozenset(
    {
        # Telegram's numbers for updates already handled, and when: no person, chat or words,
        # nothing that links a number to anyone; forgotten after a few days.
        "handled_updates",
        "secrets",  # the database's own keys, encrypted under the data key
    }
)


def test_every_stored_column_is_named_by_a_line_of_the_welcome() -> None:
    """A new column can't be stored without the welcome saying so: each column of each table
    is covered by exactly one line (services.consent.STORED_LINES -> onboarding.stored.*)."""
    columns = {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        if table.name not in NOT_ABOUT_A_PERSON
        for column in table.columns
    }
    named = [column for line in STORED_LINES.values() for column in line]
    assert sorted(columns - set(named)) == [], "stored, but no line of the welcome names it"
    assert sorted(set(named) - columns) == [], "named by the welcome, but no such column"
    assert len(named) == len(set(named)), "a column is named by two lines"


def welcome_of(harness: BotHarness, chat_id: int) -> RecordedCall:
    (call,) = [
        c
        for c in harness.seen(chat_id)
        if any(
            data == callbacks.consent_data(True)
            for row in harness.double.buttons(c)
            for _, data in row
        )
    ]
    return call


async def test_the_welcome_says_everything_that_is_stored(harness: BotHarness) -> None:
    await harness.command(ALEX, "/start")
    welcome = str(welcome_of(harness, ALEX).params["text"])
    words = RetentionPolicy.of(harness.state.settings).words()
    for line in STORED_LINES:
        assert harness.text(f"onboarding.stored.{line}", **words) in welcome, line


def assert_welcome_kept(harness: BotHarness, chat_id: int) -> None:
    welcome = welcome_of(harness, chat_id)
    message_id = harness.double.message_id_of(welcome)
    edits = [
        c
        for c in harness.double.calls
        if c.method.startswith("editMessage")
        and c.params.get("chat_id") == chat_id
        and c.params.get("message_id") == message_id
    ]
    # Only the buttons went: the text they agreed to stays in the chat.
    assert [c.method for c in edits] == ["editMessageReplyMarkup"]
    assert edits[0].params.get("reply_markup") is None


async def test_after_yes_the_welcome_stays_and_thanks_come_as_a_new_message(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    assert_welcome_kept(harness, ALEX)
    texts = harness.all_texts(ALEX)
    assert harness.text("onboarding.consented") in texts
    assert texts.index(harness.text("onboarding.consented")) > 0  # after the welcome


async def test_after_yes_to_an_invite_the_welcome_stays(harness: BotHarness) -> None:
    await harness.join(SAM)
    token = await invite(harness, SAM)
    await harness.command(ALEX, "/start", token)
    yes = button_starting(harness, ALEX, "pair:yes:")
    welcome = [
        c
        for c in harness.seen(ALEX)
        if any(d == yes for row in harness.double.buttons(c) for _, d in row)
    ][-1]
    words = RetentionPolicy.of(harness.state.settings).words()
    assert harness.text("onboarding.stored.checkins", **words) in str(welcome.params["text"])
    await harness.press(ALEX, yes)
    message_id = harness.double.message_id_of(welcome)
    edits = [
        c
        for c in harness.double.calls
        if c.method.startswith("editMessage")
        and c.params.get("message_id") == message_id
        and c.params.get("chat_id") == ALEX
    ]
    assert [c.method for c in edits] == ["editMessageReplyMarkup"]
    texts = harness.all_texts(ALEX)
    assert harness.text("onboarding.consented") in texts
    assert harness.text("pairing.connected") in texts


async def test_a_second_press_on_yes_thanks_only_once(harness: BotHarness) -> None:
    await harness.command(ALEX, "/start")
    message_id = harness.double.message_id_of(welcome_of(harness, ALEX))
    await harness.press(ALEX, callbacks.consent_data(True), message_id=message_id)
    await harness.press(ALEX, callbacks.consent_data(True), message_id=message_id)
    assert harness.all_texts(ALEX).count(harness.text("onboarding.consented")) == 1


async def mydata(harness: BotHarness, user_id: int) -> dict[str, object]:
    await harness.command(user_id, "/mydata")
    call = harness.double.calls_to("sendDocument", chat_id=user_id)[-1]
    (content,) = call.files.values()
    data: dict[str, object] = json.loads(content)
    return data


async def test_mydata_includes_which_checkins_were_shared_and_when(
    harness: BotHarness, clock: FakeClock
) -> None:
    clock.set(utc(2026, 3, 2, 8))
    await pair(harness, ALEX, SAM)
    await choose_sharing(harness, ALEX, SharingLevel.NEED_SPACE)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    await harness.press(ALEX, checkin_data(delivery_id, Mood.STEADY))  # steady: not shared
    steady = await mydata(harness, ALEX)
    assert steady["shared_with_partner"] == []
    clock.advance(minutes=5)
    await harness.press(ALEX, checkin_data(delivery_id, Mood.NEED_SPACE))  # need space: shared
    data = await mydata(harness, ALEX)
    (checkin,) = data["checkins"]  # type: ignore[misc]
    assert data["shared_with_partner"] == [
        {
            "checkin_id": checkin["id"],
            "mood": "need_space",
            "shared_at": clock().isoformat(),
            "held_until": None,
        }
    ]
    # The partner's own file holds their data, not Alex's check-ins.
    assert (await mydata(harness, SAM))["shared_with_partner"] == []


# What /mydata leaves out of a person's own row, as README's privacy section says: the parts
# that are the partner's (their side of a shared pause, and their half of "both said yes").
LEFT_OUT_OF_THE_PERSON = {"shared_paused_at", "shared_paused_until", "couple_prompts_agreed"}
# Their Telegram id is stored only as a keyed hash: the file gives the id itself in its place.
GIVEN_AS_THE_ID = {"telegram_user_hash"}


async def test_mydata_gives_every_column_of_their_own_rows(
    harness: BotHarness, clock: FakeClock
) -> None:
    clock.set(utc(2026, 3, 2, 8))
    await pair(harness, ALEX, SAM)
    delivery_id = await deliver_reminder(harness, clock, ALEX)
    await harness.press(ALEX, checkin_data(delivery_id, Mood.HEAVY))
    data = await mydata(harness, ALEX)
    tables = {table.name: {c.name for c in table.columns} for table in Base.metadata.sorted_tables}
    person = data["person"]
    assert isinstance(person, dict)
    assert set(person) == tables["people"] - LEFT_OUT_OF_THE_PERSON - GIVEN_AS_THE_ID | {
        "shared_prompts_resting",
        "telegram_user_id",
    }
    assert person["telegram_user_id"] == ALEX
    for name, table in (("schedules", "schedules"), ("deliveries", "deliveries")):
        rows = data[name]
        assert isinstance(rows, list) and rows
        assert all(set(row) == tables[table] for row in rows), name
    (checkin,) = data["checkins"]  # type: ignore[misc]
    assert set(checkin) == tables["checkins"]
