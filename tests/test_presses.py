"""Every press counts: a press Telegram will no longer let us answer still takes effect, and a
button pressed twice never turns into an error, an apology or an admin alert.

Runs on SQLite and PostgreSQL against the strict double, which answers like Telegram: 400 "query
is too old" for a late answer, 400 "message is not modified" for an edit that changes nothing.
"""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from telegram import Message, Update
from telegram.error import BadRequest

from reminderbot.delivery.reminder import checkin_data
from reminderbot.services.pausing import PauseLength
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import CheckIn, ConsentState, Mood
from reminderbot.telegram import callbacks
from reminderbot.telegram.handlers import help as help_module
from tests.support import factories
from tests.support.botdouble import BotDouble, RecordedCall
from tests.support.harness import BotHarness, FakeClock

ALEX = 8101  # invites
SAM = 8102  # is invited
RIVER = 8103  # new here
ADMIN = 8199
LINK = re.compile(r"https://t\.me/reminder_test_bot\?start=([A-Za-z0-9_-]+)")


@pytest.fixture
async def bot(sessions: SessionFactory, clock: FakeClock) -> AsyncIterator[BotHarness]:
    """The bot with an admin chat, so an alert would be seen."""
    async with BotHarness.running(sessions, clock, admin_chat_ids=[ADMIN]) as harness:
        yield harness


def expire_every_press(harness: BotHarness) -> None:
    """From now on every press arrives after Telegram's answer window (a backlog)."""
    harness.double.fail_next("answerCallbackQuery", error="400_query_too_old", times=100_000)


def button_starting(harness: BotHarness, chat_id: int, prefix: str) -> str:
    for call in reversed(harness.double.calls):
        if call.params.get("chat_id") == chat_id:
            for row in BotDouble.buttons(call):
                for _, data in row:
                    if data.startswith(prefix):
                        return data
    raise AssertionError(f"no button {prefix!r} in chat {chat_id}")


async def invite_link(harness: BotHarness, user_id: int) -> str:
    await harness.command(user_id, "/pair")
    found = LINK.search(harness.last_text(user_id))
    assert found is not None
    return found.group(1)


async def pair(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.join(SAM)
    await harness.command(SAM, "/start", await invite_link(harness, ALEX))
    await harness.press(SAM, button_starting(harness, SAM, "pair:yes:"))
    alex = await harness.person(ALEX)
    assert alex is not None and alex.couple_id is not None


async def reminder(harness: BotHarness, clock: FakeClock, user_id: int) -> int:
    clock.set(clock.now.replace(hour=9, minute=0, second=0))
    await harness.tick()
    sent = [d for d in await harness.deliveries(user_id) if d.telegram_message_id]
    assert sent
    return sent[-1].id


def edits_to(harness: BotHarness, chat_id: int) -> list[str]:
    return [str(c.params["text"]) for c in harness.double.calls_to("editMessageText", chat_id)]


def assert_no_apology(harness: BotHarness, *chat_ids: int) -> None:
    for chat_id in chat_ids:
        assert harness.text("errors.generic") not in harness.all_texts(chat_id)
    assert harness.seen(ADMIN) == []


# --------------------------------------------------------------------------- late presses
async def test_a_late_yes_delete_everything_deletes_everything(bot: BotHarness) -> None:
    await bot.join(ALEX)
    await bot.command(ALEX, "/delete")
    expire_every_press(bot)
    await bot.press(ALEX, callbacks.delete_data(True))
    assert bot.double.attempts_to("answerCallbackQuery") > len(bot.answers())
    assert await bot.person(ALEX) is None
    assert edits_to(bot, ALEX)[-1] == bot.text("delete.done")
    assert_no_apology(bot, ALEX)


async def test_a_late_stop_and_late_cancels_take_effect(bot: BotHarness) -> None:
    await bot.join(ALEX)
    expire_every_press(bot)
    await bot.command(ALEX, "/delete")
    await bot.press(ALEX, callbacks.delete_data(False))
    assert edits_to(bot, ALEX)[-1] == bot.text("delete.cancelled")
    await bot.command(ALEX, "/stop")
    await bot.press(ALEX, callbacks.stop_data(True))
    person = await bot.person(ALEX)
    assert person is not None and person.consent is ConsentState.STOPPED
    assert edits_to(bot, ALEX)[-1] == bot.text("stop.done")
    assert_no_apology(bot, ALEX)


async def test_a_late_yes_to_the_welcome_still_begins(bot: BotHarness) -> None:
    await bot.command(RIVER, "/start")
    expire_every_press(bot)
    await bot.press(RIVER, callbacks.consent_data(True))
    person = await bot.person(RIVER)
    assert person is not None and person.consent is ConsentState.GIVEN
    assert bot.text("onboarding.consented") in bot.all_texts(RIVER)
    assert_no_apology(bot, RIVER)


async def test_a_late_checkin_tap_is_kept_shared_and_shown(
    bot: BotHarness, clock: FakeClock
) -> None:
    await pair(bot)
    await bot.command(ALEX, "/settings")
    await bot.press(ALEX, callbacks.settings_data("partnermenu"))
    await bot.press(ALEX, callbacks.settings_data("share", "all"))
    delivery_id = await reminder(bot, clock, ALEX)
    before = len(bot.seen(SAM))
    expire_every_press(bot)
    await bot.press(ALEX, checkin_data(delivery_id, Mood.NEED_SPACE))
    async with bot.state.sessions.begin() as session:
        assert list((await session.execute(select(CheckIn.mood))).scalars()) == [Mood.NEED_SPACE]
    # The line Alex chose to share reached Sam, and the reminder shows the choice.
    assert len(bot.seen(SAM)) > before
    mood = bot.text("buttons.mood_need_space")
    assert edits_to(bot, ALEX)[-1].endswith(bot.text("checkin.recorded_line", mood=mood))
    assert_no_apology(bot, ALEX, SAM)


async def test_a_late_accept_pairs_and_tells_the_inviter(bot: BotHarness) -> None:
    await bot.join(ALEX)
    await bot.join(SAM)
    await bot.command(SAM, "/start", await invite_link(bot, ALEX))
    told_before = len(bot.seen(ALEX))
    expire_every_press(bot)
    await bot.press(SAM, button_starting(bot, SAM, "pair:yes:"))
    sam = await bot.person(SAM)
    assert sam is not None and sam.couple_id is not None
    assert bot.text("pairing.connected") in bot.all_texts(ALEX)[told_before:]
    assert_no_apology(bot, ALEX, SAM)


async def test_late_presses_on_pause_couple_settings_and_unpair_take_effect(
    bot: BotHarness,
) -> None:
    await pair(bot)
    expire_every_press(bot)
    await bot.press(ALEX, callbacks.couple_data(True))
    alex = await bot.person(ALEX)
    assert alex is not None and alex.wants_couple_prompts
    await bot.command(ALEX, "/pause")
    await bot.press(ALEX, callbacks.pause_scope_data("mine"))
    await bot.press(ALEX, callbacks.pause_length_data(PauseLength.THREE_DAYS))
    alex = await bot.person(ALEX)
    assert alex is not None and alex.paused_until is not None
    await bot.command(ALEX, "/settings")
    await bot.press(ALEX, callbacks.settings_data("quietmenu"))
    await bot.press(ALEX, callbacks.settings_data("quiet", "22-07"))
    alex = await bot.person(ALEX)
    assert alex is not None and alex.quiet_start is not None
    await bot.command(ALEX, "/unpair")
    await bot.press(ALEX, callbacks.unpair_data(True))
    assert (await bot.person(ALEX)).couple_id is None  # type: ignore[union-attr]
    assert bot.text("pairing.partner_unpaired") in bot.all_texts(SAM)
    assert_no_apology(bot, ALEX, SAM)


# --------------------------------------------------------------------------- pressing twice
def _message_id(call: RecordedCall) -> int | None:
    if call.method == "editMessageText":
        value = call.params.get("message_id")
        return value if isinstance(value, int) else None
    if isinstance(call.result, dict):
        return int(call.result["message_id"])
    return None


def keyboards_in(harness: BotHarness, chat_id: int) -> list[tuple[int, str]]:
    """Every (message, callback data) the person has seen, oldest first."""
    found: list[tuple[int, str]] = []
    for call in harness.double.calls:
        if call.fault is not None or call.params.get("chat_id") != chat_id:
            continue
        message_id = _message_id(call)
        if message_id is None:
            continue
        for row in BotDouble.buttons(call):
            for _, data in row:
                if "://" not in data and (message_id, data) not in found:
                    found.append((message_id, data))
    return found


async def press_everything_twice(harness: BotHarness, chat_id: int, done: set[str]) -> int:
    """Walk every keyboard in the chat (new ones too) and press each button twice; each press
    gets exactly one answer and nothing reaches the error handler. Returns the presses."""
    presses = 0
    while True:
        seen = keyboards_in(harness, chat_id)
        todo = [(m, d) for m, d in seen if f"{chat_id}:{m}:{d}" not in done]
        if not todo:
            return presses
        message_id, data = todo[0]
        done.add(f"{chat_id}:{message_id}:{data}")
        for _ in range(2):
            answered = harness.double.attempts_to("answerCallbackQuery")
            await harness.process(
                factories.callback_update(harness.bot, chat_id, data, message_id=message_id)
            )
            presses += 1
            assert harness.double.attempts_to("answerCallbackQuery") == answered + 1, data
            assert harness.text("errors.generic") not in harness.all_texts(chat_id), data
            assert harness.seen(ADMIN) == [], data
        assert presses < 400


async def test_every_button_pressed_twice_is_calm(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    done: set[str] = set()
    presses = 0
    with caplog.at_level("ERROR", logger="reminderbot"):
        # A newcomer: the welcome's yes and not now.
        await bot.command(RIVER, "/start")
        presses += await press_everything_twice(bot, RIVER, done)
        # Two partners: the invitation, couple prompts, reminders with check-ins, settings,
        # the pause and its scopes, resuming, unpairing, stopping and deleting.
        await pair(bot)
        await bot.command(ALEX, "/settings")
        await reminder(bot, clock, ALEX)
        await bot.command(ALEX, "/pause")
        presses += await press_everything_twice(bot, ALEX, done)
        presses += await press_everything_twice(bot, SAM, done)
        await bot.command(ALEX, "/resume")
        await bot.command(SAM, "/unpair")
        presses += await press_everything_twice(bot, SAM, done)
        for command in ("/stop", "/delete"):
            await bot.command(SAM, command)
            presses += await press_everything_twice(bot, SAM, done)
    assert presses > 40
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert_no_apology(bot, ALEX, SAM, RIVER)


async def test_an_edit_that_changes_nothing_is_not_sent(bot: BotHarness) -> None:
    """Telegram sends the pressed message along: when it already shows the result, no edit."""
    await bot.join(ALEX)
    await bot.command(ALEX, "/delete")
    await bot.press(ALEX, callbacks.delete_data(False))
    (edit,) = bot.double.calls_to("editMessageText", ALEX)[-1:]
    edits = bot.double.attempts_to("editMessageText")
    update = factories.callback_update(
        bot.bot,
        ALEX,
        callbacks.delete_data(False),
        message_id=int(edit.params["message_id"]),  # type: ignore[call-overload]
        message_text=bot.text("delete.cancelled"),
        markup=None,  # a stale screen's second press: the message has no buttons any more
    )
    await bot.process(update)
    assert bot.double.attempts_to("editMessageText") == edits
    assert bot.answers()  # the press was still answered


async def test_a_call_telegram_refused_is_apologised_for(
    bot: BotHarness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """BadRequest is a NetworkError subclass, yet Telegram did answer: the person can be told."""

    def refused(*_: object) -> str:
        raise BadRequest("Bad Request: can't parse entities: my words here")

    monkeypatch.setattr(help_module, "support_contacts", refused)
    with caplog.at_level("ERROR"):
        await bot.command(ALEX, "/help")
    assert bot.last_text(ALEX) == bot.text("errors.generic")
    assert len(bot.seen(ADMIN)) == 1
    # The kind of error and where, never its message.
    (line,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "where=reminderbot.telegram.handlers.help.help_command" in line
    assert "BadRequest" in line and "my words" not in caplog.text


async def test_a_message_too_old_to_edit_gets_the_result_as_a_new_message(
    bot: BotHarness,
) -> None:
    """Telegram refuses edits to messages it no longer has (deleted, or too old): the person
    still sees what their press did."""
    await bot.join(ALEX)
    await bot.command(ALEX, "/delete")
    # A message the chat no longer has
    await bot.press(ALEX, callbacks.delete_data(True), message_id=999_999)
    assert await bot.person(ALEX) is None
    assert bot.last_text(ALEX) == bot.text("delete.done")
    assert_no_apology(bot, ALEX)


# --------------------------------------------------------------------------- a quick double tap
EDITS = ("editMessageText", "editMessageReplyMarkup")


def pressed_message(harness: BotHarness, chat_id: int, message_id: int) -> Message:
    """The message as Telegram holds it right now: what both presses of a double tap carry."""
    stored = harness.double.state.chat(chat_id).messages[message_id]
    message = Message.de_json(copy.deepcopy(stored.message), harness.bot)
    assert message is not None
    return message


def tap(harness: BotHarness, chat_id: int, data: str, message: Message) -> Update:
    update = factories.callback_update(harness.bot, chat_id, data, message_id=message.message_id)
    assert update.callback_query is not None
    update.callback_query._unfreeze()
    update.callback_query.message = message
    update.callback_query._freeze()
    return update


async def double_tap(harness: BotHarness, chat_id: int, data: str, message_id: int) -> None:
    """Two presses at once, both carrying the message as it was before the bot reacted, through
    the same per-person queue a running bot uses."""
    message = pressed_message(harness, chat_id, message_id)
    processor = harness.application.update_processor
    updates = [tap(harness, chat_id, data, message) for _ in range(2)]
    await asyncio.gather(
        *(processor.process_update(u, harness.application.process_update(u)) for u in updates)
    )


def refused_edits(harness: BotHarness, chat_id: int) -> list[str]:
    return [
        f"{c.method} {c.params.get('message_id')}: {c.fault}"
        for c in harness.double.calls
        if c.method in EDITS and c.fault is not None and c.params.get("chat_id") == chat_id
    ]


async def double_tap_everything(harness: BotHarness, chat_id: int, done: set[str]) -> int:
    """Walk every keyboard in the chat (new ones too) and double-tap each button."""
    taps = 0
    while True:
        todo = [
            (m, d) for m, d in keyboards_in(harness, chat_id) if f"{chat_id}:{m}:{d}" not in done
        ]
        if not todo:
            return taps
        message_id, data = todo[0]
        done.add(f"{chat_id}:{message_id}:{data}")
        answered = harness.double.attempts_to("answerCallbackQuery")
        await double_tap(harness, chat_id, data, message_id)
        taps += 1
        assert harness.double.attempts_to("answerCallbackQuery") == answered + 2, data
        assert refused_edits(harness, chat_id) == [], data
        assert harness.text("errors.generic") not in harness.all_texts(chat_id), data
        assert harness.seen(ADMIN) == [], data
        assert taps < 200


async def test_every_button_double_tapped_makes_no_refused_edit(
    bot: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram answers an identical edit with 400 "message is not modified"; the bot knows what
    it showed last and never sends one, whatever the (stale) pressed message says."""
    done: set[str] = set()
    taps = 0
    with caplog.at_level("ERROR", logger="reminderbot"):
        await bot.command(RIVER, "/start")
        taps += await double_tap_everything(bot, RIVER, done)
        await pair(bot)
        await bot.command(ALEX, "/settings")
        await reminder(bot, clock, ALEX)
        await bot.command(ALEX, "/pause")
        taps += await double_tap_everything(bot, ALEX, done)
        taps += await double_tap_everything(bot, SAM, done)
        await bot.command(ALEX, "/resume")
        await bot.command(SAM, "/unpair")
        taps += await double_tap_everything(bot, SAM, done)
        for command in ("/stop", "/delete"):
            await bot.command(SAM, command)
            taps += await double_tap_everything(bot, SAM, done)
    assert taps > 20
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert_no_apology(bot, ALEX, SAM, RIVER)


async def test_double_taps_on_consent_pause_and_back_do_it_once(bot: BotHarness) -> None:
    """The three seen in the field: each double tap takes effect once, with no refused edit."""
    await bot.command(RIVER, "/start")
    welcome = bot.message_with_button(RIVER, callbacks.consent_data(True))
    await double_tap(bot, RIVER, callbacks.consent_data(True), welcome)
    river = await bot.person(RIVER)
    assert river is not None and river.consent is ConsentState.GIVEN
    assert bot.all_texts(RIVER).count(bot.text("onboarding.consented")) == 1

    await bot.command(RIVER, "/pause")
    menu = bot.message_with_button(RIVER, callbacks.pause_length_data(PauseLength.THREE_DAYS))
    await double_tap(bot, RIVER, callbacks.pause_length_data(PauseLength.THREE_DAYS), menu)
    river = await bot.person(RIVER)
    assert river is not None and river.paused_until is not None

    await bot.command(RIVER, "/settings")
    await bot.press(RIVER, callbacks.settings_data("quietmenu"))
    back = bot.message_with_button(RIVER, callbacks.settings_data("main"))
    await double_tap(bot, RIVER, callbacks.settings_data("main"), back)
    shown = bot.double.state.chat(RIVER).messages[back].message
    assert shown["text"] == bot.double.calls_to("editMessageText", RIVER)[-1].params["text"]
    assert refused_edits(bot, RIVER) == []
    assert_no_apology(bot, RIVER)


async def test_an_edit_another_instance_made_since_is_never_hidden(
    bot: BotHarness, sessions: SessionFactory, clock: FakeClock
) -> None:
    """Replicas: what this instance remembers of its own edit must not stop it redrawing a
    message another instance changed since (the person sees what is stored)."""
    async with BotHarness.running(sessions, clock, double=bot.double) as other:
        await bot.join(ALEX)
        delivery_id = await reminder(bot, clock, ALEX)
        message_id = bot.message_with_button(ALEX, checkin_data(delivery_id, Mood.STEADY))

        def showing() -> str:
            return str(pressed_message(bot, ALEX, message_id).text)

        for harness, mood in ((bot, Mood.STEADY), (other, Mood.HEAVY), (bot, Mood.STEADY)):
            data = checkin_data(delivery_id, mood)
            await harness.process(tap(harness, ALEX, data, pressed_message(bot, ALEX, message_id)))
            label = bot.text(f"buttons.mood_{mood.value}")
            assert showing().endswith(bot.text("checkin.recorded_line", mood=label)), mood
        # A double tap split over two instances: the second gets Telegram's "not modified",
        # which counts as done.
        carried = pressed_message(bot, ALEX, message_id)
        data = checkin_data(delivery_id, Mood.HEAVY)
        await bot.process(tap(bot, ALEX, data, carried))
        await other.process(tap(other, ALEX, data, carried))
        assert_no_apology(bot, ALEX)
