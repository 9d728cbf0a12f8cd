"""The support path never shows an example: a made-up number would be called in a hard moment.

The shipped config's contacts are illustrations. Run with them (or with none, or with an old copy
of the shipped file that carries no marker), every path that shows contacts gives generic words
that are true anywhere, and start-up warns once, naming the setting.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from reminderbot.config import Settings, SupportContact, load_settings
from reminderbot.delivery.reminder import checkin_data
from reminderbot.sandbox.runner import start_bot, stop_process
from reminderbot.sandbox.server import RunningServer
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import Mood
from reminderbot.telegram import callbacks
from reminderbot.telegram.contacts import example_warning, is_example
from tests.support.harness import BotHarness, FakeClock
from tests.test_checkins_support import joined, reminder_at, utc

REPO = Path(__file__).resolve().parents[1]
ALEX = 8301
SHIPPED = load_settings(REPO / "config" / "reminderbot.toml").support_contacts


def unmarked(contacts: list[SupportContact]) -> list[SupportContact]:
    """An operator's copy of an older shipped file: the same contacts, no marker."""
    return [c.model_copy(update={"example": False}) for c in contacts]


async def every_path_that_shows_contacts(harness: BotHarness, clock: FakeClock) -> list[str]:
    """Welcome, /help, /support, "This is hard right now" and the pointers: all that was said."""
    await harness.command(ALEX, "/start")
    await joined(harness, ALEX)
    await harness.command(ALEX, "/help")
    await harness.command(ALEX, "/support")
    delivery = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery, Mood.HEAVY))
    await harness.press(ALEX, callbacks.SUPPORT_NOW)
    await harness.say(ALEX, "hello?")
    await harness.command(ALEX, "/nonsense")
    return harness.all_texts(ALEX)


@pytest.mark.parametrize(
    "contacts",
    [SHIPPED, unmarked(SHIPPED), []],
    ids=["shipped", "old-copy-without-marker", "none"],
)
async def test_no_example_contact_reaches_a_person(
    sessions: SessionFactory, clock: FakeClock, contacts: list[SupportContact]
) -> None:
    assert SHIPPED, "the shipped config lists example contacts"
    async with BotHarness.running(sessions, clock, support_contacts=contacts) as harness:
        said = await every_path_that_shows_contacts(harness, clock)
        generic = harness.text("support.no_contacts")
        lines = [
            harness.text("support.contact_line", name=c.name, contact=c.contact) for c in SHIPPED
        ]
    everything = "\n".join(said)
    for contact, line in zip(SHIPPED, lines, strict=True):
        assert line not in everything
        assert contact.name not in everything
    assert "555" not in everything
    # /help, /support and the button each give the generic words instead.
    assert sum(generic in text for text in said) == 3


async def test_a_real_contact_beside_the_examples_is_shown_alone(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    real = SupportContact(name="Our front desk", contact="+49 30 1234567")
    async with BotHarness.running(sessions, clock, support_contacts=[*SHIPPED, real]) as harness:
        await harness.command(ALEX, "/support")
        text = harness.last_text(ALEX)
        assert harness.text("support.contact_line", name=real.name, contact=real.contact) in text
        assert harness.text("support.no_contacts") not in text
    assert all(c.name not in text for c in SHIPPED)


def test_every_shipped_contact_is_an_example() -> None:
    assert all(is_example(c) for c in SHIPPED)
    assert all(is_example(c) for c in unmarked(SHIPPED))
    assert not is_example(SupportContact(name="Our front desk", contact="+49 30 1234567"))


def test_the_warning_names_the_setting_only_when_people_see_generic_words() -> None:
    def settings(contacts: list[SupportContact]) -> Settings:
        return Settings(token="1:x", support_contacts=contacts)

    for contacts in (SHIPPED, unmarked(SHIPPED), []):
        warning = example_warning(settings(contacts))
        assert warning is not None and "support_contacts" in warning
    real = SupportContact(name="Our front desk", contact="+49 30 1234567")
    assert example_warning(settings([real])) is None


# ------------------------------------------------------------------ start-up, as run


@pytest.mark.e2e
async def test_start_up_with_the_shipped_config_warns_once_naming_the_setting(
    server: RunningServer, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    process = await start_bot(server, url, cwd=REPO, stderr=asyncio.subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not server.state.calls_to("getUpdates"):
            assert process.returncode is None, "the bot exited during start-up"
            assert time.monotonic() < deadline, "the bot never started polling"
            await asyncio.sleep(0.05)
    finally:
        assert await stop_process(process) == 0
    assert process.stderr is not None
    lines = (await process.stderr.read()).decode().splitlines()
    warnings = [line for line in lines if "support_contacts" in line]
    assert len(warnings) == 1, lines
    assert "WARNING" in warnings[0]
