"""A reply Telegram answers with 429 (too many requests) is sent again after its retry_after,
not lost: forty people writing /start in the same second must all get their welcome. Reminder
sends are not retried here: the dispatcher paces and accounts for 429s itself."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from reminderbot.telegram import callbacks
from reminderbot.telegram.welcome import welcome_text
from tests.support.harness import BotHarness, FakeClock

ALEX = 9101


async def test_a_reply_refused_with_429_arrives_after_retry_after(harness: BotHarness) -> None:
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="429", retry_after=1)
    started = time.monotonic()
    await harness.command(ALEX, "/start")
    assert harness.last_text(ALEX) == welcome_text(harness.state, "en")
    assert time.monotonic() - started >= 1.0
    # The refused send, then the same welcome once more after the wait: one message arrived.
    assert harness.double.attempts_to("sendMessage", chat_id=ALEX) == 2
    assert len(harness.double.calls_to("sendMessage", chat_id=ALEX)) == 1


async def test_a_press_whose_answer_is_refused_with_429_still_shows_its_result(
    harness: BotHarness,
) -> None:
    await harness.command(ALEX, "/start")
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="429", retry_after=1)
    await harness.press(ALEX, callbacks.consent_data(True))
    assert await harness.person(ALEX) is not None
    # The thanks that was refused arrived after the wait, and no apology instead of it.
    texts = harness.all_texts(ALEX)
    assert harness.text("onboarding.consented") in texts
    assert harness.text("errors.generic") not in texts


async def test_a_reminder_refused_with_429_is_left_to_the_dispatcher(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "09:00")
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="429", retry_after=1)
    stats = await harness.tick()
    # The dispatcher saw the 429 itself (it blocks every send for retry_after and counts it).
    assert stats.rate_limited == 1
