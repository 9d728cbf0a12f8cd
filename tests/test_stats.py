"""Counts for the practice (issue 12): aggregates only, small numbers hidden, never content or ids.

On SQLite and PostgreSQL. The rows are written directly: what matters is what the practice reads.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reminderbot.storage.db import SessionFactory, create_session_factory
from reminderbot.storage.models import (
    CheckIn,
    ConsentState,
    Couple,
    Delivery,
    DeliveryStatus,
    Mood,
    Person,
)
from tests.support import databases
from tests.support.harness import BotHarness, FakeClock, catalog

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
NOTE = "only-mine-a-private-sentence"
FIRST_ID = 880_000


def words(key: str, **params: object) -> str:
    return catalog().text(key, "en", practice_name="Test Practice", **params)


async def fill(sessions: SessionFactory, now: datetime = NOW) -> None:
    """7 active (6 of them paired), 2 paused, 1 unreachable, 1 stopped; 6 sent, 3 skipped for
    quiet hours, 1 for a pause; 6 check-ins this week and 1 three weeks ago, each with a note."""
    async with sessions.begin() as session:
        couples = [Couple(), Couple(), Couple()]
        session.add_all(couples)
        await session.flush()
        people: list[Person] = []
        for n in range(11):
            person = Person(
                telegram_user_id=FIRST_ID + n,
                chat_id=FIRST_ID + n,
                language="en",
                timezone="UTC",
                consent=ConsentState.STOPPED if n == 10 else ConsentState.GIVEN,
                consent_given_at=now - timedelta(days=30),
                couple_id=couples[n // 2].id if n < 6 else None,
            )
            if n in (7, 8):
                person.paused_at = now - timedelta(hours=1)
            if n == 9:
                person.reachable = False
            people.append(person)
        session.add_all(people)
        await session.flush()
        outcomes = (
            [(DeliveryStatus.SENT, None)] * 6
            + [(DeliveryStatus.SKIPPED, "quiet_hours")] * 3
            + [(DeliveryStatus.SKIPPED, "paused")]
        )
        for n, (status, reason) in enumerate(outcomes):
            session.add(
                Delivery(
                    person_id=people[n % 7].id,
                    due_at=now - timedelta(hours=n + 1),
                    status=status,
                    reason=reason,
                    content_id="affirmation-001",
                )
            )
        for n in range(6):
            session.add(
                CheckIn(
                    person_id=people[n].id,
                    mood=Mood.HEAVY,
                    note=NOTE,
                    created_at=now - timedelta(hours=n + 1),
                )
            )
        session.add(
            CheckIn(
                person_id=people[0].id,
                mood=Mood.STEADY,
                note=NOTE,
                created_at=now - timedelta(weeks=3),
            )
        )


def expected_lines() -> list[str]:
    return [
        words("stats.title", since="2026-01-12"),
        words("stats.people", active=7, paused="<5", unreachable="<5", stopped="<5", paired=6),
        words("stats.sent", count=6),
        words("stats.skipped", count="<5"),
        words("stats.skipped_reason", reason="paused", count="<5"),
        words("stats.skipped_reason", reason="quiet_hours", count="<5"),
        words("stats.checkins"),
        # Nobody: 0, told apart from a few (the one check-in three weeks ago).
        *[words("stats.week", monday=m, count=0) for m in ("2026-01-12", "2026-01-19")],
        *[words("stats.week", monday=m, count=0) for m in ("2026-01-26", "2026-02-02")],
        words("stats.week", monday="2026-02-09", count="<5"),
        *[words("stats.week", monday=m, count=0) for m in ("2026-02-16", "2026-02-23")],
        words("stats.week", monday="2026-03-02", count=6),
    ]


def assert_no_content_or_ids(text: str) -> None:
    assert NOTE not in text and "affirmation-001" not in text
    assert str(FIRST_ID) not in text and "88000" not in text


def test_zero_shows_as_zero_and_one_to_four_as_under_five() -> None:
    """Zero as "<5" made "nobody" look like "a few" (issue 21); zero singles nobody out."""
    from reminderbot.services.stats import shown

    assert [shown(n) for n in range(7)] == ["0", "<5", "<5", "<5", "<5", "5", "6"]


async def test_counts_hide_small_numbers_and_carry_no_content(sessions: SessionFactory) -> None:
    from reminderbot.services import stats

    await fill(sessions)
    async with sessions.begin() as session:
        counts = await stats.practice_counts(session, NOW)
    text = stats.render(counts, catalog(), "en", "Test Practice")
    assert text.splitlines() == expected_lines()
    assert_no_content_or_ids(text)


async def test_stats_command_prints_the_counts(sqlite_template: Path, tmp_path: Path) -> None:
    """The command as an operator runs it (its queries run on both databases above)."""
    database_url = databases.sqlite_copy(sqlite_template, tmp_path)
    engine = databases.engine_for(database_url)
    try:
        await fill(create_session_factory(engine), datetime.now(UTC))
    finally:
        await engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERBOT_")}
    env |= {"REMINDERBOT_DATABASE_URL": database_url, "REMINDERBOT_PRACTICE_NAME": "Test Practice"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reminderbot",
        "stats",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = (b.decode() for b in await asyncio.wait_for(process.communicate(), 60))
    assert process.returncode == 0, err
    lines = out.splitlines()
    people = words("stats.people", active=7, paused="<5", unreachable="<5", stopped="<5", paired=6)
    assert people in lines
    assert words("stats.sent", count=6) in lines
    assert_no_content_or_ids(out + err)


async def test_weekly_summary_goes_to_admin_chats_only_when_turned_on(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    from reminderbot.telegram.app import weekly_summary

    clock.set(NOW)
    await fill(sessions)
    async with BotHarness.running(sessions, clock, admin_chat_ids=[4242]) as off:
        assert not off.application.job_queue.get_jobs_by_name("weekly-summary")  # type: ignore[union-attr]
    async with BotHarness.running(
        sessions, clock, admin_chat_ids=[4242], weekly_summary=True
    ) as on:
        assert on.application.job_queue.get_jobs_by_name("weekly-summary")  # type: ignore[union-attr]
        await weekly_summary(on.application)
        (sent,) = on.double.calls_to("sendMessage", chat_id=4242)
        text = str(sent.params["text"])
        assert text.splitlines() == expected_lines()
        assert_no_content_or_ids(text)


async def test_several_instances_send_one_weekly_summary(
    sessions: SessionFactory, clock: FakeClock, database_url: str
) -> None:
    """Every replica's job fires at the same minute; the practice gets the counts once."""
    from reminderbot.telegram.app import weekly_summary

    if not database_url.startswith("postgresql"):
        pytest.skip("several instances share PostgreSQL; SQLite runs one process per file")
    clock.set(NOW)
    await fill(sessions)
    settings = {"admin_chat_ids": [4242], "weekly_summary": True}
    async with (
        BotHarness.running(sessions, clock, **settings) as one,
        BotHarness.running(sessions, clock, **settings) as two,
        BotHarness.running(sessions, clock, **settings) as three,
    ):
        await asyncio.gather(
            *(weekly_summary(h.application, hold_seconds=1.0) for h in (one, two, three))
        )
        sent = [c for h in (one, two, three) for c in h.double.calls_to("sendMessage")]
    assert len(sent) == 1
