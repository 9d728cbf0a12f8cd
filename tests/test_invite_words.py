"""An invite that reads as a way forward: from the partner who sent it, short, beginning apart
from connecting, and, for someone already connected, no word of failure."""

from __future__ import annotations

from reminderbot.storage.models import ConsentState
from reminderbot.telegram import callbacks
from reminderbot.telegram.welcome import invited_welcome_text, welcome_text
from tests.support.harness import BotHarness
from tests.test_couples import ALEX, SAM, button_starting, invite, open_and_accept

LONGEST_WORDS = 305  # what the invite used to be: intro and full welcome, one after the other


async def test_a_newcomers_invite_is_short_and_offers_beginning_alone(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    await harness.command(SAM, "/start", token)
    text = harness.last_text(SAM)
    assert text == invited_welcome_text(harness.state, "en")
    assert len(text.split()) < LONGEST_WORDS
    # It is not the general welcome with an anonymous line on top, and /help reads more.
    assert not text.endswith(welcome_text(harness.state, "en"))
    assert "/help" in text
    assert harness.last_buttons(SAM) == [
        harness.text("pairing.buttons.begin_and_connect"),
        harness.text("pairing.buttons.begin_alone"),
        harness.text("pairing.buttons.not_now"),
    ]


async def test_beginning_alone_connects_nobody_and_the_link_still_connects_later(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    await harness.command(SAM, "/start", token)
    await harness.press(SAM, callbacks.CONSENT_YES)
    sam = await harness.person(SAM)
    assert sam is not None and sam.consent is ConsentState.GIVEN and sam.couple_id is None
    alex = await harness.person(ALEX)
    assert alex is not None and alex.couple_id is None
    assert harness.text("pairing.connected") not in harness.all_texts(ALEX)
    # Later, the same link: now only the question of connecting.
    await open_and_accept(harness, SAM, token)
    sam, alex = await harness.person(SAM), await harness.person(ALEX)
    assert sam is not None and alex is not None
    assert sam.couple_id == alex.couple_id is not None


async def test_a_connected_partner_opening_the_link_again_hears_they_are_connected(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    token = await invite(harness, ALEX)
    await harness.command(SAM, "/start", token)
    yes = button_starting(harness, SAM, "pair:yes:")
    await harness.press(SAM, yes)
    # The link again, and the old yes button again.
    await harness.command(SAM, "/start", token)
    assert harness.last_text(SAM) == harness.text("pairing.refused.already_connected")
    await harness.press(SAM, yes)
    edits = harness.double.calls_to("editMessageText", chat_id=SAM)
    assert edits[-1].params["text"] == harness.text("pairing.refused.already_connected")
    # The inviter opening their own used link hears the same.
    await harness.command(ALEX, "/start", token)
    assert harness.last_text(ALEX) == harness.text("pairing.refused.already_connected")
