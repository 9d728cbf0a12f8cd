"""Callback data for every button but the reminder's (``ci:``/``pz:`` live with the reminder in
``delivery/reminder.py``): for each family its builder and the anchored pattern that matches it,
side by side, so the two cannot drift apart.

Telegram allows 64 bytes. The formats are fixed: buttons already in people's chats must keep
working, so a family may gain values but never change the shape of those it had. Every pattern
is anchored, so forged or stale data falls through to the fallback handler, which answers
politely and changes nothing.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Literal

from reminderbot.services.pairing import BINDING_SHAPE
from reminderbot.services.pausing import PauseLength
from reminderbot.services.timekeeping import parse_clock

MAX_BYTES = 64  # Telegram's limit for callback data

Scope = Literal["mine", "shared"]


def _yes_no(prefix: str, yes: bool) -> str:
    return f"{prefix}:{'yes' if yes else 'no'}"


# --------------------------------------------------------------------------- consent
CONSENT = re.compile(r"^consent:(yes|no)$")


def consent_data(yes: bool) -> str:
    """The yes / not now under the welcome."""
    return _yes_no("consent", yes)


CONSENT_YES, CONSENT_NO = consent_data(True), consent_data(False)

# --------------------------------------------------------------------------- /stop, /delete
STOP = re.compile(r"^stop:(yes|no)$")


def stop_data(yes: bool) -> str:
    return _yes_no("stop", yes)


STOP_CONFIRM, STOP_CANCEL = stop_data(True), stop_data(False)

DELETE = re.compile(r"^delete:(yes|no)$")


def delete_data(yes: bool) -> str:
    return _yes_no("delete", yes)


DELETE_CONFIRM, DELETE_CANCEL = delete_data(True), delete_data(False)

# --------------------------------------------------------------------------- /pause, /resume
# "pause:3d" rests my reminders; "pause:s:3d" shared prompts; "pause:mine|shared" pick a scope.
PAUSE_CHOICE = re.compile(r"^pause:(?:(s):)?(today|3d|week|open|cancel|mine|shared)$")
PAUSE_CANCEL = "pause:cancel"


def pause_length_data(length: PauseLength, *, shared: bool = False) -> str:
    return f"pause:s:{length.value}" if shared else f"pause:{length.value}"


def pause_scope_data(scope: Scope) -> str:
    return f"pause:{scope}"


RESUME_CHOICE = re.compile(r"^resume:(mine|shared)$")


def resume_data(scope: Scope) -> str:
    return f"resume:{scope}"


# --------------------------------------------------------------------------- pairing
# The invitation's yes carries the invite's id and a binding to the presser, never the token.
PAIR_ANSWER = re.compile(rf"^pair:(?:yes:(\d{{1,18}}):({BINDING_SHAPE})|no)$")
PAIR_NO = "pair:no"


def pair_yes_data(invite_id: int, binding: str) -> str:
    return f"pair:yes:{invite_id}:{binding}"


UNPAIR = re.compile(r"^unpair:(yes|no)$")


def unpair_data(yes: bool) -> str:
    return _yes_no("unpair", yes)


COUPLE = re.compile(r"^couple:(yes|no)$")


def couple_data(yes: bool) -> str:
    """Yes or not now to couple prompts, offered right after pairing."""
    return _yes_no("couple", yes)


# --------------------------------------------------------------------------- /settings
# "set:<action>" opens a section ("set:main", "set:kindsmenu"); "set:<action>:<value>" changes
# one setting ("set:tz:Europe/Berlin", "set:kind:practice", "set:move:2300-0700").
SETTINGS = re.compile(r"^set:([a-z]+)(?::([A-Za-z0-9_/+\-:]{1,48}))?$")


def settings_data(action: str, value: str | None = None) -> str:
    return f"set:{action}" if value is None else f"set:{action}:{value}"


# set:asis: "Keep as is" under the quiet-hours warning; changes nothing.
KEEP_AS_IS = settings_data("asis")


# set:lang:de: write to me in German (one of the catalog's languages; /language and /settings).
def language_data(language: str) -> str:
    return settings_data("lang", language)


# set:keep:90: keep my check-ins and notes 90 days (services/retention.py).
KEEP = re.compile(r"^(\d{1,4})$")


def keep_data(days: int) -> str:
    return settings_data("keep", str(days))


def parse_keep(value: str) -> int | None:
    """The days of a keep button's value; None if it is not one."""
    found = KEEP.match(value)
    return None if found is None else int(found.group(1))


# set:move:2300-0700: move the daily time 23:00 to 07:00 (offered when quiet hours cover it).
MOVE = re.compile(r"^(\d{4})-(\d{4})$")


def move_data(at: time, to: time) -> str:
    return settings_data("move", f"{at.strftime('%H%M')}-{to.strftime('%H%M')}")


def parse_move(value: str) -> tuple[time, time] | None:
    """The two times of a move's value; None if it is not one."""
    found = MOVE.match(value)
    if found is None:
        return None
    was, to = (parse_clock(f"{hhmm[:2]}:{hhmm[2:]}") for hhmm in found.groups())
    return None if was is None or to is None else (was, to)


# --------------------------------------------------------------------------- support
SUPPORT = re.compile(r"^support:now$")
SUPPORT_NOW = "support:now"

# Every family above, for app._register and the tests that keep them apart.
PATTERNS: tuple[re.Pattern[str], ...] = (
    CONSENT,
    STOP,
    DELETE,
    PAUSE_CHOICE,
    RESUME_CHOICE,
    PAIR_ANSWER,
    UNPAIR,
    COUPLE,
    SETTINGS,
    SUPPORT,
)
