"""Sharing is not silent for the one who shares: one quiet line when an answer becomes one they
share, one when it is made private again, and nothing in those lines about the partner's own
choices (whether they take shared check-ins at all)."""

from __future__ import annotations

from reminderbot.delivery.reminder import checkin_data
from reminderbot.storage.models import Mood, SharingLevel
from reminderbot.telegram import callbacks
from tests.support.harness import BotHarness, FakeClock
from tests.test_couples import ALEX, SAM, calls_to_chat, choose_sharing, deliver_reminder, pair


def to_alex_since(harness: BotHarness, before: int) -> list[str]:
    return [
        str(c.params["text"])
        for c in calls_to_chat(harness, ALEX)[before:]
        if c.method == "sendMessage"
    ]


def shared(harness: BotHarness, mood: Mood) -> str:
    return harness.text("sharing.you_shared", mood=harness.text(f"buttons.mood_{mood.value}"))


async def test_the_sharer_hears_once_when_shared_and_when_private_again(
    harness: BotHarness, clock: FakeClock
) -> None:
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.NEED_SPACE)
    delivery = await deliver_reminder(harness, clock, ALEX)
    before = len(calls_to_chat(harness, ALEX))
    await harness.press(ALEX, checkin_data(delivery, Mood.NEED_SPACE))
    told = to_alex_since(harness, before)
    assert told.count(shared(harness, Mood.NEED_SPACE)) == 1
    line = next(
        c
        for c in calls_to_chat(harness, ALEX)[before:]
        if c.params.get("text") == shared(harness, Mood.NEED_SPACE)
    )
    # Quiet and kept in this chat: they are looking at it already.
    assert line.params["disable_notification"] is True
    assert line.params["protect_content"] is True

    before = len(calls_to_chat(harness, ALEX))
    await harness.press(ALEX, checkin_data(delivery, Mood.STEADY))
    assert to_alex_since(harness, before) == [harness.text("sharing.you_made_private")]
    # Changing between answers they don't share says nothing more.
    before = len(calls_to_chat(harness, ALEX))
    await harness.press(ALEX, checkin_data(delivery, Mood.HEAVY))
    assert to_alex_since(harness, before) == []


async def test_sharing_nothing_says_nothing(harness: BotHarness, clock: FakeClock) -> None:
    await pair(harness)
    delivery = await deliver_reminder(harness, clock, ALEX)
    before = len(calls_to_chat(harness, ALEX))
    await harness.press(ALEX, checkin_data(delivery, Mood.NEED_SPACE))
    assert shared(harness, Mood.NEED_SPACE) not in to_alex_since(harness, before)


async def test_what_the_sharer_hears_does_not_depend_on_the_partners_choices(
    harness: BotHarness, clock: FakeClock
) -> None:
    """Sam turns shared check-ins off: Alex hears exactly what Alex would hear otherwise."""
    await pair(harness)
    await choose_sharing(harness, ALEX, SharingLevel.ALL)
    await harness.command(SAM, "/settings")
    await harness.press(SAM, callbacks.settings_data("partnermenu"))
    await harness.press(SAM, callbacks.settings_data("receive", "toggle"))
    sam = await harness.person(SAM)
    assert sam is not None and not sam.receives_partner_checkins
    delivery = await deliver_reminder(harness, clock, ALEX)
    before = len(calls_to_chat(harness, ALEX))
    sam_before = len(calls_to_chat(harness, SAM))
    await harness.press(ALEX, checkin_data(delivery, Mood.HEAVY))
    assert shared(harness, Mood.HEAVY) in to_alex_since(harness, before)
    assert [c for c in calls_to_chat(harness, SAM)[sam_before:] if c.method == "sendMessage"] == []
