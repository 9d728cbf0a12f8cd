"""The reminder message: its words, its buttons and their callback data.

The dispatcher sends it and the check-in handler redraws it after a tap, so it lives here, below
both (delivery may use Telegram's types: it sends). The callback data is built and matched here.
"""

from __future__ import annotations

import functools
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


# An inline keyboard as Telegram reads it in reply_markup: rows of {"callback_data", "text"}.
WireKeyboard = dict[str, list[list[dict[str, str]]]]


def reminder_buttons(
    catalog: Catalog, lang: str, delivery_id: int, chosen: Mood | None = None
) -> list[list[tuple[str, str]]]:
    """(label, callback data), row by row: the check-in buttons (the chosen one marked, so a
    second tap can change it) and pause."""

    def label(mood: Mood) -> str:
        text = catalog.text(f"buttons.mood_{mood.value}", lang)
        return catalog.text("buttons.chosen", lang, label=text) if mood is chosen else text

    rows = [[(label(m), checkin_data(delivery_id, m)) for m in row] for row in MOOD_BUTTON_ROWS]
    rows.append([(catalog.text("buttons.pause", lang), pause_data(delivery_id))])
    return rows


def reminder_markup(
    catalog: Catalog, lang: str, delivery_id: int, chosen: Mood | None = None
) -> InlineKeyboardMarkup:
    """The buttons as PTB's markup, for redrawing a reminder after a tap."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(text, callback_data=data) for text, data in row]
            for row in reminder_buttons(catalog, lang, delivery_id, chosen)
        ]
    )


def reminder_keyboard(catalog: Catalog, lang: str, delivery_id: int) -> WireKeyboard:
    """The same buttons as plain data, exactly what ``reminder_markup`` puts on the wire: the
    dispatcher sends thousands a second, and PTB's objects cost more than the rest of sending."""
    moods, pause = _labels(catalog, lang)
    # Keys in PTB's order, so the request is the same to the byte.
    rows = [
        [{"callback_data": checkin_data(delivery_id, mood), "text": text} for text, mood in row]
        for row in moods
    ]
    rows.append([{"callback_data": pause_data(delivery_id), "text": pause}])
    return {"inline_keyboard": rows}


@functools.lru_cache(maxsize=16)
def _labels(catalog: Catalog, lang: str) -> tuple[tuple[tuple[tuple[str, Mood], ...], ...], str]:
    """The unchosen labels, row by row, and the pause label: a catalog's words never change."""
    moods = tuple(
        tuple((catalog.text(f"buttons.mood_{mood.value}", lang), mood) for mood in row)
        for row in MOOD_BUTTON_ROWS
    )
    return moods, catalog.text("buttons.pause", lang)


def reminder_text(catalog: Catalog, lang: str, body: str, *, discreet: bool) -> str:
    """A neutral first line keeps lock-screen previews free of anything personal."""
    if not discreet:
        return body
    return catalog.text("reminder.discreet_first_line", lang) + "\n\n" + body
