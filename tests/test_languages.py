"""Every person in their own language: German and Spanish as gettext PO translations of the
English, chosen from Telegram's language_code or with /language, with CLDR plurals, and a
changed English line never served in an old translation.

Database tests run on SQLite and PostgreSQL, against the strict Telegram double.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po

from reminderbot.cli import main
from reminderbot.content import ContentKind, load_catalog
from reminderbot.content.check import PO_FILE, check_messages, translation_status
from reminderbot.content.po import extract, previous_id, update
from reminderbot.delivery.batch import Outgoing, TickStats
from reminderbot.delivery.reminder import checkin_data
from reminderbot.sandbox.state import SandboxState, default_people
from reminderbot.services.pausing import PauseLength
from reminderbot.services.retention import RetentionPolicy
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import Mood
from reminderbot.telegram import callbacks
from reminderbot.telegram.app import MENU_COMMANDS
from reminderbot.telegram.welcome import welcome_text
from tests.support import factories
from tests.support.harness import REPO, BotHarness, FakeClock, catalog
from tests.test_checkins_support import joined, reminder_at, utc

MESSAGES = REPO / "messages"


async def press_as(harness: BotHarness, user_id: int, data: str, language_code: str) -> None:
    """A press by someone whose Telegram is set to ``language_code``."""
    message_id = harness.message_with_button(user_id, data)
    await harness.process(
        factories.callback_update(
            harness.bot, user_id, data, message_id=message_id, language_code=language_code
        )
    )


ALEX = 8901
ROSA = 8902


# --------------------------------------------------------------------------- choosing
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("de", "de"),
        ("de-AT", "de"),
        ("DE_ch", "de"),
        ("es", "es"),
        ("es-MX", "es"),
        ("es-419", "es"),
        ("en-GB", "en"),
        ("fr", "en"),
        ("pt-BR", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_language_code_maps_to_a_language_we_have_or_the_default(
    code: str | None, expected: str
) -> None:
    assert catalog().resolve_language(code) == expected


def test_a_practice_whose_default_is_german_greets_unknown_languages_in_german() -> None:
    german_default = load_catalog(MESSAGES, "de")
    assert german_default.resolve_language("fr") == "de"
    assert german_default.resolve_language("es-MX") == "es"
    assert german_default.text("buttons.consent_no", None) == "Nicht jetzt"


async def test_start_in_austrian_german_welcomes_in_german_and_stores_it(
    harness: BotHarness,
) -> None:
    await harness.command(ALEX, "/start", language_code="de-AT")
    assert harness.last_text(ALEX) == welcome_text(harness.state, "de")
    assert harness.last_text(ALEX).startswith("Hallo und willkommen.")
    assert harness.last_buttons(ALEX) == ["Ja, das möchte ich", "Nicht jetzt"]
    await press_as(harness, ALEX, callbacks.consent_data(True), "de-AT")
    person = await harness.person(ALEX)
    assert person is not None and person.language == "de"


async def test_start_in_a_language_we_lack_falls_back_to_the_default(
    harness: BotHarness,
) -> None:
    await harness.command(ALEX, "/start", language_code="fr")
    assert harness.last_text(ALEX) == welcome_text(harness.state, "en")


async def test_language_command_changes_it_with_one_tap(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/language")
    assert harness.last_text(ALEX) == harness.text("language.choose")
    assert harness.last_buttons(ALEX) == ["Deutsch", "✓ English", "Español"]
    await harness.press(ALEX, callbacks.language_data("es"))
    person = await harness.person(ALEX)
    assert person is not None and person.language == "es"
    assert harness.answers()[-1] == "A partir de ahora te escribiré en español."
    await harness.command(ALEX, "/help")
    assert harness.last_text(ALEX).startswith("Envío frases breves de ánimo")


async def test_settings_has_a_language_section(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/settings")
    assert harness.text("language.buttons.settings") in harness.last_buttons(ALEX)
    await harness.press(ALEX, callbacks.settings_data("langmenu"))
    await harness.press(ALEX, callbacks.language_data("de"))
    redrawn = harness.double.calls_to("editMessageText", chat_id=ALEX)[-1]
    assert str(redrawn.params["text"]).startswith("Deine Einstellungen")
    # A language the practice has no words in changes nothing.
    await harness.press(ALEX, callbacks.settings_data("langmenu"))
    menu = harness.message_with_button(ALEX, callbacks.language_data("de"))
    await harness.press(ALEX, callbacks.language_data("fr"), message_id=menu)
    person = await harness.person(ALEX)
    assert person is not None and person.language == "de"
    assert harness.answers()[-1] == harness.state.text("answers.stale_button", "de")


# --------------------------------------------------------------------------- plurals
@pytest.mark.parametrize(
    ("lang", "count", "expected"),
    [
        ("en", 1, "1 day"),
        ("en", 2, "2 days"),
        ("en", 5, "5 days"),
        ("en", 21, "21 days"),
        ("de", 1, "1 Tag"),
        ("de", 2, "2 Tage"),
        ("de", 5, "5 Tage"),
        ("de", 21, "21 Tage"),
        ("es", 1, "1 día"),
        ("es", 2, "2 días"),
        ("es", 5, "5 días"),
        ("es", 21, "21 días"),
        ("es", 1000000, "1000000 de días"),
    ],
)
def test_plural_forms_follow_each_languages_rules(lang: str, count: int, expected: str) -> None:
    assert catalog().text("retention.buttons.days", lang, days=count, count=count) == expected


def test_a_plural_line_in_a_sentence_chooses_by_the_count() -> None:
    cat = catalog()
    assert cat.text("retention.summary", "en", keep_days=1, count=1).endswith("1 day")
    assert cat.text("retention.summary", "de", keep_days=1, count=1).endswith("1 Tag")
    assert cat.text("retention.summary", "es", keep_days=30, count=30).endswith("30 días")
    invite = cat.text("pairing.invite_made", "de", hours=1, count=1)
    assert "1 Stunde lang" in invite
    stop = cat.text("stop.confirm", "en", inactive_days=1, count=1)
    assert stop.endswith("erased by itself 1 day after you stop.")
    assert "21 días después" in cat.text("stop.confirm", "es", inactive_days=21, count=21)


async def test_stop_counts_days_in_the_persons_language(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    async with BotHarness.running(sessions, clock, erase_inactive_after_days=1) as harness:
        await harness.command(ALEX, "/stop", language_code="de")
        assert harness.last_text(ALEX).endswith(
            "bis es 1 Tag nach deinem Aufhören von selbst gelöscht wird."
        )


async def test_keep_buttons_say_days_in_the_persons_language(harness: BotHarness) -> None:
    await harness.command(ALEX, "/start", language_code="es")
    await press_as(harness, ALEX, callbacks.consent_data(True), "es")
    await harness.command(ALEX, "/settings")
    await harness.press(ALEX, callbacks.settings_data("keepmenu"))
    choices = RetentionPolicy.of(harness.state.settings).choices
    labels = harness.last_buttons(ALEX)
    for days in choices:
        assert any(
            label.endswith(f"{days} días") or label.endswith(f"{days} día") for label in labels
        )


# --------------------------------------------------------------------------- the bot's menus
async def test_commands_and_descriptions_are_set_for_every_language(harness: BotHarness) -> None:
    menus = {
        c.params.get("language_code"): c.params["commands"]
        for c in harness.double.calls_to("setMyCommands")
    }
    assert set(menus) == {None, "de", "es"}
    for code, lang in ((None, "en"), ("de", "de"), ("es", "es")):
        commands = menus[code]
        assert isinstance(commands, list)
        assert [c["command"] for c in commands] == list(MENU_COMMANDS)
        assert {c["command"]: c["description"] for c in commands} == {
            name: harness.state.text(f"commands.{name}", lang) for name in MENU_COMMANDS
        }
    assert "language" in MENU_COMMANDS
    described = {
        c.params.get("language_code"): c.params["description"]
        for c in harness.double.calls_to("setMyDescription")
    }
    assert set(described) == {None, "de", "es"}
    assert "Test Practice" in str(described["de"])
    assert str(described["de"]).startswith("Eine stille Begleitung")
    short = {
        c.params.get("language_code") for c in harness.double.calls_to("setMyShortDescription")
    }
    assert short == {None, "de", "es"}


# --------------------------------------------------------------------------- a whole day
DAY = {
    "de": {
        "consented": "Danke. Du bist dabei",
        "moods": [
            "Stabil",
            "Schwer",
            "Brauche Abstand",
            "Offen für Nähe",
            "Erinnerungen pausieren",
        ],
        "checked_in": "Notiert: Schwer. Danke.",
        "pause": "Deine Erinnerungen eine Weile ruhen lassen?",
        "paused": "Pause bis",
        "until": "Do 05. März, 09:00.",
        "caption": "Alles, was ich über dich speichere, als JSON-Datei.",
    },
    "es": {
        "consented": "Gracias. Ya estás dentro",
        "moods": [
            "Estable",
            "Día pesado",
            "Necesito espacio",
            "Con ganas de cercanía",
            "Pausar recordatorios",
        ],
        "checked_in": "Anotado: Día pesado. Gracias.",
        "pause": "¿Dejar descansar tus recordatorios un tiempo?",
        "paused": "En pausa hasta el",
        "until": "jue 05 mar, 09:00.",
        "caption": "Todo lo que guardo sobre ti, en un archivo JSON.",
    },
}


@pytest.mark.parametrize("lang", ["de", "es"])
async def test_a_whole_day_in_german_and_in_spanish(
    harness: BotHarness, clock: FakeClock, lang: str
) -> None:
    words = DAY[lang]
    state = harness.state
    code = {"de": "de-DE", "es": "es-MX"}[lang]
    # The welcome, and yes.
    await harness.command(ROSA, "/start", language_code=code)
    assert harness.last_text(ROSA) == welcome_text(state, lang)
    await press_as(harness, ROSA, callbacks.consent_data(True), code)
    assert any(t.startswith(words["consented"]) for t in harness.all_texts(ROSA))
    await harness.command(ROSA, "/timezone", "UTC", language_code=code)
    await harness.command(ROSA, "/times", "09:00", language_code=code)
    # A reminder: a line of this language's pool, with its buttons in this language.
    delivery = await reminder_at(harness, clock, ROSA, utc(2026, 3, 2, 9))
    sent = harness.double.calls_to("sendMessage", chat_id=ROSA)[-1]
    pool = {item.text for item in state.catalog.items(lang, list(ContentKind)) if item.text}
    assert str(sent.params["text"]) in pool
    assert harness.last_buttons(ROSA) == words["moods"]
    # A check-in.
    await harness.press(ROSA, checkin_data(delivery, Mood.HEAVY))
    assert words["checked_in"] in harness.answers()
    # A pause.
    await harness.command(ROSA, "/pause", language_code=code)
    assert harness.last_text(ROSA) == state.text("pause.choose", lang)
    assert harness.last_text(ROSA).startswith(words["pause"])
    await harness.press(ROSA, callbacks.pause_length_data(PauseLength.THREE_DAYS))
    paused = str(harness.double.calls_to("editMessageText", chat_id=ROSA)[-1].params["text"])
    assert paused.startswith(words["paused"] + " " + words["until"])
    # /mydata.
    await harness.command(ROSA, "/mydata", language_code=code)
    document = harness.double.calls_to("sendDocument", chat_id=ROSA)[-1]
    assert str(document.params["caption"]).startswith(words["caption"])
    # Nothing English slipped in: no sentence of the day is the English one.
    english = {state.text(k, "en") for k in ("onboarding.consented", "pause.choose")}
    assert not english & set(harness.all_texts(ROSA))


# --------------------------------------------------------------------------- the fuzzy rule
@pytest.fixture
def messages(tmp_path: Path) -> Path:
    copy = tmp_path / "messages"
    shutil.copytree(MESSAGES, copy)
    return copy


def _replace_english(messages: Path, old: str, new: str, file: str = "ui.yaml") -> None:
    path = messages / "en" / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_changed_english_line_is_said_in_english_until_retranslated(messages: Path) -> None:
    _replace_english(messages, "mood_heavy: Heavy\n", "mood_heavy: Heavy today\n")
    # Before `messages update`: the German msgid no longer matches the English.
    stale = load_catalog(messages)
    assert stale.text("buttons.mood_heavy", "de") == "Heavy today"
    assert stale.text("buttons.mood_steady", "de") == "Stabil"
    assert translation_status(messages)["de"].fuzzy == ["buttons.mood_heavy"]
    # After it: marked fuzzy, the old translation kept as a suggestion, still not served.
    update(messages)
    po_path = messages / "de" / PO_FILE
    with po_path.open("rb") as file:
        po = read_po(file)
    entry = po.get("Heavy today", context="buttons.mood_heavy")
    assert entry is not None and entry.fuzzy
    assert entry.string == "Schwer"
    assert previous_id(entry) == ["Heavy"]
    # A second update (nothing new in the English) keeps it fuzzy, with its previous English.
    update(messages)
    with po_path.open("rb") as file:
        po = read_po(file)
    entry = po.get("Heavy today", context="buttons.mood_heavy")
    assert entry is not None and entry.fuzzy and entry.string == "Schwer"
    assert previous_id(entry) == ["Heavy"]
    assert po_path.read_text(encoding="utf-8").count('#| msgid "Heavy"') == 1
    assert load_catalog(messages).text("buttons.mood_heavy", "de") == "Heavy today"
    # A translator confirms it: served again.
    entry.string = "Heute schwer"
    entry.flags.discard("fuzzy")
    entry.user_comments = []
    with po_path.open("wb") as file:
        write_po(file, po, width=0)
    assert load_catalog(messages).text("buttons.mood_heavy", "de") == "Heute schwer"
    assert translation_status(messages)["de"].fuzzy == []


def test_a_changed_content_item_is_skipped_in_that_language(messages: Path) -> None:
    _replace_english(
        messages,
        'text: "It\'s okay if you feel scared."',
        'text: "It\'s okay if you feel scared, or unsure."',
        "content.yaml",
    )
    cat = load_catalog(messages)
    german = {item.id for item in cat.items("de", [ContentKind.AFFIRMATION])}
    english = {item.id for item in cat.items("en", [ContentKind.AFFIRMATION])}
    assert "scared-is-okay" in english
    assert "scared-is-okay" not in german
    assert german == english - {"scared-is-okay"}
    update(messages)
    cat = load_catalog(messages)
    assert "scared-is-okay" not in {i.id for i in cat.items("es", [ContentKind.AFFIRMATION])}


def test_the_check_reports_fuzzy_and_missing_per_language(
    messages: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _replace_english(messages, "mood_heavy: Heavy\n", "mood_heavy: Heavy today\n")
    update(messages)
    po_path = messages / "es" / PO_FILE
    with po_path.open("rb") as file:
        po = read_po(file)
    po.delete("Steady", context="buttons.mood_steady")
    with po_path.open("wb") as file:
        write_po(file, po, width=0)
    assert main(["messages", "check", "--dir", str(messages), "--list"]) == 0
    out = capsys.readouterr().out
    assert "de: 316 of 317 lines translated; 1 fuzzy, 0 missing" in out
    assert "es: 315 of 317 lines translated; 1 fuzzy, 1 missing" in out
    assert "buttons.mood_steady: missing" in out
    assert main(["messages", "check", "--dir", str(messages), "--complete"]) == 1
    assert load_catalog(messages).text("buttons.mood_steady", "es") == "Steady"


def _translate(messages: Path, lang: str, context: str, string: str) -> None:
    po_path = messages / lang / PO_FILE
    with po_path.open("rb") as file:
        po = read_po(file)
    (entry,) = [m for m in po if m.context == context]
    entry.string = string
    with po_path.open("wb") as file:
        write_po(file, po, width=0)


def test_the_check_holds_translations_to_placeholders_and_lengths(messages: Path) -> None:
    _translate(messages, "de", "buttons.move_time", "{time} verschieben")
    _translate(messages, "de", "buttons.pause", "Erinnerungen für eine Weile pausieren, bitte")
    _translate(messages, "es", "checkin.recorded_line", "Tu check-in: {animo}")
    problems = [str(p) for p in check_messages(messages, None)]
    assert any(
        "de/LC_MESSAGES/messages.po: buttons.move_time: placeholders {time} differ" in p
        for p in problems
    )
    assert any("buttons.pause: is 44 characters long; a button label" in p for p in problems)
    assert any(
        "es/LC_MESSAGES/messages.po: checkin.recorded_line: placeholders" in p for p in problems
    )


def test_every_translated_button_fits_and_every_line_is_translated() -> None:
    problems = check_messages(MESSAGES, None)
    assert problems == []
    for lang, status in translation_status(MESSAGES).items():
        assert (status.fuzzy, status.missing) == ([], []), lang
        assert status.translated == status.total


def test_extract_writes_contexts_and_article_sources(messages: Path) -> None:
    path = extract(messages)
    with path.open("rb") as file:
        pot = read_po(file)
    item = pot.get("It's okay if you feel scared.", context="scared-is-okay")
    assert item is not None
    assert any("feel scared" in comment for comment in item.auto_comments)
    plural = pot.get(("{days} day", "{days} days"), context="retention.buttons.days")
    assert plural is not None
    assert pot.get("Heavy", context="buttons.mood_heavy") is not None


# --------------------------------------------------------------------------- claimed reminders
async def _claimed_reminder(
    harness: BotHarness, clock: FakeClock
) -> tuple[list[Outgoing], TickStats]:
    await joined(harness, ALEX)
    clock.set(utc(2026, 3, 2, 9))
    stats = TickStats()
    claimed = await harness.dispatcher._claim(stats)
    assert [m.language for m in claimed] == ["en"]
    return claimed, stats


async def _choose_german(harness: BotHarness) -> None:
    await harness.command(ALEX, "/language")
    await harness.press(ALEX, callbacks.language_data("de"))


def _sent_reminder(harness: BotHarness) -> tuple[str, list[str]]:
    (call,) = [
        c
        for c in harness.double.calls_to("sendMessage", chat_id=ALEX)
        if any(d.startswith("ci:") for row in harness.double.buttons(c) for _, d in row)
    ]
    return str(call.params["text"]), [t for row in harness.double.buttons(call) for t, _ in row]


async def test_a_language_chosen_after_the_claim_applies_to_that_reminder(
    harness: BotHarness, clock: FakeClock
) -> None:
    claimed, stats = await _claimed_reminder(harness, clock)
    await _choose_german(harness)
    await harness.dispatcher._send_all(claimed, stats)
    text, buttons = _sent_reminder(harness)
    assert text in {i.text for i in harness.state.catalog.items("de", list(ContentKind))}
    assert buttons[0] == "Stabil"


async def test_a_language_chosen_right_before_the_send_applies_to_it(
    harness: BotHarness, clock: FakeClock
) -> None:
    """After the dispatcher read the chunk: the handler's word that the person changed makes
    it read them again, language and all."""
    claimed, stats = await _claimed_reminder(harness, clock)
    pacer = harness.dispatcher.pacer
    slot = pacer.slot

    async def change_then_slot(chat_id: int) -> None:
        await _choose_german(harness)
        await slot(chat_id)

    pacer.slot = change_then_slot  # type: ignore[method-assign]
    await harness.dispatcher._send_all(claimed, stats)
    text, buttons = _sent_reminder(harness)
    assert text in {i.text for i in harness.state.catalog.items("de", list(ContentKind))}
    assert buttons[0] == "Stabil"


# --------------------------------------------------------------------------- the sandbox
def test_sandbox_panes_can_start_in_a_language() -> None:
    """`reminderbot sandbox --language de --language es-MX`: each pane is someone whose
    Telegram is set to that language, so the bot greets them in it."""
    state = SandboxState(people=default_people(("de", "es-MX")))
    first, second = state.chats.values()
    assert (first.person.label, second.person.label) == ("Partner A (de)", "Partner B (es-MX)")
    sent = state.send_text(first.person.user_id, "/start")
    assert sent["from"]["language_code"] == "de"
    assert catalog().resolve_language(sent["from"]["language_code"]) == "de"
    assert state.send_text(second.person.user_id, "/start")["from"]["language_code"] == "es-MX"
    plain = SandboxState(people=default_people())
    assert [c.person.language_code for c in plain.chats.values()] == ["en", "en"]
