"""Callback data: short prefixed strings (Telegram allows 64 bytes), matched by pattern.

Every pattern is anchored, so forged or stale data falls through to the fallback handler,
which answers politely and changes nothing.
"""

from __future__ import annotations

import re
from enum import StrEnum

CONSENT_YES = "consent:yes"
CONSENT_NO = "consent:no"
STOP_CONFIRM = "stop:yes"
STOP_CANCEL = "stop:no"
DELETE_CONFIRM = "delete:yes"
DELETE_CANCEL = "delete:no"

CONSENT = re.compile(r"^consent:(yes|no)$")
STOP = re.compile(r"^stop:(yes|no)$")
DELETE = re.compile(r"^delete:(yes|no)$")


def pattern_of(*choices: str) -> re.Pattern[str]:
    return re.compile("^(" + "|".join(re.escape(c) for c in choices) + ")$")


class Choice(StrEnum):
    YES = "yes"
    NO = "no"


def choice(data: str | None) -> Choice | None:
    if not data or ":" not in data:
        return None
    try:
        return Choice(data.rsplit(":", 1)[1])
    except ValueError:
        return None
