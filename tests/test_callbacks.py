"""Callback data: each family's builder and pattern agree, no two families claim the same data,
everything fits Telegram's 64 bytes, and the formats of buttons already in chats never change."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterator
from datetime import time

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from telegram.ext import CallbackQueryHandler

from reminderbot.delivery.reminder import CHECKIN, PAUSE_FROM_REMINDER, checkin_data, pause_data
from reminderbot.services import pairing, preferences
from reminderbot.services.pausing import PauseLength
from reminderbot.storage.models import Audience, Invite, Mood, SharingLevel
from reminderbot.telegram import callbacks
from reminderbot.telegram.app import build_application
from reminderbot.telegram.context import AppState
from tests.support import harness

LARGEST_ID = 10**18 - 1  # the patterns take ids of up to 18 digits
SECTIONS = (
    "main",
    "tzmenu",
    "timesmenu",
    "daysmenu",
    "quietmenu",
    "kindsmenu",
    "whomenu",
    "discreetmenu",
    "partnermenu",
)
EVERY_PATTERN = (*callbacks.PATTERNS, CHECKIN, PAUSE_FROM_REMINDER)
SOME_TIMES = (time(0, 0), time(7, 0), time(8, 30), time(21, 30), time(23, 59))


def every_data() -> Iterator[tuple[re.Pattern[str], str]]:
    """Every button's data the bot can build, with the pattern meant to match it."""
    for yes in (True, False):
        yield callbacks.CONSENT, callbacks.consent_data(yes)
        yield callbacks.STOP, callbacks.stop_data(yes)
        yield callbacks.DELETE, callbacks.delete_data(yes)
        yield callbacks.UNPAIR, callbacks.unpair_data(yes)
        yield callbacks.COUPLE, callbacks.couple_data(yes)
    for length in PauseLength:
        yield callbacks.PAUSE_CHOICE, callbacks.pause_length_data(length)
        yield callbacks.PAUSE_CHOICE, callbacks.pause_length_data(length, shared=True)
    yield callbacks.PAUSE_CHOICE, callbacks.PAUSE_CANCEL
    for scope in ("mine", "shared"):
        yield callbacks.PAUSE_CHOICE, callbacks.pause_scope_data(scope)
        yield callbacks.RESUME_CHOICE, callbacks.resume_data(scope)
    invite = Invite(id=LARGEST_ID, token_hash=pairing.hash_token("t" * 43))
    yield callbacks.PAIR_ANSWER, callbacks.pair_yes_data(LARGEST_ID, pairing.binding(invite, 1))
    yield callbacks.PAIR_ANSWER, callbacks.PAIR_NO
    for section in SECTIONS:
        yield callbacks.SETTINGS, callbacks.settings_data(section)
    # Any zone may be offered: typed names are answered with suggestions from all of them.
    for zone in sorted(zoneinfo.available_timezones()):
        yield callbacks.SETTINGS, callbacks.settings_data("tz", zone)
    for name in preferences.TIME_PRESETS:
        yield callbacks.SETTINGS, callbacks.settings_data("times", name)
    for name in preferences.DAY_PRESETS:
        yield callbacks.SETTINGS, callbacks.settings_data("days", name)
    for day in range(7):
        yield callbacks.SETTINGS, callbacks.settings_data("day", str(day))
    for name in preferences.QUIET_PRESETS:
        yield callbacks.SETTINGS, callbacks.settings_data("quiet", name)
    for kind in preferences.KIND_FLAGS:
        yield callbacks.SETTINGS, callbacks.settings_data("kind", kind)
    for audience in Audience:
        yield callbacks.SETTINGS, callbacks.settings_data("who", audience.value)
    for level in SharingLevel:
        yield callbacks.SETTINGS, callbacks.settings_data("share", level.value)
    for action, value in (("discreet", "preview"), ("discreet", "silent")):
        yield callbacks.SETTINGS, callbacks.settings_data(action, value)
    for action in ("couple", "receive"):
        yield callbacks.SETTINGS, callbacks.settings_data(action, "toggle")
    for at in SOME_TIMES:
        for to in SOME_TIMES:
            yield callbacks.SETTINGS, callbacks.move_data(at, to)
    yield callbacks.SUPPORT, callbacks.SUPPORT_NOW
    for mood in Mood:
        yield CHECKIN, checkin_data(LARGEST_ID, mood)
    yield PAUSE_FROM_REMINDER, pause_data(LARGEST_ID)


def test_every_button_is_matched_by_its_own_pattern_and_no_other() -> None:
    wrong = []
    for own, data in every_data():
        matching = [p.pattern for p in EVERY_PATTERN if p.match(data)]
        if matching != [own.pattern]:
            wrong.append(f"{data!r} is matched by {matching}, should be only {own.pattern}")
    assert not wrong, "\n".join(wrong)


def test_every_button_fits_telegrams_64_bytes() -> None:
    too_long = [data for _, data in every_data() if len(data.encode()) > callbacks.MAX_BYTES]
    assert not too_long


@pytest.mark.parametrize(
    ("built", "wire"),
    [
        (callbacks.consent_data(True), "consent:yes"),
        (callbacks.consent_data(False), "consent:no"),
        (callbacks.stop_data(True), "stop:yes"),
        (callbacks.delete_data(False), "delete:no"),
        (callbacks.unpair_data(True), "unpair:yes"),
        (callbacks.couple_data(False), "couple:no"),
        (callbacks.pause_length_data(PauseLength.THREE_DAYS), "pause:3d"),
        (callbacks.pause_length_data(PauseLength.UNTIL_RESUMED, shared=True), "pause:s:open"),
        (callbacks.PAUSE_CANCEL, "pause:cancel"),
        (callbacks.pause_scope_data("shared"), "pause:shared"),
        (callbacks.resume_data("mine"), "resume:mine"),
        (callbacks.pair_yes_data(12, "B" * 22), "pair:yes:12:" + "B" * 22),
        (callbacks.PAIR_NO, "pair:no"),
        (callbacks.settings_data("partnermenu"), "set:partnermenu"),
        (callbacks.settings_data("tz", "America/New_York"), "set:tz:America/New_York"),
        (callbacks.move_data(time(23, 0), time(7, 0)), "set:move:2300-0700"),
        (callbacks.SUPPORT_NOW, "support:now"),
    ],
)
def test_formats_of_buttons_already_in_chats_stay(built: str, wire: str) -> None:
    """People keep old messages: a press on a button sent by an earlier version must still be
    understood, so the shape of every family's data is fixed."""
    assert built == wire


def test_a_move_reads_back_the_two_times_it_was_built_from() -> None:
    for at in SOME_TIMES:
        for to in SOME_TIMES:
            value = callbacks.move_data(at, to).removeprefix("set:move:")
            assert callbacks.parse_move(value) == (at, to)
    assert callbacks.parse_move("2500-0700") is None
    assert callbacks.parse_move("23:00-07:00") is None


def test_every_family_reaches_a_handler_and_stale_data_the_fallback() -> None:
    """A family with a pattern but no handler would answer every press as stale."""
    state = AppState(
        settings=harness.test_settings(), catalog=harness.catalog(), sessions=async_sessionmaker()
    )
    application = build_application(state, token=harness.TOKEN, base_url="http://127.0.0.1:9/bot")
    handlers = [h for h in application.handlers[0] if isinstance(h, CallbackQueryHandler)]
    patterns = [h.pattern for h in handlers if h.pattern is not None]
    assert sorted(p.pattern for p in patterns) == sorted(p.pattern for p in EVERY_PATTERN)
    assert handlers[-1].pattern is None  # the catch-all, last
