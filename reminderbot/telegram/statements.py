"""Sentences about a person's reminders, computed from their rows at the moment they are said.

Whatever the bot says about when reminders arrive must stay true when they don't (paused, no
days, every kind off): one function says it, and every reply that talks about times uses it.
"""

from __future__ import annotations

from datetime import datetime, time

from reminderbot.services.pausing import is_paused
from reminderbot.services.preferences import KIND_FLAGS
from reminderbot.services.timekeeping import zone
from reminderbot.storage.models import Person
from reminderbot.telegram.context import AppState
from reminderbot.telegram.dates import moment


def clock(at: time) -> str:
    return at.strftime("%H:%M")


def sends_no_kind(person: Person) -> bool:
    """Every kind of message turned off (couple prompts count while paired)."""
    if any(getattr(person, flag) for flag in KIND_FLAGS.values()):
        return False
    return not (person.couple_id is not None and person.wants_couple_prompts)


def local_until(state: AppState, lang: str, until: datetime, tz_name: str, now: datetime) -> str:
    """When a pause ends, as a person reads it: "tomorrow" for the next midnight, else the
    day and time in their own timezone."""
    tz = zone(tz_name)
    local = until.astimezone(tz)
    if local.time() == time(0, 0) and (local.date() - now.astimezone(tz).date()).days == 1:
        return state.text("pause.tomorrow", lang)
    return moment(state, lang, local)


def when_reminders_come(state: AppState, person: Person, times: list[time], now: datetime) -> str:
    """When this person's reminders arrive, and, if nothing arrives for now, why."""
    lang = person.language
    lines = [
        state.text(
            "settings.when.times",
            lang,
            times=", ".join(clock(t) for t in times) or "-",
            timezone=person.timezone,
        )
    ]
    if not times:
        lines = [state.text("settings.when.no_times", lang)]
    if person.weekdays == 0:
        lines.append(state.text("settings.when.no_days", lang))
    if sends_no_kind(person):
        lines.append(state.text("settings.when.no_kinds", lang))
    if is_paused(person, now):
        if person.paused_until is None:
            lines.append(state.text("settings.when.paused_open", lang))
        else:
            until = local_until(state, lang, person.paused_until, person.timezone, now)
            lines.append(state.text("settings.when.paused_until", lang, until=until))
    return " ".join(lines)
