"""Callback data: short prefixed strings (Telegram allows 64 bytes), matched by pattern.

Every pattern is anchored, so forged or stale data falls through to the fallback handler,
which answers politely and changes nothing.
"""

from __future__ import annotations

import re

CONSENT_YES = "consent:yes"
CONSENT_NO = "consent:no"
STOP_CONFIRM = "stop:yes"
STOP_CANCEL = "stop:no"
DELETE_CONFIRM = "delete:yes"
DELETE_CANCEL = "delete:no"

CONSENT = re.compile(r"^consent:(yes|no)$")
STOP = re.compile(r"^stop:(yes|no)$")
DELETE = re.compile(r"^delete:(yes|no)$")
