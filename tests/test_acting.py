"""One transaction per command: a handler reads the person and makes its change in the same
transaction (telegram/acting.py), instead of reading them, then reading them again to write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from reminderbot.services.pausing import PauseLength
from reminderbot.telegram import callbacks
from tests.support.harness import BotHarness

ALEX = 8401
Step = Callable[[BotHarness], Awaitable[None]]


def counting_transactions(harness: BotHarness, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one for every transaction the bot begins from now on."""
    begun: list[int] = []
    sessions = harness.state.sessions
    begin = sessions.begin

    def counted(*args: Any, **kwargs: Any) -> Any:
        begun.append(1)
        return begin(*args, **kwargs)

    monkeypatch.setattr(sessions, "begin", counted)
    return begun


def command(name: str, args: str = "") -> Step:
    async def step(harness: BotHarness) -> None:
        await harness.command(ALEX, f"/{name}", args)

    return step


def press(data: str) -> Step:
    async def step(harness: BotHarness) -> None:
        await harness.press(ALEX, data, message_id=1)

    return step


ACTING = [
    pytest.param(command("times", "08:00 21:00"), id="/times"),
    pytest.param(command("quiet", "22:00 07:00"), id="/quiet"),
    pytest.param(command("timezone", "Europe/Berlin"), id="/timezone"),
    pytest.param(command("timezone"), id="/timezone asks"),
    pytest.param(command("settings"), id="/settings"),
    pytest.param(command("pause"), id="/pause"),
    pytest.param(command("resume"), id="/resume"),
    pytest.param(command("pair"), id="/pair"),
    pytest.param(command("unpair"), id="/unpair"),
    pytest.param(press(callbacks.settings_data("kind", "practice")), id="a setting"),
    pytest.param(press(callbacks.settings_data("quiet", "22-07")), id="quiet by button"),
    pytest.param(press(callbacks.pause_length_data(PauseLength.WEEK)), id="a pause"),
    pytest.param(press(callbacks.resume_data("mine")), id="resume by button"),
    pytest.param(press(callbacks.couple_data(True)), id="couple prompts"),
    pytest.param(press(callbacks.unpair_data(True)), id="unpair by button"),
]


@pytest.mark.parametrize("step", ACTING)
async def test_a_command_acts_in_one_transaction(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch, step: Step
) -> None:
    await harness.join(ALEX)
    begun = counting_transactions(harness, monkeypatch)
    await command("help")(harness)  # its handler needs no database at all
    # What runs around every handler: reachability, the note window, and the record that the
    # update was handled (telegram/once), which a command that acts makes in its own one.
    around = len(begun)
    await step(harness)
    assert len(begun) - around == around


async def test_someone_who_has_not_said_yes_is_pointed_to_start_and_nothing_is_kept(
    harness: BotHarness,
) -> None:
    await harness.command(ALEX, "/times", "08:00")
    assert harness.last_text(ALEX) == harness.text("settings.start_first")
    assert await harness.person(ALEX) is None
