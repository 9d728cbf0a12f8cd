"""The foundation, as a partner meets it: consent, help, stop, my data, delete, groups, errors.

Every test runs on SQLite and on PostgreSQL, against the strict Telegram double.
"""

from __future__ import annotations

import json

from sqlalchemy import inspect, select, text

from reminderbot.services.retention import RetentionPolicy
from reminderbot.storage.models import Base, ConsentState
from reminderbot.telegram import callbacks
from reminderbot.telegram.welcome import welcome_text
from tests.support.harness import BotHarness

ALEX = 5001
SAM = 5002


async def test_welcome_explains_and_offers_yes_or_not_now(harness: BotHarness) -> None:
    await harness.command(ALEX, "/start")
    welcome = harness.last_text(ALEX)
    assert welcome == welcome_text(harness.state, "en")
    assert "Test Practice" in welcome
    assert harness.last_buttons(ALEX) == [
        harness.text("buttons.consent_yes"),
        harness.text("buttons.consent_no"),
    ]
    # Reading the welcome stores nothing.
    assert await harness.person(ALEX) is None


async def test_not_now_stores_nothing_and_sends_nothing(harness: BotHarness) -> None:
    await harness.command(ALEX, "/start")
    await harness.press(ALEX, callbacks.consent_data(False))
    assert await harness.person(ALEX) is None
    edits = harness.double.calls_to("editMessageText", chat_id=ALEX)
    assert edits[-1].params["text"] == harness.text("onboarding.not_now")
    before = len(harness.seen(ALEX))
    harness.state.clock.advance(days=2)  # type: ignore[attr-defined]
    await harness.tick()
    assert len(harness.seen(ALEX)) == before


async def test_yes_records_consent_with_time_and_asks_timezone(harness: BotHarness) -> None:
    await harness.join(ALEX)
    person = await harness.person(ALEX)
    assert person is not None
    assert person.consent is ConsentState.GIVEN
    assert person.consent_given_at == harness.state.now()
    assert person.chat_id == ALEX
    # The welcome keeps its text and loses its buttons; the thanks come as a new message.
    assert not harness.double.calls_to("editMessageText", chat_id=ALEX)
    edit = harness.double.calls_to("editMessageReplyMarkup", chat_id=ALEX)[-1]
    assert "reply_markup" not in edit.params  # the consent buttons are gone
    assert harness.text("onboarding.consented") in harness.all_texts(ALEX)
    assert harness.last_text(ALEX).startswith(
        harness.text("settings.ask_timezone", time="09:00", timezone="UTC")[:40]
    )
    # Every answerCallbackQuery was sent, so the client's spinner stopped.
    assert len(harness.double.calls_to("answerCallbackQuery")) == 1


async def test_start_again_when_already_in_says_so(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/start")
    assert harness.last_text(ALEX) == harness.text("onboarding.already_on")


async def test_help_lists_commands_and_the_practice_contacts(harness: BotHarness) -> None:
    await harness.command(ALEX, "/help")
    help_text = harness.last_text(ALEX)
    for command in ("/settings", "/pause", "/mydata", "/stop", "/delete"):
        assert command in help_text
    assert "Practice line: +1 555 0100" in help_text
    assert "Crisis line: 988" in help_text
    assert "not a crisis service" in help_text


async def test_commands_menu_is_set_at_start_up(harness: BotHarness) -> None:
    calls = harness.double.calls_to("setMyCommands")
    assert calls, "the commands menu was not set"
    names = [c["command"] for c in calls[0].params["commands"]]  # type: ignore[index, union-attr]
    assert {"start", "help", "pause", "stop", "delete", "mydata"} <= set(names)


async def test_stop_asks_first_then_stops_everything_and_keeps_data(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/stop")
    words = RetentionPolicy.of(harness.state.settings).words()
    assert harness.last_text(ALEX) == harness.text("stop.confirm", **words)
    await harness.press(ALEX, callbacks.stop_data(True))
    person = await harness.person(ALEX)
    assert person is not None and person.consent is ConsentState.STOPPED
    assert person.consent_withdrawn_at == harness.state.now()
    assert harness.double.calls_to("editMessageText")[-1].params["text"] == harness.text(
        "stop.done"
    )
    # Nothing arrives any more, even days later.
    before = len(harness.seen(ALEX))
    harness.state.clock.advance(days=3)  # type: ignore[attr-defined]
    await harness.tick()
    assert len(harness.seen(ALEX)) == before
    # /start brings them back with the consent question again.
    await harness.command(ALEX, "/start")
    assert harness.last_text(ALEX) == welcome_text(harness.state, "en")
    await harness.press(ALEX, callbacks.consent_data(True))
    person = await harness.person(ALEX)
    assert person is not None and person.consent is ConsentState.GIVEN


async def test_stop_cancelled_changes_nothing(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/stop")
    await harness.press(ALEX, callbacks.stop_data(False))
    person = await harness.person(ALEX)
    assert person is not None and person.consent is ConsentState.GIVEN
    edit = harness.double.calls_to("editMessageText")[-1]
    assert edit.params["text"] == harness.text("stop.cancelled")


async def test_mydata_sends_everything_stored_to_read_and_as_a_json_file(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "08:30 20:00")
    await harness.command(ALEX, "/mydata")
    text, call = harness.double.calls_to("sendDocument", chat_id=ALEX)
    words = RetentionPolicy.of(harness.state.settings).words()
    kept = harness.text("retention.mydata", **words)
    assert text.params["caption"] == harness.text("mydata.caption", kept=kept)
    assert call.params["caption"] == harness.text("mydata.caption_json")
    assert [next(iter(c.filenames.values())).rsplit(".", 1)[1] for c in (text, call)] == [
        "txt",
        "json",
    ]
    for sent in (text, call):
        assert sent.params.get("protect_content") in (None, False)
    assert "08:30, 20:00" in next(iter(text.files.values())).decode()
    (content,) = call.files.values()
    data = json.loads(content)
    assert data["person"]["telegram_user_id"] == ALEX
    assert data["person"]["consent"] == "given"
    assert [s["local_time"] for s in data["schedules"]] == ["08:30:00", "20:00:00"]
    assert "deliveries" in data and "checkins" in data


async def test_mydata_for_someone_unknown_says_nothing_is_stored(harness: BotHarness) -> None:
    await harness.command(SAM, "/mydata")
    assert harness.last_text(SAM) == harness.text("mydata.nothing")
    assert not harness.double.calls_to("sendDocument")


async def _rows_mentioning(harness: BotHarness, telegram_id: int) -> list[str]:
    """Scan every column of every table for the Telegram id: where does any trace remain?"""
    found = []
    async with harness.state.sessions.begin() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).all()
            for row in rows:
                if any(str(value) == str(telegram_id) for value in row):
                    found.append(table.name)
    return found


async def test_delete_asks_first_then_erases_every_trace(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.join(SAM)
    await harness.command(ALEX, "/times", "08:00 21:00")
    harness.state.clock.advance(hours=2)  # type: ignore[attr-defined]
    await harness.tick()
    assert await _rows_mentioning(harness, ALEX)

    await harness.command(ALEX, "/delete")
    assert harness.last_text(ALEX) == harness.text("delete.confirm")
    await harness.press(ALEX, callbacks.delete_data(True))
    assert harness.double.calls_to("editMessageText")[-1].params["text"] == harness.text(
        "delete.done"
    )
    assert await _rows_mentioning(harness, ALEX) == []
    async with harness.state.sessions.begin() as session:
        for table in ("schedules", "deliveries", "checkins"):
            owners = (await session.execute(text(f"SELECT person_id FROM {table}"))).scalars()
            sam = await harness.person(SAM)
            assert sam is not None
            assert set(owners) <= {sam.id}
    # The other person's data is untouched.
    assert await harness.person(SAM) is not None


async def test_delete_cancelled_keeps_everything(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/delete")
    await harness.press(ALEX, callbacks.delete_data(False))
    assert await harness.person(ALEX) is not None
    assert harness.double.calls_to("editMessageText")[-1].params["text"] == harness.text(
        "delete.cancelled"
    )


async def test_in_a_group_the_bot_says_private_only_and_stores_nothing(
    harness: BotHarness,
) -> None:
    await harness.command(ALEX, "/start", chat_type="group", chat_id=-100123)
    assert harness.last_text(-100123) == harness.text("errors.private_only")
    assert await harness.person(ALEX) is None
    # Ordinary group chatter gets no reply at all.
    await harness.say(ALEX, "hello everyone", chat_type="group", chat_id=-100123)
    assert len(harness.seen(-100123)) == 1


async def test_unknown_command_and_free_text_get_short_helpful_replies(
    harness: BotHarness,
) -> None:
    await harness.command(ALEX, "/frobnicate")
    assert harness.last_text(ALEX) == harness.text("errors.unknown_command")
    await harness.say(ALEX, "I had a hard day")  # never said yes: nothing held, no times
    assert harness.last_text(ALEX) == harness.text("errors.free_text_no_data")


async def test_forged_or_stale_button_is_answered_politely_and_changes_nothing(
    harness: BotHarness,
) -> None:
    await harness.join(ALEX)
    for data in ("consent:maybe", "delete:yes;drop", "x" * 64, "ci:abc:s", "ci:999999:z"):
        await harness.press(ALEX, data, message_id=1)
    assert harness.answers()[-5:] == [harness.text("answers.stale_button")] * 5
    person = await harness.person(ALEX)
    assert person is not None and person.consent is ConsentState.GIVEN


async def test_a_failing_handler_is_logged_without_words_and_answered_gently(
    harness: BotHarness, caplog: object, monkeypatch: object
) -> None:
    import logging

    import pytest

    from reminderbot.telegram.handlers import help as help_module

    assert isinstance(caplog, pytest.LogCaptureFixture)
    assert isinstance(monkeypatch, pytest.MonkeyPatch)

    def broken(*_: object) -> str:
        raise RuntimeError("boom")

    monkeypatch.setattr(help_module, "support_contacts", broken)
    with caplog.at_level(logging.ERROR):
        await harness.command(ALEX, "/help", "my husband lied again")
    assert harness.last_text(ALEX) == harness.text("errors.generic")
    logged = caplog.text
    assert "handler failed" in logged and f"user_id={ALEX}" in logged
    assert "lied" not in logged
    # The bot keeps working afterwards.
    monkeypatch.undo()
    await harness.command(ALEX, "/help")
    assert "/settings" in harness.last_text(ALEX)


async def test_schema_has_no_column_for_message_words_outside_checkins(
    harness: BotHarness,
) -> None:
    """Privacy by design: only check-in notes hold a person's own words."""
    engine = harness.state.sessions.kw["bind"]
    async with engine.connect() as connection:
        names = await connection.run_sync(
            lambda c: {
                t: [col["name"] for col in inspect(c).get_columns(t)]
                for t in inspect(c).get_table_names()
            }
        )
    text_columns = [f"{t}.{c}" for t, cols in names.items() for c in cols if c in {"text", "note"}]
    assert text_columns == ["checkins.note"]
