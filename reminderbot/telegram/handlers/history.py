"""/checkins: the person's own last two weeks as a short list, and a picture of the last four."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import date

from telegram import Update

from reminderbot.content.limits import MESSAGE_LIMIT, telegram_length
from reminderbot.delivery.reminder import MOOD_ORDER
from reminderbot.services import chart, history
from reminderbot.services.history import CHART_DAYS, LIST_DAYS, Entry, History
from reminderbot.services.preferences import DAY_KEYS
from reminderbot.storage import repositories
from reminderbot.storage.models import ConsentState, Mood
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.cooldown import cooldown
from reminderbot.telegram.dates import MONTH_KEYS
from reminderbot.telegram.replies import protected_reply, reply

CHART_FILENAME = "checkins.png"
# Chart rows from top to bottom: the lighter moods above, the heavier below.
CHART_ROWS = MOOD_ORDER  # top to bottom, in the order of the buttons under a reminder


def _mood(state: AppState, lang: str, mood: Mood) -> str:
    return state.text(f"buttons.mood_{mood.value}", lang)


def _month(state: AppState, lang: str, day: date) -> str:
    return state.text(f"history.months.{MONTH_KEYS[day.month - 1]}", lang)


def list_lines(state: AppState, lang: str, entries: tuple[Entry, ...]) -> list[str]:
    """One line per day they checked in (days without are simply not there), notes below."""
    by_day: dict[date, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_day[entry.at.date()].append(entry)
    lines = [state.text("history.heading", lang)]
    for day, day_entries in by_day.items():
        lines.append(
            state.text(
                "history.day_line",
                lang,
                weekday=state.text(f"days.{DAY_KEYS[day.weekday()]}", lang),
                day=str(day.day),
                month=_month(state, lang, day),
                moods=", ".join(_mood(state, lang, e.mood) for e in day_entries),
            )
        )
        # Their own words, shown only to them: the reply is protected like the check-in was.
        lines += [
            state.text("history.note_line", lang, mood=_mood(state, lang, e.mood), note=e.note)
            for e in day_entries
            if e.note
        ]
    return lines


def pack(lines: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Lines joined into as few messages as fit Telegram's limit, never splitting a line."""
    messages: list[str] = []
    current = ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if current and telegram_length(candidate) > limit:
            messages.append(current)
            candidate = line
        current = candidate
    if current:
        messages.append(current)
    return messages


def mood_chart(state: AppState, lang: str, past: History) -> chart.MoodChart:
    days = past.days(CHART_DAYS)
    return chart.MoodChart(
        title=state.text("history.chart_title", lang),
        days=days,
        day_labels=tuple(
            state.text("history.chart_date", lang, day=str(d.day), month=_month(state, lang, d))
            for d in days
        ),
        moods=tuple((mood, _mood(state, lang, mood)) for mood in CHART_ROWS),
        counts=past.per_day(CHART_DAYS),
    )


async def checkins_command(update: Update, context: BotContext) -> None:
    """Their recent check-ins, and the picture; a kind sentence when there are none."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    state = context.state
    now = state.now()
    pause = cooldown(context)
    if pause.too_soon("checkins", user.id, now):
        await reply(update, context, state.text("errors.too_soon", state.language_for(user)))
        return
    async with state.sessions.begin() as session:
        person = await repositories.person_by_telegram_id(session, user.id)
        past = await history.recent(session, person, now) if person else None
    lang = state.language_for(user, person)
    if past is None or not past.entries:
        # "Tap a button under a reminder" only where reminders still come.
        if person is None:
            key = "history.no_data"
        elif person.consent is not ConsentState.GIVEN:
            key = "history.none_stopped"
        else:
            key = "history.none"
        await protected_reply(update, context, state.text(key, lang))
        return
    pause.done("checkins", user.id, now)
    recent = past.within(LIST_DAYS)
    if recent:
        for text in pack(list_lines(state, lang, recent)):
            await protected_reply(update, context, text)
    else:
        await protected_reply(update, context, state.text("history.none_recent", lang))
    # Drawing takes a moment of CPU: in a worker thread it never delays anyone's reminder.
    png = await asyncio.to_thread(chart.render, mood_chart(state, lang, past))
    await context.bot.send_photo(
        chat.id,
        png,
        filename=CHART_FILENAME,
        caption=state.text("history.chart_caption", lang),
        protect_content=state.settings.protect_content,
    )
