"""Nothing is kept for ever: the daily purge after simulated months, a withdrawn answer, the
person's own choice in /settings, one purge across instances, and the words that say how long.

Database tests run on SQLite and PostgreSQL, against the strict Telegram double.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from reminderbot.config import ConfigError, Settings, load_settings
from reminderbot.delivery.reminder import checkin_data
from reminderbot.services import retention
from reminderbot.services.retention import COUNTS_DAYS, RetentionPolicy, lines_only_for
from reminderbot.storage.db import SessionFactory, create_session_factory
from reminderbot.storage.models import Audience, CheckIn, Invite, Mood, Person
from reminderbot.telegram import callbacks
from reminderbot.telegram.app import _post_init, release_leadership
from reminderbot.telegram.context import AppState
from reminderbot.telegram.retention import run_retention
from reminderbot.telegram.welcome import welcome_text
from tests.support import databases, factories
from tests.support import harness as harness_support
from tests.support.botdouble import BotDouble
from tests.support.harness import BotHarness, FakeClock, catalog
from tests.test_couples import invite, pair, utc

ALEX = 8301  # paired with SAM; blocks the bot
SAM = 8302  # stays
KIM = 8303  # leaves an invite unused
REPO = Path(__file__).resolve().parents[1]

# The settings whose periods the words must say: every field of the policy, each a setting of
# the same name (retention_time says when the purge runs, not how long anything is kept).
PERIODS = tuple(f.name for f in fields(RetentionPolicy))


async def reminder_at(harness: BotHarness, clock: FakeClock, user_id: int, day: datetime) -> int:
    """Their reminder at 09:00 that day (after a tick that lets the schedule catch up from a
    long gap): the id of the delivery sent to them."""
    clock.set(day.replace(hour=7))
    await harness.tick()  # a stale occurrence is skipped and the schedule moves to today
    clock.set(day.replace(hour=9))
    await harness.tick()
    sent = [d for d in await harness.deliveries(user_id) if d.due_at == clock.now]
    assert sent and sent[0].telegram_message_id, "no reminder was sent"
    return sent[0].id


async def describe(harness: BotHarness, user_id: int, answer: str) -> None:
    """Answer "which describes you" through /settings, as a person does."""
    await harness.command(user_id, "/settings")
    await harness.press(user_id, callbacks.settings_data("whomenu"))
    await harness.press(user_id, callbacks.settings_data("who", answer))


async def check_in(harness: BotHarness, user_id: int, delivery_id: int, note: str) -> None:
    await harness.press(user_id, checkin_data(delivery_id, Mood.HEAVY))
    await harness.say(user_id, note)


async def notes_of(harness: BotHarness) -> set[str | None]:
    async with harness.state.sessions.begin() as session:
        return set((await session.execute(select(CheckIn.note))).scalars())


async def rows(harness: BotHarness, model: type[object]) -> int:
    async with harness.state.sessions.begin() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


# --------------------------------------------------------------------------- the purge
async def test_a_purge_after_simulated_months(harness: BotHarness, clock: FakeClock) -> None:
    start = utc(2026, 3, 2)
    await pair(harness, ALEX, SAM)
    await describe(harness, ALEX, "involved_partner")
    await check_in(harness, ALEX, await reminder_at(harness, clock, ALEX, start), "ALEX-NOTE")
    await check_in(harness, SAM, (await harness.deliveries(SAM))[-1].id, "SAM-OLD")
    await harness.join(KIM)
    await invite(harness, KIM)  # never used; it expires two days later
    # The next day ALEX blocks the bot: Telegram answers 403 and they are unreachable.
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="403")
    clock.set(utc(2026, 3, 3, 9))
    await harness.tick()
    alex = await harness.person(ALEX)
    assert alex is not None and not alex.reachable

    # 400 days on: SAM checked in 30 days ago and today.
    today = start + timedelta(days=400)
    month_ago = await reminder_at(harness, clock, SAM, today - timedelta(days=30))
    await check_in(harness, SAM, month_ago, "SAM-MONTH")
    await check_in(harness, SAM, await reminder_at(harness, clock, SAM, today), "SAM-TODAY")
    assert {"ALEX-NOTE", "SAM-OLD"} <= await notes_of(harness)  # nothing was ever purged
    seen_by_sam = len(harness.seen(SAM))

    clock.set(today.replace(hour=12))
    purged = await run_retention(harness.bot, harness.state)

    assert purged is not None and not purged.failed
    # ALEX, unreachable for 400 days: erased as /delete erases, telegram id and answer included.
    assert await harness.person(ALEX) is None
    async with harness.state.sessions.begin() as session:
        people = (await session.execute(select(Person))).scalars().all()
    assert len(people) == 2 and await harness.person(KIM) is not None
    assert all(p.audience is Audience.ANYONE for p in people)
    # SAM heard exactly what /delete would have told them, and is no longer paired.
    assert harness.all_texts(SAM)[seen_by_sam:] == [harness.text("pairing.partner_unpaired")]
    sam = await harness.person(SAM)
    assert sam is not None and sam.couple_id is None
    # SAM's check-ins: 400 days old gone (the default keeps 90), the month-old and today's kept.
    assert await notes_of(harness) == {"SAM-MONTH", "SAM-TODAY"}
    # KIM's invite expired long ago.
    assert await rows(harness, Invite) == 0
    # Deliveries: today's says which line it was; the month-old one only when and whether it
    # went out; the rest (older than the counts look back, no check-in on them) are gone.
    by_id = {d.id: d for d in await harness.deliveries(SAM)}
    kept = by_id[month_ago]
    assert (kept.content_id, kept.kind, kept.telegram_message_id) == (None, None, None)
    assert kept.status.value == "sent" and kept.due_at == today - timedelta(days=30, hours=-9)
    horizon = clock.now - timedelta(days=COUNTS_DAYS)
    assert all(d.due_at >= horizon for d in by_id.values())
    assert any(d.content_id for d in by_id.values() if d.due_at >= today)
    # A second run the same day finds nothing left to do.
    again = await run_retention(harness.bot, harness.state)
    assert again is not None and not any(again.counts().values())


async def test_someone_stopped_long_ago_is_erased_and_someone_stopped_lately_kept(
    harness: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await harness.join(ALEX)
    await harness.join(SAM)
    for user in (ALEX, SAM):
        await harness.command(user, "/stop")
        await harness.press(user, callbacks.stop_data(True))
        clock.advance(days=100)
    # ALEX stopped 200 days ago, SAM 100: the practice erases after 180.
    with caplog.at_level(logging.INFO, logger="reminderbot.telegram.retention"):
        await run_retention(harness.bot, harness.state)
    # One line for the operator: counts only, never an id.
    assert [r.getMessage() for r in caplog.records if r.name.endswith("retention")] == [
        "retention: purged people 1, checkins 0, deliveries_reduced 0, deliveries_deleted 0, "
        "answers_scrubbed 0, invites 0"
    ]
    assert await harness.person(ALEX) is None
    assert await harness.person(SAM) is not None


# --------------------------------------------------------------------------- a withdrawn answer
async def involved_lines(harness: BotHarness, user_id: int) -> list[str]:
    only = lines_only_for(harness.state.catalog, Audience.INVOLVED_PARTNER)
    return [d.content_id for d in await harness.deliveries(user_id) if d.content_id in only]


async def test_a_withdrawn_answer_leaves_no_line_that_reveals_it(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.join(ALEX)
    await describe(harness, ALEX, "involved_partner")
    day = utc(2026, 3, 2)
    for _ in range(60):  # two weeks is usually enough; bounded either way
        await reminder_at(harness, clock, ALEX, day)
        day += timedelta(days=1)
        if len(await harness.deliveries(ALEX)) >= 14 and await involved_lines(harness, ALEX):
            break
    assert await involved_lines(harness, ALEX), "no line for involved partners was sent"
    sent = len(await harness.deliveries(ALEX))

    await describe(harness, ALEX, "anyone")  # prefer not to say

    # At once, not at the next daily purge; every reminder is still counted.
    assert await involved_lines(harness, ALEX) == []
    assert len(await harness.deliveries(ALEX)) == sent


async def test_the_daily_purge_also_scrubs_an_answer_changed_elsewhere(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.join(ALEX)
    await describe(harness, ALEX, "involved_partner")
    day = utc(2026, 3, 2)
    for _ in range(60):
        await reminder_at(harness, clock, ALEX, day)
        day += timedelta(days=1)
        if await involved_lines(harness, ALEX):
            break
    # An answer that stands is not touched.
    lines = await involved_lines(harness, ALEX)
    untouched = await run_retention(harness.bot, harness.state)
    assert untouched is not None and untouched.answers_scrubbed == 0
    assert await involved_lines(harness, ALEX) == lines
    async with harness.state.sessions.begin() as session:  # not through /settings
        person = (await session.execute(select(Person))).scalar_one()
        person.audience = Audience.HURT_PARTNER
    purged = await run_retention(harness.bot, harness.state)
    assert purged is not None and purged.answers_scrubbed == len(lines)
    assert await involved_lines(harness, ALEX) == []


# --------------------------------------------------------------------------- the choice
async def test_each_person_chooses_how_long_check_ins_are_kept(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.join(ALEX)
    await harness.join(SAM)
    await harness.command(ALEX, "/settings")
    await harness.press(ALEX, callbacks.settings_data("keepmenu"))
    offered = harness.last_buttons(ALEX)
    policy = RetentionPolicy.of(harness.state.settings)
    assert set(offered) >= {harness.text("retention.buttons.days", days=d) for d in (30, 365)}
    days_90 = harness.text("retention.buttons.days", days=90)
    assert harness.text("buttons.chosen", label=days_90) in offered  # the default, until chosen

    await harness.press(ALEX, callbacks.keep_data(30))

    person = await harness.person(ALEX)
    assert person is not None and person.keep_checkins_days == 30
    assert harness.answers()[-1] == harness.text("answers.saved")
    summary = harness.text("retention.summary", **policy.words(30))
    assert summary in str(harness.double.calls_to("editMessageText")[-1].params["text"])
    # A forged or outdated choice beyond the practice's longest changes nothing.
    menu = harness.message_with_button(ALEX, callbacks.keep_data(30))
    await harness.press(ALEX, callbacks.keep_data(9999), message_id=menu)
    person = await harness.person(ALEX)
    assert person is not None and person.keep_checkins_days == 30
    assert harness.answers()[-1] == harness.text("answers.stale_button")

    # /mydata says their own choice.
    await harness.command(ALEX, "/mydata")
    # The file to read comes first, then the JSON.
    readable, _json = harness.double.calls_to("sendDocument", chat_id=ALEX)[-2:]
    caption = str(readable.params["caption"])
    assert harness.text("retention.mydata", **policy.words(30)) in caption
    assert policy.words(30)["keep_days"] == 30

    # 40 days on, ALEX's 40-day-old check-in is gone; SAM's (the default, 90 days) is kept.
    start = utc(2026, 3, 2)
    for user in (ALEX, SAM):
        await check_in(harness, user, await reminder_at(harness, clock, user, start), f"{user}")
    clock.set(start + timedelta(days=40))
    await run_retention(harness.bot, harness.state)
    assert await notes_of(harness) == {str(SAM)}


# --------------------------------------------------------------------------- one instance
# SQLite needs no lock here: a second process on the same file refuses to start.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_instances_at_once_purge_once(
    harness: BotHarness, clock: FakeClock, database_url: str
) -> None:
    await pair(harness, ALEX, SAM)
    harness.double.fail_next("sendMessage", chat_id=ALEX, error="403")
    clock.set(utc(2026, 3, 2, 9))
    await harness.tick()
    clock.advance(days=400)
    seen_by_sam = len(harness.seen(SAM))
    other_engine = databases.engine_for(database_url)
    try:
        other: SessionFactory = create_session_factory(other_engine)
        async with BotHarness.running(other, clock, double=harness.double) as second:
            results = await asyncio.gather(
                run_retention(harness.bot, harness.state, hold_seconds=0.5),
                run_retention(second.bot, second.state, hold_seconds=0.5),
            )
    finally:
        await other_engine.dispose()
    ran = [r for r in results if r is not None]
    assert len(ran) == 1 and ran[0].people == 1
    assert await harness.person(ALEX) is None
    assert harness.all_texts(SAM)[seen_by_sam:] == [harness.text("pairing.partner_unpaired")]


# --------------------------------------------------------------------------- the words
def sentences(settings: Settings) -> dict[str, str]:
    """Every sentence about keeping, as a person reads it: the welcome, the /settings line and
    /mydata's caption (for someone who has not chosen)."""
    state = AppState(
        settings=settings,
        catalog=catalog(),
        sessions=None,  # type: ignore[arg-type]  # the words need no database
        clock=FakeClock(),
        run_dispatcher=False,
    )
    words = RetentionPolicy.of(settings).words()
    kept = state.text("retention.mydata", "en", **words)
    return {
        "welcome": welcome_text(state, "en"),
        "settings": state.text("retention.summary", "en", **words),
        "mydata": state.text("mydata.caption", "en", kept=kept),
    }


def said(settings: Settings) -> str:
    return "\n".join(sentences(settings).values())


def test_every_retention_setting_is_said_and_changing_it_changes_the_words() -> None:
    assert set(PERIODS) <= set(Settings.model_fields)
    base = said(harness_support.test_settings())
    for n, name in enumerate(PERIODS):
        value = 700 + n  # no other number in the words
        changed = said(harness_support.test_settings(**{name: value, "checkin_keep_max_days": 800}))
        if name == "checkin_keep_max_days":
            changed = said(harness_support.test_settings(**{name: value}))
        assert str(value) in changed, f"{name} is not said in the words"
        assert changed != base
    # And the sentences say only what the settings say: no number written into the words.
    numbers = set(re.findall(r"\b\d+\b", base)) - {"1", "2"}
    assert numbers <= {
        str(v) for v in RetentionPolicy.of(harness_support.test_settings()).words().values()
    }


def test_mydata_caption_fits_telegram_at_the_longest_periods() -> None:
    caption = sentences(harness_support.test_settings(**dict.fromkeys(PERIODS, 3650)))["mydata"]
    assert "3650" in caption and len(caption) <= 1024


def test_the_readme_names_every_retention_setting() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in (*PERIODS, "retention_time"):
        assert f"`{name}`" in readme, name


def test_a_default_longer_than_the_longest_choice_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "reminderbot.toml"
    config.write_text("checkin_keep_days = 400\ncheckin_keep_max_days = 365\n")
    with pytest.raises(ConfigError, match="checkin_keep_days must not be longer"):
        load_settings(config)


def test_choices_stay_within_the_practice_maximum() -> None:
    policy = RetentionPolicy(
        checkin_keep_days=60,
        checkin_keep_max_days=120,
        erase_inactive_after_days=180,
        delivery_detail_days=14,
    )
    assert policy.choices == (30, 60, 90, 120)
    assert policy.checkin_days(None) == 60
    assert policy.checkin_days(365) == 120  # a choice above a lowered maximum is capped
    assert retention.KEEP_PRESETS  # the presets /settings offers


async def test_a_reminder_whose_line_was_forgotten_keeps_its_words_when_tapped(
    harness: BotHarness, clock: FakeClock
) -> None:
    await harness.join(ALEX)
    delivery_id = await reminder_at(harness, clock, ALEX, utc(2026, 3, 2))
    (reminder,) = harness.double.calls_to("sendMessage", chat_id=ALEX)[-1:]
    words = str(reminder.params["text"])
    clock.advance(days=20)  # past delivery_detail_days: the row no longer says which line
    await run_retention(harness.bot, harness.state)
    assert (await harness.deliveries(ALEX))[0].content_id is None

    message_id = harness.double.message_id_of(reminder)
    shown = words
    for mood in (Mood.STEADY, Mood.HEAVY):  # a second tap changes the answer
        data = checkin_data(delivery_id, mood)
        await harness.process(
            factories.callback_update(
                harness.bot, ALEX, data, message_id=message_id, message_text=shown
            )
        )
        label = harness.text(f"buttons.mood_{mood.value}")
        shown = str(harness.double.calls_to("editMessageText")[-1].params["text"])
        assert shown == words + "\n\n" + harness.text("checkin.recorded_line", mood=label)


async def test_the_daily_job_is_scheduled_at_the_configured_time(sessions: SessionFactory) -> None:
    state = AppState(
        settings=harness_support.test_settings(retention_time="04:15"),
        catalog=catalog(),
        sessions=sessions,
        clock=FakeClock(),
        run_dispatcher=True,
    )
    bot = BotHarness(state, BotDouble())
    await bot.application.initialize()
    try:
        await _post_init(bot.application)
        assert bot.application.job_queue is not None
        (job,) = bot.application.job_queue.get_jobs_by_name("retention")
        trigger = job.job.trigger
        assert "hour='4'" in str(trigger) and "minute='15'" in str(trigger)
    finally:
        await release_leadership(bot.application)
        await bot.application.shutdown()
