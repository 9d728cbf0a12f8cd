"""One person can't slow everyone: updates from different people are handled side by side, each
person's in order; heavy replies (/mydata, /checkins) have a per-person cooldown; nothing is kept
in memory for people who never said yes.

Updates go through the running Application's update queue, exactly as polling or a webhook puts
them there, so python-telegram-bot's update processor is part of what is tested.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from telegram import Update
from telegram.ext import TypeHandler

from reminderbot.delivery.reminder import checkin_data
from reminderbot.storage.models import Mood
from reminderbot.telegram import callbacks
from reminderbot.telegram.concurrency import PerPersonUpdates
from reminderbot.telegram.cooldown import COOLDOWN_KEY
from tests.support import factories
from tests.support.harness import BotHarness, FakeClock

ALEX = 8501
SAM = 8502
STRANGER = 8503
WAIT = 5.0  # seconds; generous, so a slow machine never fails a correct bot


async def eventually(condition: Callable[[], bool], within: float = WAIT) -> bool:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


class Gate:
    """Holds chosen updates at the door until released: a slow handler, on demand."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.held: Callable[[Update], bool] = lambda _: False
        self.waiting = 0

    async def __call__(self, update: Update, _context: object) -> None:
        if self.held(update):
            self.waiting += 1
            await self.open.wait()


@pytest.fixture
async def running(harness: BotHarness) -> AsyncIterator[tuple[BotHarness, Gate]]:
    gate = Gate()
    harness.application.add_handler(TypeHandler(Update, gate), group=-10)
    await harness.application.start()
    try:
        yield harness, gate
    finally:
        gate.open.set()
        await harness.application.stop()


def text_of(user_id: int, command: str) -> Callable[[Update], bool]:
    def match(update: Update) -> bool:
        message = update.effective_message
        user = update.effective_user
        return (
            user is not None
            and user.id == user_id
            and message is not None
            and (message.text == command)
        )

    return match


async def put(harness: BotHarness, user_id: int, command: str) -> None:
    update = factories.command_update(harness.bot, user_id, command)
    await harness.application.update_queue.put(update)


async def test_a_slow_moment_for_one_person_does_not_delay_another(
    running: tuple[BotHarness, Gate],
) -> None:
    harness, gate = running
    gate.held = text_of(ALEX, "/help")
    await put(harness, ALEX, "/help")
    assert await eventually(lambda: gate.waiting == 1)
    await put(harness, SAM, "/support")
    # Sam is answered while Alex's update is still being handled.
    assert await eventually(lambda: len(harness.seen(SAM)) == 1)
    assert harness.seen(ALEX) == []
    gate.open.set()
    assert await eventually(lambda: len(harness.seen(ALEX)) == 1)


async def test_one_persons_updates_stay_in_order(running: tuple[BotHarness, Gate]) -> None:
    harness, gate = running
    gate.held = text_of(ALEX, "/help")
    await put(harness, ALEX, "/help")
    await put(harness, ALEX, "/support")
    assert await eventually(lambda: gate.waiting == 1)
    await asyncio.sleep(0.2)  # time enough for the second to overtake, if it could
    assert harness.seen(ALEX) == []
    gate.open.set()
    assert await eventually(lambda: len(harness.seen(ALEX)) == 2)
    first, second = harness.all_texts(ALEX)
    assert "/settings" in first  # /help's answer first, then /support's
    assert "988" in second and "/settings" not in second


async def test_nothing_is_kept_in_memory_for_people_who_never_said_yes(
    harness: BotHarness,
) -> None:
    for act in (
        lambda: harness.say(STRANGER, "hello?"),
        lambda: harness.command(STRANGER, "/help"),
        lambda: harness.command(STRANGER, "/mydata"),
        lambda: harness.command(STRANGER, "/checkins"),
        lambda: harness.press(STRANGER, callbacks.settings_data("quietmenu"), message_id=1),
    ):
        await act()
    # (Wrong invite tokens are remembered per stranger on purpose, bounded: a brake on guessing.)
    assert STRANGER not in harness.application.user_data
    assert STRANGER not in harness.application.chat_data
    assert STRANGER not in harness.application.bot_data.get(COOLDOWN_KEY, ())
    processor = harness.application.update_processor
    assert isinstance(processor, PerPersonUpdates) and processor.people_in_flight == 0


async def act_twice(
    harness: BotHarness, clock: FakeClock, act: Callable[[], Awaitable[None]]
) -> tuple[list[str], list[str]]:
    before = len(harness.seen(ALEX))
    await act()
    first = harness.all_texts(ALEX)[before:]
    clock.advance(seconds=5)
    before = len(harness.seen(ALEX))
    await act()
    return first, harness.all_texts(ALEX)[before:]


@pytest.mark.parametrize("command", ["/mydata", "/checkins"])
async def test_heavy_replies_have_a_per_person_cooldown(
    harness: BotHarness, clock: FakeClock, command: str
) -> None:
    await harness.join(ALEX)
    await harness.join(SAM)
    clock.set(clock.now.replace(hour=9))
    await harness.tick()
    delivery = [d for d in await harness.deliveries(ALEX) if d.telegram_message_id][-1]
    await harness.press(ALEX, checkin_data(delivery.id, Mood.STEADY))
    first, again = await act_twice(harness, clock, lambda: harness.command(ALEX, command))
    assert first and harness.text("errors.too_soon") not in first
    assert again == [harness.text("errors.too_soon")]
    # Someone else is not held back by Alex's cooldown.
    before = len(harness.seen(SAM))
    await harness.command(SAM, command)
    assert harness.text("errors.too_soon") not in harness.all_texts(SAM)[before:]
    # A minute later it works again.
    clock.advance(minutes=1)
    before = len(harness.seen(ALEX))
    await harness.command(ALEX, command)
    assert harness.all_texts(ALEX)[before:] == first
