"""/timezone, /times, /quiet and /settings: when and what a person receives."""

from __future__ import annotations

from datetime import time

from telegram import InlineKeyboardMarkup, Update

from reminderbot.services import pairing, schedules
from reminderbot.services.conversation import Question, answered, ask, waiting_for
from reminderbot.services.preferences import (
    DAY_KEYS,
    DAY_PRESETS,
    KIND_FLAGS,
    QUIET_PRESETS,
    TIME_PRESETS,
)
from reminderbot.services.timekeeping import (
    moves_out_of_quiet,
    parse_clock,
    parse_timezone,
    quiet_covered,
    suggest_timezones,
)
from reminderbot.storage import repositories
from reminderbot.storage.models import Audience, ConsentState, Person, SharingLevel
from reminderbot.telegram import callbacks
from reminderbot.telegram.context import AppState, BotContext
from reminderbot.telegram.replies import Buttons, answer, finish_press, keyboard, reply

# No city or timezone name is longer; longer text is not parsed at all (zoneinfo reads it as
# a file name, and difflib's cost grows with it).
TIMEZONE_MAX_CHARS = 64


def _clock(at: time) -> str:
    return at.strftime("%H:%M")


async def warn_if_quiet_covers(update: Update, context: BotContext, person: Person) -> None:
    """Quiet hours silently skip any reminder they cover, every day: say so, with buttons to
    move each covered time just before quiet hours begin or to when they end."""
    start, end = person.quiet_start, person.quiet_end
    if start is None or end is None:
        return
    state = context.state
    async with state.sessions.begin() as session:
        covered = quiet_covered(await schedules.times_of(session, person.id), start, end)
    if not covered:
        return
    lang = person.language
    rows = [
        [
            (
                state.text("buttons.move_time", lang, time=_clock(at), to=_clock(to)),
                callbacks.move_data(at, to),
            )
            for to in moves_out_of_quiet(at, start, end)
        ]
        for at in covered
    ]
    text = state.text(
        "settings.quiet_covers",
        lang,
        times=", ".join(_clock(t) for t in covered),
        start=_clock(start),
        end=_clock(end),
    )
    await reply(update, context, text, markup=keyboard([row for row in rows if row]))


async def active_person(
    update: Update, context: BotContext, *, allow_stopped: bool = False
) -> Person | None:
    """The person behind this update if they said yes (or, with allow_stopped, if we hold any
    row for them); otherwise point them to /start."""
    user = update.effective_user
    if user is None:
        return None
    state = context.state
    async with state.sessions.begin() as session:
        person = await repositories.person_by_telegram_id(session, user.id)
    if person is None or (person.consent is not ConsentState.GIVEN and not allow_stopped):
        lang = state.language_for(user, person)
        if update.callback_query is not None:
            await answer(update, state.text("answers.start_first", lang))
        else:
            await reply(update, context, state.text("settings.start_first", lang))
        return None
    return person


def _days_label(state: AppState, lang: str, mask: int) -> str:
    for name, preset in DAY_PRESETS.items():
        if mask == preset:
            return state.text(f"settings.days_{name}", lang)
    names = [state.text(f"days.{key}", lang) for i, key in enumerate(DAY_KEYS) if mask & (1 << i)]
    return ", ".join(names) if names else state.text("settings.days_none", lang)


def timezone_buttons(state: AppState) -> Buttons:
    zones = state.settings.timezone_choices
    return [
        [(z, callbacks.settings_data("tz", z)) for z in zones[i : i + 2]]
        for i in range(0, len(zones), 2)
    ]


async def ask_timezone(update: Update, context: BotContext, lang: str) -> None:
    """Right after a first yes: which timezone, by button or by typing a city."""
    state = context.state
    if (user := update.effective_user) is not None:
        # In the database, not user_data: the answer may reach another instance.
        async with state.sessions.begin() as session:
            await ask(session, user.id, Question.TIMEZONE, state.now())
    await reply(
        update,
        context,
        state.text(
            "settings.ask_timezone",
            lang,
            time=_clock(state.settings.default_reminder_time),
            timezone=state.settings.default_timezone,
        ),
        markup=keyboard(timezone_buttons(state)),
    )


async def _apply_timezone(update: Update, context: BotContext, person: Person, typed: str) -> bool:
    state = context.state
    lang = person.language
    if len(typed.strip()) > TIMEZONE_MAX_CHARS:
        await reply(update, context, state.text("settings.timezone_too_long", lang))
        return False
    found = parse_timezone(typed)
    if found is None:
        suggestions = suggest_timezones(typed)
        if suggestions:
            await reply(
                update,
                context,
                state.text("settings.timezone_suggest", lang),
                markup=keyboard([[(s, callbacks.settings_data("tz", s))] for s in suggestions]),
            )
        else:
            await reply(update, context, state.text("settings.timezone_unknown", lang))
        return False
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return False
        await schedules.set_timezone(session, fresh, found, state.now())
        times = await schedules.times_of(session, fresh.id)
    await reply(
        update,
        context,
        state.text(
            "settings.timezone_set",
            lang,
            timezone=found,
            times=", ".join(_clock(t) for t in times) or "-",
        ),
    )
    return True


async def timezone_command(update: Update, context: BotContext) -> None:
    """/timezone Europe/Berlin, /timezone UTC+2, /timezone Berlin."""
    person = await active_person(update, context)
    if person is None:
        return
    typed = " ".join(context.args or [])
    if not typed:
        await ask_timezone(update, context, person.language)
        return
    if await _apply_timezone(update, context, person, typed):
        await _timezone_answered(update, context)


async def _timezone_answered(update: Update, context: BotContext) -> None:
    if (user := update.effective_user) is not None:
        async with context.state.sessions.begin() as session:
            await answered(session, user.id, Question.TIMEZONE)


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
    person = await active_person(update, context)
    if person is None:
        return True  # active_person has answered
    if await _apply_timezone(update, context, person, message.text):
        await _timezone_answered(update, context)
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
    """/times 08:30 20:00"""
    person = await active_person(update, context)
    if person is None:
        return
    state = context.state
    lang = person.language
    times = parse_times(context.args or [])
    if times is None:
        await reply(
            update,
            context,
            state.text(
                "settings.times_usage",
                lang,
                most=state.text(f"numbers.{schedules.MAX_DAILY_TIMES}", lang),
            ),
        )
        return
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return
        saved = await schedules.set_times(session, fresh, times, state.now())
    text = state.text(
        "settings.times_set",
        lang,
        times=", ".join(_clock(t) for t in saved),
        timezone=person.timezone,
    )
    await reply(update, context, text)
    await warn_if_quiet_covers(update, context, fresh)


async def quiet_command(update: Update, context: BotContext) -> None:
    """/quiet 22:00 07:00, or /quiet off."""
    person = await active_person(update, context)
    if person is None:
        return
    state = context.state
    lang = person.language
    args = context.args or []
    if len(args) == 1 and args[0].lower() == "off":
        window: tuple[time, time] | None = None
    else:
        parsed = [parse_clock(a) for a in args]
        if len(parsed) != 2 or parsed[0] is None or parsed[1] is None or parsed[0] == parsed[1]:
            await reply(update, context, state.text("settings.quiet_usage", lang))
            return
        window = (parsed[0], parsed[1])
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return
        fresh.quiet_start, fresh.quiet_end = window or (None, None)
    if window is None:
        await reply(update, context, state.text("settings.quiet_off", lang))
    else:
        await reply(
            update,
            context,
            state.text("settings.quiet_set", lang, start=_clock(window[0]), end=_clock(window[1])),
        )
        await warn_if_quiet_covers(update, context, fresh)


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
        ),
        checkin_buttons=state.text("settings.checkin_buttons", lang),
        audience=state.text(f"settings.audience_{person.audience.value}", lang),
        discreet=on if person.discreet_preview else off,
        silent=on if person.silent else off,
    )
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


def main_menu(state: AppState, lang: str, *, paired: bool = False) -> InlineKeyboardMarkup:
    def b(key: str, section: str) -> tuple[str, str]:
        return state.text(f"buttons.settings_{key}", lang), callbacks.settings_data(section)

    rows = [
        [b("timezone", "tzmenu"), b("times", "timesmenu")],
        [b("days", "daysmenu"), b("quiet", "quietmenu")],
        [b("kinds", "kindsmenu"), b("audience", "whomenu")],
        [b("discreet", "discreetmenu")],
    ]
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
            rows = [
                [b(f"quiet_{name.replace('-', '_')}", callbacks.settings_data("quiet", name))]
                for name in QUIET_PRESETS
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


async def settings_command(update: Update, context: BotContext) -> None:
    """Everything in one place, with buttons to change each part."""
    person = await active_person(update, context)
    if person is None:
        return
    state = context.state
    async with state.sessions.begin() as session:
        times = await schedules.times_of(session, person.id)
    await reply(
        update,
        context,
        summary(state, person, times),
        markup=main_menu(state, person.language, paired=person.couple_id is not None),
    )


async def _change(person: Person, action: str, value: str | None, state: AppState) -> str | None:
    """Apply one settings button to a fresh person row. Returns the submenu to show next."""
    now = state.now()
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        if fresh is None:
            return None
        match action, value:
            case "tz", str(name) if parse_timezone(name) == name:
                await schedules.set_timezone(session, fresh, name, now)
                return "main"
            case "times", str(name) if name in TIME_PRESETS:
                await schedules.set_times(session, fresh, list(TIME_PRESETS[name]), now)
                return "main"
            case "days", str(name) if name in DAY_PRESETS:
                await schedules.set_weekdays(session, fresh, DAY_PRESETS[name], now)
                return "daysmenu"
            case "day", str(day) if day.isdigit() and int(day) < 7:
                await schedules.set_weekdays(session, fresh, fresh.weekdays ^ (1 << int(day)), now)
                return "daysmenu"
            case "move", str(move) if (pair := callbacks.parse_move(move)) is not None:
                was, to = pair
                times = await schedules.times_of(session, fresh.id)
                if was not in times:
                    return None  # an old button: that time was changed since
                moved = [t for t in times if t != was] + [to]
                await schedules.set_times(session, fresh, moved, now)
                return "main"
            case "quiet", str(name) if name in QUIET_PRESETS:
                fresh.quiet_start, fresh.quiet_end = QUIET_PRESETS[name] or (None, None)
                return "main"
            case "kind", str(kind) if kind in KIND_FLAGS:
                flag = KIND_FLAGS[kind]
                setattr(fresh, flag, not getattr(fresh, flag))
                return "kindsmenu"
            case "who", str(who) if who in {a.value for a in Audience}:
                fresh.audience = Audience(who)
                return "main"
            case "discreet", "preview":
                fresh.discreet_preview = not fresh.discreet_preview
                return "discreetmenu"
            case "discreet", "silent":
                fresh.silent = not fresh.silent
                return "discreetmenu"
            # Sharing is the person's own choice; the partner is never told it changed.
            case "share", str(level) if level in {lv.value for lv in SharingLevel}:
                if await pairing.set_sharing(session, fresh, SharingLevel(level)):
                    return "partnermenu"
            case "couple", "toggle":
                wanted = not fresh.wants_couple_prompts
                if await pairing.set_couple_prompts(session, fresh, wanted):
                    return "partnermenu"
            # The receiver's own choice; the partner is not told and their sharing is unchanged.
            case "receive", "toggle":
                wanted = not fresh.receives_partner_checkins
                if await pairing.set_receives_checkins(session, fresh, wanted):
                    return "partnermenu"
    return None


async def settings_button(update: Update, context: BotContext) -> None:
    """Every set:... button: open a section, or change a setting and show the result."""
    query = update.callback_query
    match = callbacks.SETTINGS.match(query.data or "") if query else None
    if query is None or match is None:
        return
    person = await active_person(update, context)
    if person is None:
        return
    state = context.state
    lang = person.language
    action, value = match.group(1), match.group(2)
    if action.endswith("menu") or action == "main":
        section = action
    else:
        section = await _change(person, action, value, state) or ""
        if not section:
            await answer(update, state.text("answers.stale_button", lang))
            return
        if action == "tz":
            await _timezone_answered(update, context)
    async with state.sessions.begin() as session:
        fresh = await repositories.person_by_id(session, person.id)
        times = await schedules.times_of(session, person.id)
    if fresh is None:
        return
    paired = fresh.couple_id is not None
    markup = (
        main_menu(state, lang, paired=paired)
        if section == "main"
        else submenu(state, fresh, section)
    )
    if markup is None:
        await answer(update, state.text("answers.stale_button", lang))
        return
    note = None if action.endswith("menu") else state.text("answers.saved", lang)
    await finish_press(update, summary(state, fresh, times), markup, note=note)
    # Also after a move: quiet hours may have changed since the button was offered.
    if action in ("quiet", "times", "move"):
        await warn_if_quiet_covers(update, context, fresh)
