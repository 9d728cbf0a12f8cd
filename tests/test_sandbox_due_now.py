"""The sandbox's "Make next reminder due now" tells the truth: it says a reminder arrives only
when the dispatcher then sends one, and otherwise says why nothing will (issue 21, finding 9)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from reminderbot.delivery.batch import Reason
from reminderbot.sandbox.due_now import make_next_due
from reminderbot.services.pausing import PauseLength
from reminderbot.storage.models import DeliveryStatus, Schedule
from reminderbot.telegram import callbacks
from tests.support.harness import BotHarness, FakeClock

ALEX = 7101
Setup = Callable[[BotHarness], Awaitable[None]]


async def nothing(h: BotHarness) -> None:
    return None


async def paused(h: BotHarness) -> None:
    await h.command(ALEX, "/pause")
    await h.press(ALEX, callbacks.pause_length_data(PauseLength.WEEK))


async def paused_until_resumed(h: BotHarness) -> None:
    await h.command(ALEX, "/pause")
    await h.press(ALEX, callbacks.pause_length_data(PauseLength.UNTIL_RESUMED))


async def every_kind_off(h: BotHarness) -> None:
    await h.command(ALEX, "/settings")
    await h.press(ALEX, callbacks.settings_data("kindsmenu"))
    for kind in ("affirmation", "practice", "checkin_prompt"):
        person = await h.person(ALEX)
        assert person is not None
        flag = {"affirmation": "affirmations", "practice": "practices"}.get(kind, "checkin_prompts")
        if getattr(person, f"wants_{flag}"):
            await h.press(ALEX, callbacks.settings_data("kind", kind))


async def stopped(h: BotHarness) -> None:
    await h.command(ALEX, "/stop")
    await h.press(ALEX, callbacks.stop_data(True))


async def in_quiet_hours(h: BotHarness) -> None:
    await h.command(ALEX, "/quiet", "06:00 08:00")  # the clock says 07:00 UTC


async def no_days(h: BotHarness) -> None:
    await h.command(ALEX, "/settings")
    await h.press(ALEX, callbacks.settings_data("daysmenu"))
    for day in range(7):
        await h.press(ALEX, callbacks.settings_data("day", str(day)))


async def resumed(h: BotHarness) -> None:
    await paused(h)
    await h.command(ALEX, "/resume")


# What each state makes the status line say instead of "it arrives", if anything, and the
# reason the dispatcher then records for the skip (None: nothing was scheduled to make due).
CASES: dict[str, tuple[Setup, str | None, Reason | None]] = {
    "an ordinary day": (nothing, None, None),
    "paused for a week": (paused, "paused until", Reason.PAUSED),
    "paused until resumed": (paused_until_resumed, "paused until they resume", Reason.PAUSED),
    "paused, then resumed": (resumed, None, None),
    "every kind turned off": (every_kind_off, "every kind", Reason.NO_CONTENT),
    "stopped": (stopped, "stopped", None),
    "in quiet hours": (in_quiet_hours, "quiet hours", Reason.QUIET_HOURS),
    "no days chosen": (no_days, "no days", None),
}


async def _due_times(h: BotHarness) -> list[object]:
    async with h.state.sessions.begin() as session:
        person = await h.person(ALEX)
        assert person is not None
        rows = await session.execute(
            Schedule.__table__.select().where(Schedule.person_id == person.id)
        )
        return [row.next_due_at for row in rows]


@pytest.mark.parametrize("name", list(CASES))
async def test_it_says_a_reminder_arrives_only_when_one_does(
    harness: BotHarness, clock: FakeClock, name: str
) -> None:
    setup, why, skipped = CASES[name]
    await harness.join(ALEX)
    await setup(harness)
    before = await _due_times(harness)
    async with harness.state.sessions.begin() as session:
        said = await make_next_due(session, ALEX, clock())
    await harness.tick()
    deliveries = await harness.deliveries(ALEX)
    arrived = [d for d in deliveries if d.telegram_message_id is not None]

    assert ("arrives" in said) == bool(arrived), said
    assert bool(arrived) == (why is None), said
    if why is not None:
        assert why in said, said
        assert "nothing will arrive" in said.lower(), said
    if skipped is not None:
        # Made due all the same: the dispatcher judged it and recorded why it was not sent.
        assert [(d.status, d.reason) for d in deliveries] == [(DeliveryStatus.SKIPPED, skipped)]
    elif why is not None:
        assert deliveries == [] and await _due_times(harness) == before  # nothing to make due


async def test_someone_who_never_said_yes(harness: BotHarness, clock: FakeClock) -> None:
    async with harness.state.sessions.begin() as session:
        said = await make_next_due(session, ALEX, clock())
    assert "not said yes" in said
