"""/timezone, /times, /quiet and /settings: when and what a person receives.

Each command reads the person and makes its change in one transaction (telegram/acting.py), with
the rules in services/preferences.py; the menus are in telegram/menus.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from telegram import Update

from reminderbot.services import preferences, retention, schedules
from reminderbot.services.conversation import Question, answered, ask, waiting_for
from reminderbot.services.preferences import (
    DAY_KEYS,
    DAY_PRESETS,
    KIND_FLAGS,
    NOBODY,
    QUIET_PRESETS,
    TIME_PRESETS,
    People,
)
from reminderbot.services.timekeeping import (
    moves_out_of_quiet,
    parse_clock,
    parse_timezone,
    quiet_covered,
    suggest_timezones,
)
from reminderbot.storage.models import Audience, Person, SharingLevel
from reminderbot.telegram import callbacks, menus
from reminderbot.telegram.acting import Acting, acting_person
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.menus import clock as _clock
from reminderbot.telegram.replies import answer, finish_press, keyboard, reply
from reminderbot.telegram.statements import sends_no_kind, when_reminders_come

# No city or timezone name is longer; longer text is not parsed at all (zoneinfo reads it as
# a file name, and difflib's cost grows with it).
TIMEZONE_MAX_CHARS = 64


async def warn_if_quiet_covers(
    update: Update, context: BotContext, person: Person, times: list[time]
) -> None:
    """Quiet hours silently skip any reminder they cover, every day: say so, with buttons to
    move each covered time just before quiet hours begin or to when they end."""
    start, end = person.quiet_start, person.quiet_end
    if start is None or end is None:
        return
    covered = quiet_covered(times, start, end)
    if not covered:
        return
    state = context.state
    lang = person.language
    moves = [(at, moves_out_of_quiet(at, start, end)) for at in covered]
    key = "settings.quiet_covers" if len(covered) == 1 else "settings.quiet_covers_many"
    text = state.text(
        key,
        lang,
        times=", ".join(_clock(t) for t in covered),
        start=_clock(start),
        end=_clock(end),
    )
    await reply(update, context, text, markup=menus.move_menu(state, lang, moves))


def _days_label(state: AppState, lang: str, mask: int) -> str:
    for name, preset in DAY_PRESETS.items():
        if mask == preset:
            return state.text(f"settings.days_{name}", lang)
    names = [state.text(f"days.{key}", lang) for i, key in enumerate(DAY_KEYS) if mask & (1 << i)]
    return ", ".join(names) if names else state.text("settings.days_none", lang)


async def ask_timezone(update: Update, context: BotContext, lang: str) -> None:
    """The timezone question, once ``conversation.ask`` has committed: by button or by city."""
    text, markup = menus.timezone_question(context.state, lang)
    await reply(update, context, text, markup=markup)


@dataclass(frozen=True, slots=True)
class _Timezone:
    """What became of a typed timezone: set (with when reminders now come), or not understood."""

    found: str | None
    when: str = ""


async def _apply_timezone(state: AppState, acting: Acting, typed: str) -> _Timezone:
    """Set a typed timezone if it is one; the question, if open, is answered by it."""
    found = parse_timezone(typed) if len(typed.strip()) <= TIMEZONE_MAX_CHARS else None
    if found is None:
        return _Timezone(None)
    session, person = acting.session, acting.person
    acting.mark(await preferences.set_timezone(session, person, found, acting.now))
    await answered(session, person.telegram_user_id, Question.TIMEZONE)
    times = await schedules.times_of(session, person.id)
    return _Timezone(found, when_reminders_come(state, person, times, acting.now))


async def _say_timezone(
    update: Update, context: BotContext, lang: str, typed: str, outcome: _Timezone
) -> None:
    state = context.state
    if outcome.found is not None:
        text = state.text("settings.timezone_set", lang, timezone=outcome.found, when=outcome.when)
        await reply(update, context, text)
    elif len(typed.strip()) > TIMEZONE_MAX_CHARS:
        await reply(update, context, state.text("settings.timezone_too_long", lang))
    elif suggestions := suggest_timezones(typed):
        await reply(
            update,
            context,
            state.text("settings.timezone_suggest", lang),
            markup=menus.timezone_suggestions(suggestions),
        )
    else:
        await reply(update, context, state.text("settings.timezone_unknown", lang))


async def timezone_command(update: Update, context: BotContext) -> None:
    """/timezone Europe/Berlin, /timezone UTC+2, /timezone Berlin."""
    typed = " ".join(context.args or [])
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        lang = acting.lang
        if not typed:
            # In the database, not user_data: the answer may reach another instance.
            await ask(acting.session, acting.person.telegram_user_id, Question.TIMEZONE, acting.now)
            times = await schedules.times_of(acting.session, acting.person.id)
            when = when_reminders_come(context.state, acting.person, times, acting.now)
        else:
            outcome = await _apply_timezone(context.state, acting, typed)
    if not typed:
        # Their own settings, not the defaults a newcomer is asked with.
        state = context.state
        text = state.text("settings.ask_timezone_current", lang, when=when)
        await reply(update, context, text, markup=keyboard(menus.timezone_buttons(state)))
        return
    await _say_timezone(update, context, lang, typed, outcome)


async def typed_timezone(update: Update, context: BotContext) -> bool:
    """Free text right after the timezone question is taken as a timezone. True if handled."""
    user, message = update.effective_user, update.effective_message
    if user is None or message is None or not message.text:
        return False
    state = context.state
    async with state.sessions.begin() as session:
        question = await waiting_for(session, user.id, state.now())
    if question is not Question.TIMEZONE:
        return False
    typed = message.text
    async with acting_person(update, context) as acting:
        if acting is None:
            return True  # acting_person has answered
        lang = acting.lang
        outcome = await _apply_timezone(context.state, acting, typed)
    await _say_timezone(update, context, lang, typed, outcome)
    return True


def parse_times(args: list[str]) -> list[time] | None:
    """['08:30', '20:00'] -> times; None if any is not a time or there are too many."""
    parts = [p for arg in args for p in arg.replace(",", " ").split()]
    if not parts or len(parts) > schedules.MAX_DAILY_TIMES:
        return None
    parsed = [parse_clock(p) for p in parts]
    if any(p is None for p in parsed):
        return None
    return [p for p in parsed if p is not None]


async def times_command(update: Update, context: BotContext) -> None:
    """/times 08:30 20:00; /times alone shows the current times and how to change them."""
    args = context.args or []
    times = parse_times(args)
    state = context.state
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        person = acting.person
        if times is not None:
            acting.mark(await preferences.set_times(acting.session, person, times, acting.now))
        saved = await schedules.times_of(acting.session, person.id)
        when = when_reminders_come(state, person, saved, acting.now)
    lang = person.language
    most = state.text(f"numbers.{schedules.MAX_DAILY_TIMES}", lang)
    if times is None:
        if args:
            text = state.text("settings.times_usage", lang, most=most)
        else:
            text = state.text("settings.times_current", lang, most=most, when=when)
        await reply(update, context, text)
        return
    text = state.text("settings.times_set", lang, when=when)
    await reply(update, context, text)
    await warn_if_quiet_covers(update, context, person, saved)


def parse_quiet(args: list[str]) -> tuple[bool, tuple[time, time] | None]:
    """['22:00', '07:00'] -> (True, the window); ['off'] -> (True, None); else (False, None)."""
    if len(args) == 1 and args[0].lower() == "off":
        return True, None
    parsed = [parse_clock(a) for a in args]
    if len(parsed) != 2 or parsed[0] is None or parsed[1] is None or parsed[0] == parsed[1]:
        return False, None
    return True, (parsed[0], parsed[1])


async def quiet_command(update: Update, context: BotContext) -> None:
    """/quiet 22:00 07:00, or /quiet off."""
    understood, window = parse_quiet(context.args or [])
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        person = acting.person
        if understood:
            acting.mark(preferences.set_quiet(person, window))
            times = await schedules.times_of(acting.session, person.id)
    state = context.state
    lang = person.language
    if not understood:
        await reply(update, context, state.text("settings.quiet_usage", lang))
    elif window is None:
        await reply(update, context, state.text("settings.quiet_off", lang))
    else:
        await reply(
            update,
            context,
            state.text("settings.quiet_set", lang, start=_clock(window[0]), end=_clock(window[1])),
        )
        await warn_if_quiet_covers(update, context, person, times)


# --------------------------------------------------------------------------- /settings
def summary(state: AppState, person: Person, times: list[time]) -> str:
    lang = person.language
    on, off = state.text("settings.on", lang), state.text("settings.off", lang)
    quiet = (
        state.text(
            "settings.quiet_window",
            lang,
            start=_clock(person.quiet_start),
            end=_clock(person.quiet_end),
        )
        if person.quiet_start and person.quiet_end
        else off
    )
    text = state.text(
        "settings.summary",
        lang,
        timezone=person.timezone,
        times=", ".join(_clock(t) for t in times) or "-",
        days=_days_label(state, lang, person.weekdays),
        quiet=quiet,
        # Check-in prompts are a kind of message one may choose; check-in buttons come with
        # every reminder whatever the kinds, and the summary says so on a line of its own.
        kinds=state.text(
            "settings.kinds",
            lang,
            affirmations=on if person.wants_affirmations else off,
            practices=on if person.wants_practices else off,
            checkin_prompts=on if person.wants_checkin_prompts else off,
        )
        # As "no days" says it: every kind off means nothing arrives.
        + ("\n" + state.text("settings.kinds_none", lang) if sends_no_kind(person) else ""),
        checkin_buttons=state.text("settings.checkin_buttons", lang),
        audience=state.text(f"settings.audience_{person.audience.value}", lang),
        discreet=on if person.discreet_preview else off,
        silent=on if person.silent else off,
    )
    # How long their check-ins are kept: their own choice, within the practice's limit.
    words = retention.RetentionPolicy.of(state.settings).words(person.keep_checkins_days)
    text += "\n" + state.text("retention.summary", lang, count=words["keep_days"], **words)
    if person.couple_id is None:
        return text
    partner = state.text(
        "pairing.summary",
        lang,
        sharing=state.text(f"pairing.sharing_{person.sharing.value}", lang),
        couple_prompts=on if person.wants_couple_prompts else off,
    )
    receives = state.text(
        "pairing.summary_receives", lang, receives=on if person.receives_partner_checkins else off
    )
    return text + "\n" + partner + "\n" + receives


async def settings_command(update: Update, context: BotContext) -> None:
    """Everything in one place, with buttons to change each part."""
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        person = acting.person
        times = await schedules.times_of(acting.session, person.id)
    state = context.state
    await reply(
        update,
        context,
        summary(state, person, times),
        markup=menus.main_menu(state, person.language, paired=person.couple_id is not None),
    )


async def _change(acting: Acting, action: str, value: str | None) -> str | None:
    """Apply one settings button. Returns the submenu to show next; None for a button that no
    longer applies (nothing changed)."""
    session, person, now = acting.session, acting.person, acting.now
    changed: People
    match action, value:
        case "tz", str(name) if parse_timezone(name) == name:
            changed, section = await preferences.set_timezone(session, person, name, now), "main"
            await answered(session, person.telegram_user_id, Question.TIMEZONE)
        case "times", str(name) if name in TIME_PRESETS:
            times = TIME_PRESETS[name]
            changed, section = await preferences.set_times(session, person, times, now), "main"
        case "days", str(name) if name in DAY_PRESETS:
            mask = DAY_PRESETS[name]
            changed = await preferences.set_weekdays(session, person, mask, now)
            section = "daysmenu"
        case "day", str(day) if day.isdigit() and int(day) < len(DAY_KEYS):
            changed = await preferences.toggle_weekday(session, person, int(day), now)
            section = "daysmenu"
        case "move", str(move) if (found := callbacks.parse_move(move)) is not None:
            # An old button (that time was changed since) moves nothing.
            changed = await preferences.move_time(session, person, *found, now)
            section = "main"
        case "quiet", str(name) if name in QUIET_PRESETS:
            changed, section = preferences.set_quiet(person, QUIET_PRESETS[name]), "main"
        case "kind", str(kind) if kind in KIND_FLAGS:
            changed, section = preferences.toggle_kind(person, kind), "kindsmenu"
        case "who", str(who) if who in {a.value for a in Audience}:
            changed, section = preferences.set_audience(person, Audience(who)), "main"
        case "discreet", "preview":
            changed, section = preferences.toggle_discreet_preview(person), "discreetmenu"
        case "discreet", "silent":
            changed, section = preferences.toggle_silent(person), "discreetmenu"
        # Sharing is the person's own choice; the partner is never told it changed.
        case "share", str(level) if level in {lv.value for lv in SharingLevel}:
            changed = await preferences.set_sharing(session, person, SharingLevel(level))
            section = "partnermenu"
        case "couple", "toggle":
            wanted = not person.wants_couple_prompts
            changed = await preferences.set_couple_prompts(session, person, wanted)
            section = "partnermenu"
        # The receiver's own choice; the partner is not told and their sharing is unchanged.
        case "receive", "toggle":
            wanted = not person.receives_partner_checkins
            changed = await preferences.set_receives_checkins(session, person, wanted)
            section = "partnermenu"
        case _:
            changed, section = NOBODY, ""
    acting.mark(changed)
    return section if changed else None


def _language(acting: Acting, state: AppState, value: str | None) -> str | None:
    """The language they read, from /language or /settings: the next message is in it."""
    changed = preferences.set_language(acting.person, value or "", state.catalog.languages)
    acting.mark(changed)
    state.remember_language(acting.person.telegram_user_id, acting.person.language)
    return "main" if changed else None


def _keep(acting: Acting, state: AppState, value: str | None) -> str | None:
    """How long check-ins are kept: one of the practice's choices, or nothing changes."""
    days = callbacks.parse_keep(value or "")
    if days is None:
        return None
    choices = retention.RetentionPolicy.of(state.settings).choices
    changed = preferences.set_keep_checkins(acting.person, days, choices)
    acting.mark(changed)
    return "keepmenu" if changed else None


def _section_hint(state: AppState, person: Person, section: str, times: list[time]) -> str:
    """What a section is for and what else works there, above the summary ("" for none)."""
    lang = person.language
    match section:
        case "tzmenu":
            return state.text("settings.section.timezone", lang)
        case "timesmenu":
            shown = ", ".join(_clock(t) for t in times) or "-"
            return state.text("settings.section.times", lang, times=shown)
        case "quietmenu":
            return state.text("settings.section.quiet", lang)
        case "whomenu":
            return state.text("settings.section.about_me", lang)
        case "discreetmenu":
            first_line = state.text("reminder.discreet_first_line", lang)
            return state.text("settings.section.discreet", lang, first_line=first_line)
    return ""


async def settings_button(update: Update, context: BotContext) -> None:
    """Every set:... button: open a section, or change a setting and show the result."""
    query = update.callback_query
    match = callbacks.SETTINGS.match(query.data or "") if query else None
    if query is None or match is None:
        return
    action, value = match.group(1), match.group(2)
    state = context.state
    if query.data == callbacks.KEEP_AS_IS:
        # "Keep as is" under the quiet-hours warning: nothing changes, and the offer goes.
        lang = state.language_for(update.effective_user)
        await finish_press(update, state.text("settings.quiet_kept", lang))
        return
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        person = acting.person
        was = person.audience
        if action.endswith("menu") or action == "main":
            section: str | None = action
            if action == "tzmenu":
                # Typing a city works here too: the next text is read as a timezone.
                await ask(acting.session, person.telegram_user_id, Question.TIMEZONE, acting.now)
        elif action == "keep":
            section = _keep(acting, context.state, value)
        elif action == "lang":
            section = _language(acting, context.state, value)
        else:
            section = await _change(acting, action, value)
        if person.audience is not was:  # a withdrawn answer leaves no trace in what was sent
            await retention.forget_answer(acting.session, context.state.catalog, person, was)
        times = await schedules.times_of(acting.session, person.id)
    lang = person.language
    if not section:
        await answer(update, state.text("answers.stale_button", lang))
        return
    paired = person.couple_id is not None
    markup = (
        menus.main_menu(state, lang, paired=paired)
        if section == "main"
        else menus.submenu(state, person, section)
    )
    if markup is None:
        await answer(update, state.text("answers.stale_button", lang))
        return
    # Opening a section or going back changes nothing, so nothing is "Saved."
    opened = action.endswith("menu") or action == "main"
    saved = "language.answers.set" if action == "lang" else "answers.saved"
    note = None if opened else state.text(saved, lang)
    text = summary(state, person, times)
    if hint := _section_hint(state, person, section, times):
        text = hint + "\n\n" + text
    await finish_press(update, text, markup, note=note)
    # Also after a move: quiet hours may have changed since the button was offered.
    if action in ("quiet", "times", "move"):
        await warn_if_quiet_covers(update, context, person, times)


async def language_command(update: Update, context: BotContext) -> None:
    """/language: one button per language; a tap changes it (``settings_button``, set:lang)."""
    async with acting_person(update, context) as acting:
        if acting is None:
            return
        person = acting.person
    state = context.state
    text = state.text("language.choose", person.language)
    await reply(update, context, text, markup=menus.language_menu(state, person))
