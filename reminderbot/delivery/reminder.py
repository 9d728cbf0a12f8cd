"""The reminder message: its words, its buttons and their callback data.

The dispatcher sends it and the check-in handler redraws it after a tap, so it lives here, below
both (delivery may use Telegram's types: it sends). The callback data is built and matched here.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from reminderbot.content import Catalog
from reminderbot.storage.models import Mood

# Callback data for reminder buttons: "ci:<delivery id>:<mood code>" and "pz:<delivery id>".
MOOD_CODES: dict[Mood, str] = {
    Mood.STEADY: "s",
    Mood.HEAVY: "h",
    Mood.NEED_SPACE: "n",
    Mood.OPEN: "o",
}
MOODS_BY_CODE = {code: mood for mood, code in MOOD_CODES.items()}
# The check-in buttons under a reminder, row by row; other pictures of moods (the /checkins
# chart) follow the same reading order.
MOOD_BUTTON_ROWS: tuple[tuple[Mood, ...], ...] = (
    (Mood.STEADY, Mood.HEAVY),
    (Mood.NEED_SPACE, Mood.OPEN),
)
MOOD_ORDER: tuple[Mood, ...] = tuple(mood for row in MOOD_BUTTON_ROWS for mood in row)
CHECKIN = re.compile(r"^ci:(\d{1,18}):([shno])$")
PAUSE_FROM_REMINDER = re.compile(r"^pz:(\d{1,18})$")


def checkin_data(delivery_id: int, mood: Mood) -> str:
    return f"ci:{delivery_id}:{MOOD_CODES[mood]}"


def pause_data(delivery_id: int) -> str:
    return f"pz:{delivery_id}"


def reminder_markup(
    catalog: Catalog, lang: str, delivery_id: int, chosen: Mood | None = None
) -> InlineKeyboardMarkup:
    """Check-in buttons (the chosen one marked, so a second tap can change it) and pause."""

    def label(mood: Mood) -> str:
        text = catalog.text(f"buttons.mood_{mood.value}", lang)
        return catalog.text("buttons.chosen", lang, label=text) if mood is chosen else text

    rows = [[(label(m), checkin_data(delivery_id, m)) for m in row] for row in MOOD_BUTTON_ROWS]
    rows.append([(catalog.text("buttons.pause", lang), pause_data(delivery_id))])
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows]
    )


def reminder_text(catalog: Catalog, lang: str, body: str, *, discreet: bool) -> str:
    """A neutral first line keeps lock-screen previews free of anything personal."""
    if not discreet:
        return body
    return catalog.text("reminder.discreet_first_line", lang) + "\n\n" + body
