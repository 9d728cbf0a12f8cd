"""Dates as a person reads them: weekday and month names from messages/, so each language
says its own (strftime would say them in the server's locale, English)."""

from __future__ import annotations

from datetime import date, datetime

from reminderbot.services.preferences import DAY_KEYS
from reminderbot.telegram.context import AppState

# history.months.<key>, January first.
MONTH_KEYS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def month_name(state: AppState, lang: str, day: date) -> str:
    return state.text(f"history.months.{MONTH_KEYS[day.month - 1]}", lang)


def moment(state: AppState, lang: str, local: datetime) -> str:
    """A local day and time, "Mon 02 Mar, 09:00" in English, "Mo 02. März, 09:00" in German."""
    weekday = state.text(f"days.{DAY_KEYS[local.weekday()]}", lang)
    day = state.text(
        "history.chart_date", lang, day=f"{local.day:02d}", month=month_name(state, lang, local)
    )
    return f"{weekday} {day}, {local:%H:%M}"
