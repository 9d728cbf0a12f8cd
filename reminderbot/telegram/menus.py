"""The bot's menus: rows of buttons with words from messages/ and data from callbacks.py (the
reminder's own buttons live with the reminder in delivery/reminder.py)."""

from __future__ import annotations

from datetime import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from reminderbot.services.pausing import PauseLength
from reminderbot.services.preferences import (
    DAY_KEYS,
    DAY_PRESETS,
    KIND_FLAGS,
    QUIET_PRESETS,
    TIME_PRESETS,
)
from reminderbot.services.retention import RetentionPolicy
from reminderbot.services.timekeeping import place_name
from reminderbot.storage.models import Audience, Person, SharingLevel
from reminderbot.telegram import callbacks
from reminderbot.telegram.context import AppState
from reminderbot.telegram.replies import Buttons, keyboard


def clock(at: time) -> str:
    return at.strftime("%H:%M")


# --------------------------------------------------------------------------- welcome, leaving
def consent_menu(state: AppState, lang: str) -> InlineKeyboardMarkup:
    return keyboard(
        [
            [(state.text("buttons.consent_yes", lang), callbacks.CONSENT_YES)],
            [(state.text("buttons.consent_no", lang), callbacks.CONSENT_NO)],
        ]
    )


def stop_menu(state: AppState, lang: str) -> InlineKeyboardMarkup:
    return _confirm_menu(state, lang, "stop", callbacks.STOP_CONFIRM, callbacks.STOP_CANCEL)


def delete_menu(state: AppState, lang: str) -> InlineKeyboardMarkup:
    return _confirm_menu(state, lang, "delete", callbacks.DELETE_CONFIRM, callbacks.DELETE_CANCEL)


def _confirm_menu(
    state: AppState, lang: str, topic: str, confirm: str, cancel: str
) -> InlineKeyboardMarkup:
    """A yes and a no under a question; topic names the words in messages/."""
    return keyboard(
        [
            [(state.text(f"buttons.{topic}_confirm", lang), confirm)],
            [(state.text(f"buttons.{topic}_cancel", lang), cancel)],
        ]
    )


# --------------------------------------------------------------------------- pairing
def invite_menu(state: AppState, lang: str, yes: str, *, active: bool) -> InlineKeyboardMarkup:
    """Under an invitation: connect, or not now; someone new may also begin without connecting
    (a plain yes: the link still works later)."""
    if active:
        rows = [[(state.text("pairing.buttons.connect", lang), yes)]]
    else:
        rows = [
            [(state.text("pairing.buttons.begin_and_connect", lang), yes)],
            [(state.text("pairing.buttons.begin_alone", lang), callbacks.CONSENT_YES)],
        ]
    rows.append([(state.text("pairing.buttons.not_now", lang), callbacks.PAIR_NO)])
    return keyboard(rows)


def couple_offer(state: AppState, lang: str) -> InlineKeyboardMarkup:
    return keyboard(
        [
            [(state.text("pairing.buttons.couple_yes", lang), callbacks.couple_data(True))],
            [(state.text("pairing.buttons.couple_no", lang), callbacks.couple_data(False))],
        ]
    )


def unpair_menu(state: AppState, lang: str) -> InlineKeyboardMarkup:
    return keyboard(
        [
            [(state.text("pairing.buttons.unpair_confirm", lang), callbacks.unpair_data(True))],
            [(state.text("pairing.buttons.unpair_cancel", lang), callbacks.unpair_data(False))],
        ]
    )


# --------------------------------------------------------------------------- pause, resume
def pause_menu(state: AppState, lang: str, *, shared: bool = False) -> Buttons:
    def b(key: str, length: PauseLength) -> tuple[str, str]:
        return state.text(key, lang), callbacks.pause_length_data(length, shared=shared)

    return [
        [
            b("buttons.pause_today", PauseLength.TODAY),
            b("buttons.pause_3d", PauseLength.THREE_DAYS),
        ],
        [
            b("buttons.pause_week", PauseLength.WEEK),
            b("buttons.pause_open", PauseLength.UNTIL_RESUMED),
        ],
        [(state.text("buttons.pause_cancel", lang), callbacks.PAUSE_CANCEL)],
    ]


def scope_menu(state: AppState, lang: str) -> Buttons:
    return [
        [(state.text("pairing.buttons.scope_mine", lang), callbacks.pause_scope_data("mine"))],
        [
            (
                state.text("pairing.buttons.scope_shared", lang),
                callbacks.pause_scope_data("shared"),
            )
        ],
        [(state.text("buttons.pause_cancel", lang), callbacks.PAUSE_CANCEL)],
    ]


def resume_menu(state: AppState, lang: str) -> InlineKeyboardMarkup:
    return keyboard(
        [
            [(state.text("pairing.buttons.resume_mine", lang), callbacks.resume_data("mine"))],
            [(state.text("pairing.buttons.resume_shared", lang), callbacks.resume_data("shared"))],
        ]
    )


# --------------------------------------------------------------------------- support
def support_button(state: AppState, lang: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        state.text("support_path.buttons.hard_now", lang), callback_data=callbacks.SUPPORT_NOW
    )


# --------------------------------------------------------------------------- settings
def timezone_buttons(state: AppState) -> Buttons:
    """The configured timezones as places ("New York"); the data keeps the IANA name."""
    zones = state.settings.timezone_choices
    return [
        [(place_name(z), callbacks.settings_data("tz", z)) for z in zones[i : i + 2]]
        for i in range(0, len(zones), 2)
    ]


def timezone_suggestions(suggestions: list[str]) -> InlineKeyboardMarkup:
    return keyboard([[(place_name(s), callbacks.settings_data("tz", s))] for s in suggestions])


def move_menu(
    state: AppState, lang: str, moves: list[tuple[time, list[time]]]
) -> InlineKeyboardMarkup:
    """For each daily time quiet hours cover, a button per place it could move to."""
    rows = [
        [
            (
                state.text("buttons.move_time", lang, time=clock(at), to=clock(to)),
                callbacks.move_data(at, to),
            )
            for to in targets
        ]
        for at, targets in moves
    ]
    keep = [(state.text("buttons.keep_times", lang), callbacks.KEEP_AS_IS)]
    return keyboard([*[row for row in rows if row], keep])


def main_menu(state: AppState, lang: str, *, paired: bool = False) -> InlineKeyboardMarkup:
    def b(key: str, section: str) -> tuple[str, str]:
        return state.text(f"buttons.settings_{key}", lang), callbacks.settings_data(section)

    rows = [
        [b("timezone", "tzmenu"), b("times", "timesmenu")],
        [b("days", "daysmenu"), b("quiet", "quietmenu")],
        [b("kinds", "kindsmenu"), b("audience", "whomenu")],
        [b("discreet", "discreetmenu")],
        [(state.text("retention.buttons.settings", lang), callbacks.settings_data("keepmenu"))],
    ]
    if len(state.catalog.languages) > 1:
        rows.append(
            [(state.text("language.buttons.settings", lang), callbacks.settings_data("langmenu"))]
        )
    if paired:
        rows.append(
            [
                (
                    state.text("pairing.buttons.settings_partner", lang),
                    callbacks.settings_data("partnermenu"),
                )
            ]
        )
    return keyboard(rows)


def submenu(state: AppState, person: Person, section: str) -> InlineKeyboardMarkup | None:
    """One section of /settings with the person's current choices marked; None for a section
    there is no such menu for (or, unpaired, the partner section)."""
    lang = person.language

    def b(key: str, data: str, chosen: bool = False) -> tuple[str, str]:
        label = state.text(key if "." in key else f"buttons.{key}", lang)
        return (state.text("buttons.chosen", lang, label=label) if chosen else label), data

    back = [b("settings_back", callbacks.settings_data("main"))]
    rows: Buttons
    match section:
        case "tzmenu":
            rows = timezone_buttons(state)
        case "timesmenu":
            rows = [
                [b(f"times_{name}", callbacks.settings_data("times", name))]
                for name in TIME_PRESETS
            ]
        case "daysmenu":
            rows = [
                [
                    b(
                        f"days_{name}",
                        callbacks.settings_data("days", name),
                        person.weekdays == mask,
                    )
                    for name, mask in DAY_PRESETS.items()
                ]
            ]
            rows += [
                [
                    b(
                        f"day_{DAY_KEYS[i]}",
                        callbacks.settings_data("day", str(i)),
                        bool(person.weekdays & (1 << i)),
                    )
                    for i in range(j, min(j + 4, 7))
                ]
                for j in (0, 4)
            ]
        case "quietmenu":
            current = (
                None
                if person.quiet_start is None or person.quiet_end is None
                else (person.quiet_start, person.quiet_end)
            )
            rows = [
                [
                    b(
                        f"quiet_{name.replace('-', '_')}",
                        callbacks.settings_data("quiet", name),
                        window == current,
                    )
                ]
                for name, window in QUIET_PRESETS.items()
            ]
        case "kindsmenu":
            rows = [
                [
                    b(
                        f"kind_{kind}",
                        callbacks.settings_data("kind", kind),
                        bool(getattr(person, flag)),
                    )
                ]
                for kind, flag in KIND_FLAGS.items()
            ]
        case "whomenu":
            rows = [
                [
                    b(
                        f"audience_{a.value}",
                        callbacks.settings_data("who", a.value),
                        person.audience is a,
                    )
                ]
                for a in Audience
            ]
        case "discreetmenu":
            rows = [
                [
                    b(
                        "discreet_preview",
                        callbacks.settings_data("discreet", "preview"),
                        person.discreet_preview,
                    )
                ],
                [
                    b(
                        "discreet_silent",
                        callbacks.settings_data("discreet", "silent"),
                        person.silent,
                    )
                ],
            ]
        case "keepmenu":
            rows = keep_buttons(state, person)
        case "langmenu":
            rows = language_buttons(state, person)
        case "partnermenu" if person.couple_id is not None:
            rows = [
                [
                    b(
                        f"pairing.buttons.share_{level.value}",
                        callbacks.settings_data("share", level.value),
                        person.sharing is level,
                    )
                ]
                for level in SharingLevel
            ]
            rows.append(
                [
                    b(
                        "pairing.buttons.couple_prompts",
                        callbacks.settings_data("couple", "toggle"),
                        person.wants_couple_prompts,
                    )
                ]
            )
            rows.append(
                [
                    b(
                        "pairing.buttons.receive_checkins",
                        callbacks.settings_data("receive", "toggle"),
                        person.receives_partner_checkins,
                    )
                ]
            )
        case _:
            return None
    return keyboard([*rows, back])


def language_buttons(state: AppState, person: Person) -> Buttons:
    """One button per language the practice has, each in its own language's name."""
    rows: Buttons = []
    for code in state.catalog.languages:
        label = state.text("language.name", code)
        if code == person.language:
            label = state.text("buttons.chosen", code, label=label)
        rows.append([(label, callbacks.language_data(code))])
    return rows


def language_menu(state: AppState, person: Person) -> InlineKeyboardMarkup:
    return keyboard(language_buttons(state, person))


def keep_buttons(state: AppState, person: Person) -> Buttons:
    """How long check-ins and notes are kept: the practice's choices, theirs marked."""
    lang = person.language
    policy = RetentionPolicy.of(state.settings)
    current = policy.checkin_days(person.keep_checkins_days)
    rows: Buttons = []
    for days in policy.choices:
        label = state.text("retention.buttons.days", lang, days=days, count=days)
        if days == current:
            label = state.text("buttons.chosen", lang, label=label)
        rows.append([(label, callbacks.keep_data(days))])
    return rows


def timezone_question(state: AppState, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    """Right after a first yes: which timezone, by button or by typing a city."""
    text = state.text(
        "settings.ask_timezone",
        lang,
        time=clock(state.settings.default_reminder_time),
        timezone=state.settings.default_timezone,
    )
    return text, keyboard(timezone_buttons(state))
