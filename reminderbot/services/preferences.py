"""A person's own choices: when, what and how reminders reach them.

Each change takes a session, plain values and ``now``, and returns the ids of the people whose
rows it changed (empty when nothing applied), so the caller can tell the dispatcher once the
transaction has committed.
"""

from __future__ import annotations

from datetime import time

from reminderbot.services import schedules

People = frozenset[int]
NOBODY: People = frozenset()

TIME_PRESETS: dict[str, tuple[time, ...]] = {
    "morning": (time(8, 30),),
    "evening": (time(20, 0),),
    "both": (time(8, 30), time(20, 0)),
}
QUIET_PRESETS: dict[str, tuple[time, time] | None] = {
    "off": None,
    "22-07": (time(22, 0), time(7, 0)),
    "21-08": (time(21, 0), time(8, 0)),
}
DAY_PRESETS = {
    "all": schedules.WEEKDAYS_ALL,
    "work": schedules.WEEKDAYS_WORK,
    "end": schedules.WEEKEND,
}
# Bit i of Person.weekdays is DAY_KEYS[i] (Monday first, as datetime.weekday counts).
DAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
KIND_FLAGS = {
    "affirmation": "wants_affirmations",
    "practice": "wants_practices",
    "checkin_prompt": "wants_checkin_prompts",
}
