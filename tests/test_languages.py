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
from reminderbot.content import ContentKind, MessagesError, load_catalog
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
from reminderbot.telegram.context import AppState
from reminderbot.telegram.handlers.help import help_text
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


# Today every line is translated; after an English change a line is fuzzy until a translator
# gets to it, and English is said there. The tests expect what each language serves.
STATUS = translation_status(MESSAGES)


def said(state: AppState, key: str, lang: str, **params: object) -> str:
    """What ``lang`` says for ``key``; where its translation is served, that it isn't English."""
    text = state.text(key, lang, **params)
    if key not in STATUS[lang].fuzzy and key not in STATUS[lang].missing:
        assert text != state.text(key, "en", **params), f"{key} is English in {lang}"
    return text


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
    assert (german_default.default_language, german_default.source_language) == ("de", "en")
    key = "buttons.consent_no"
    assert german_default.text(key, None) == german_default.text(key, "de")


async def test_start_in_austrian_german_welcomes_in_german_and_stores_it(
    harness: BotHarness,
) -> None:
    await harness.command(ALEX, "/start", language_code="de-AT")
    state = harness.state
    assert harness.last_text(ALEX) == welcome_text(state, "de")
    assert harness.last_buttons(ALEX) == [
        said(state, "buttons.consent_yes", "de"),
        said(state, "buttons.consent_no", "de"),
    ]
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
    chosen = harness.text("buttons.chosen", label="English")
    assert harness.last_buttons(ALEX) == ["Deutsch", chosen, "Español"]
    await harness.press(ALEX, callbacks.language_data("es"))
    person = await harness.person(ALEX)
    assert person is not None and person.language == "es"
    assert harness.answers()[-1] == "A partir de ahora te escribiré en español."
    # /help reads no row: it still knows the choice.
    await harness.command(ALEX, "/help")
    assert harness.last_text(ALEX) == help_text(harness.state, "es")
    assert harness.last_text(ALEX) != help_text(harness.state, "en")


async def test_settings_has_a_language_section(harness: BotHarness) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/settings")
    assert harness.text("language.buttons.settings") in harness.last_buttons(ALEX)
    await harness.press(ALEX, callbacks.settings_data("langmenu"))
    await harness.press(ALEX, callbacks.language_data("de"))
    assert harness.answers()[-1] == "Ab jetzt schreibe ich dir auf Deutsch."
    redrawn = harness.double.calls_to("editMessageText", chat_id=ALEX)[-1]
    assert said(harness.state, "buttons.settings_back", "de") not in str(redrawn.params)
    assert said(harness.state, "buttons.settings_timezone", "de") in str(redrawn.params)
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
        # Someone whose reminders are on (/stop with nothing to stop says so without asking).
        await harness.command(ALEX, "/start", language_code="de")
        await harness.press(ALEX, callbacks.consent_data(True))
        await harness.command(ALEX, "/stop", language_code="de")
        text = said(harness.state, "stop.confirm", "de", inactive_days=1, count=1)
        assert harness.last_text(ALEX) == text
        assert " 1 Tag " in text or " 1 day " in text


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
@pytest.mark.parametrize("lang", ["de", "es"])
async def test_a_whole_day_in_german_and_in_spanish(
    harness: BotHarness, clock: FakeClock, lang: str
) -> None:
    state = harness.state
    code = {"de": "de-DE", "es": "es-MX"}[lang]
    # The welcome, and yes.
    await harness.command(ROSA, "/start", language_code=code)
    assert harness.last_text(ROSA) == welcome_text(state, lang)
    await press_as(harness, ROSA, callbacks.consent_data(True), code)
    assert said(state, "onboarding.consented", lang) in harness.all_texts(ROSA)
    await harness.command(ROSA, "/timezone", "UTC", language_code=code)
    await harness.command(ROSA, "/times", "09:00", language_code=code)
    # A reminder: a line of this language's own pool, with its buttons in this language.
    delivery = await reminder_at(harness, clock, ROSA, utc(2026, 3, 2, 9))
    sent = harness.double.calls_to("sendMessage", chat_id=ROSA)[-1]
    pool = {item.text for item in state.catalog.items(lang, list(ContentKind))}
    assert str(sent.params["text"]) in pool
    moods = [said(state, f"buttons.mood_{m}", lang) for m in ("steady", "heavy")]
    assert harness.last_buttons(ROSA)[:2] == moods
    assert harness.last_buttons(ROSA)[-1] == said(state, "buttons.pause", lang)
    # A check-in.
    await harness.press(ROSA, checkin_data(delivery, Mood.HEAVY))
    assert said(state, "answers.checked_in", lang, mood=moods[1]) in harness.answers()
    # A pause, until Thursday in this language's words.
    await harness.command(ROSA, "/pause", language_code=code)
    assert harness.last_text(ROSA) == said(state, "pause.choose", lang)
    await harness.press(ROSA, callbacks.pause_length_data(PauseLength.THREE_DAYS))
    paused = str(harness.double.calls_to("editMessageText", chat_id=ROSA)[-1].params["text"])
    until = {"de": "Do 05. März, 09:00", "es": "jue 05 mar, 09:00"}[lang]
    assert paused == said(state, "pause.done_until", lang, until=until)
    # /mydata.
    await harness.command(ROSA, "/mydata", language_code=code)
    # The file to read, then the same as JSON.
    document, json_file = harness.double.calls_to("sendDocument", chat_id=ROSA)[-2:]
    first_line = said(state, "mydata.caption", lang, kept="").splitlines()[0]
    assert str(document.params["caption"]).startswith(first_line)
    assert json_file.params["caption"] == said(state, "mydata.caption_json", lang)


# --------------------------------------------------------------------------- the fuzzy rule
# A small messages folder of its own, so these tests don't move when the shipped words do.
MINI_UI = """\
buttons:
  mood_heavy: Heavy
  mood_steady: Steady
  move_time: "Move {time} to {to}"
  pause: Pause reminders
checkin:
  recorded_line: "You checked in: {mood}"
retention:
  buttons:
    days:
      one: "{days} day"
      other: "{days} days"
"""
MINI_CONTENT = """\
items:
  - id: scared-is-okay
    kind: affirmation
    audience: anyone
    text: "It's okay if you feel scared."
    source: "It’s okay if you feel scared."
  - id: healing-not-linear
    kind: affirmation
    audience: anyone
    text: Healing is not linear, but it is possible.
    source: Healing is not linear, but it is possible.
"""
MINI_DE = {
    "buttons.mood_heavy": "Schwer",
    "buttons.mood_steady": "Stabil",
    "buttons.move_time": "{time} auf {to} verschieben",
    "buttons.pause": "Erinnerungen pausieren",
    "checkin.recorded_line": "Dein Check-in: {mood}",
    "retention.buttons.days": ("{days} Tag", "{days} Tage"),
    "scared-is-okay": "Es ist in Ordnung, wenn du Angst hast.",
    "healing-not-linear": "Heilung verläuft nicht geradlinig, aber sie ist möglich.",
}
MINI_ES = {
    "buttons.mood_heavy": "Día pesado",
    "buttons.mood_steady": "Estable",
    "buttons.move_time": "Mover las {time} a las {to}",
    "buttons.pause": "Pausar recordatorios",
    "checkin.recorded_line": "Tu check-in: {mood}",
    "retention.buttons.days": ("{days} día", "{days} de días", "{days} días"),
    "scared-is-okay": "Está bien si sientes miedo.",
    "healing-not-linear": "Sanar no es un camino recto, pero es posible.",
}


def _translate(messages: Path, lang: str, context: str, string: str | tuple[str, ...]) -> None:
    """A translator writes ``string`` for ``context`` and confirms it (not fuzzy)."""
    po_path = messages / lang / PO_FILE
    with po_path.open("rb") as file:
        po = read_po(file)
    (entry,) = [m for m in po if m.context == context]
    entry.string = string
    entry.flags.discard("fuzzy")
    entry.user_comments = []
    with po_path.open("wb") as file:
        write_po(file, po, width=0)


@pytest.fixture
def messages(tmp_path: Path) -> Path:
    folder = tmp_path / "messages"
    (folder / "en").mkdir(parents=True)
    (folder / "en" / "ui.yaml").write_text(MINI_UI, encoding="utf-8")
    (folder / "en" / "content.yaml").write_text(MINI_CONTENT, encoding="utf-8")
    update(folder, add=("de", "es"))
    for lang, table in (("de", MINI_DE), ("es", MINI_ES)):
        for context, string in table.items():
            _translate(folder, lang, context, string)
    return folder


def _replace_english(messages: Path, old: str, new: str, file: str = "ui.yaml") -> None:
    path = messages / "en" / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_new_language_starts_empty_and_says_english(tmp_path: Path, messages: Path) -> None:
    (result,) = [r for r in update(messages, add=("pt",)) if r.language == "pt"]
    assert result.created and result.missing == result.total == 8
    cat = load_catalog(messages)
    assert cat.text("buttons.mood_heavy", "pt") == "Heavy"
    assert cat.items("pt", [ContentKind.AFFIRMATION]) == ()
    assert cat.resolve_language("pt-BR") == "pt"


def test_a_changed_english_line_is_said_in_english_until_retranslated(messages: Path) -> None:
    assert load_catalog(messages).text("buttons.mood_heavy", "de") == "Schwer"
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
    assert translation_status(messages)["de"].fuzzy == ["buttons.mood_heavy"]
    # A translator confirms it: served again.
    _translate(messages, "de", "buttons.mood_heavy", "Heute schwer")
    assert load_catalog(messages).text("buttons.mood_heavy", "de") == "Heute schwer"
    assert translation_status(messages)["de"].fuzzy == []


def test_a_changed_content_item_is_skipped_in_that_language(messages: Path) -> None:
    _replace_english(
        messages,
        'text: "It\'s okay if you feel scared."',
        'text: "It\'s okay if you feel scared, or unsure."',
        "content.yaml",
    )
    for step in ("before update", "after update"):
        cat = load_catalog(messages)
        german = [item.id for item in cat.items("de", [ContentKind.AFFIRMATION])]
        english = [item.id for item in cat.items("en", [ContentKind.AFFIRMATION])]
        assert english == ["scared-is-okay", "healing-not-linear"], step
        assert german == ["healing-not-linear"], step
        assert cat.translated_item("es", "scared-is-okay") is None, step
        update(messages)


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
    status = translation_status(messages)
    assert (status["de"].translated, status["de"].fuzzy, status["de"].missing) == (
        7,
        ["buttons.mood_heavy"],
        [],
    )
    assert (status["es"].translated, status["es"].missing) == (6, ["buttons.mood_steady"])
    assert load_catalog(messages).text("buttons.mood_steady", "es") == "Steady"
    # The command prints the counts (the mini folder is not the words the code asks for, so it
    # also reports those; the counts come either way).
    main(["messages", "check", "--dir", str(messages), "--list"])
    out = capsys.readouterr().out
    assert "de: 7 of 8 lines translated; 1 fuzzy, 0 missing" in out
    assert "es: 6 of 8 lines translated; 1 fuzzy, 1 missing" in out
    assert "buttons.mood_steady: missing" in out


def test_the_check_command_fails_on_unfinished_translations_only_when_asked(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "messages"
    shutil.copytree(MESSAGES, copy)
    po_path = copy / "es" / PO_FILE
    with po_path.open("rb") as file:
        po = read_po(file)
    (entry,) = [m for m in po if m.context == "language.name"]
    po.delete(entry.id, context="language.name")
    with po_path.open("wb") as file:
        write_po(file, po, width=0)
    assert main(["messages", "check", "--dir", str(copy)]) == 0
    assert main(["messages", "check", "--dir", str(copy), "--complete"]) == 1


def test_the_check_holds_translations_to_placeholders_and_lengths(messages: Path) -> None:
    _translate(messages, "de", "buttons.move_time", "{time} verschieben")
    _translate(messages, "de", "buttons.pause", "Erinnerungen für eine Weile pausieren, bitte")
    _translate(messages, "es", "checkin.recorded_line", "Tu check-in: {animo}")
    _translate(messages, "es", "retention.buttons.days", ("{days} día", "", "{days} días"))
    problems = [str(p) for p in check_messages(messages, None)]
    assert any(
        "de/LC_MESSAGES/messages.po: buttons.move_time: placeholders {time} differ" in p
        for p in problems
    )
    assert any("buttons.pause: is 44 characters long; a button label" in p for p in problems)
    assert any(
        "es/LC_MESSAGES/messages.po: checkin.recorded_line: placeholders" in p for p in problems
    )
    # A plural with a form left empty is missing, not served half-done.
    assert "retention.buttons.days" in translation_status(messages)["es"].missing
    with pytest.raises(MessagesError):
        load_catalog(messages)


def test_the_shipped_translations_hold_together() -> None:
    """What is served fits Telegram and the placeholders. Fuzzy or missing lines (after an
    English change, until a translator gets to them) are allowed: English is said there."""
    assert check_messages(MESSAGES, None) == []
    status = translation_status(MESSAGES)
    assert set(status) == {"de", "es"}
    for lang, counts in status.items():
        assert counts.translated + len(counts.fuzzy) + len(counts.missing) == counts.total, lang


def test_extract_writes_contexts_and_article_sources(messages: Path) -> None:
    path = extract(messages)
    with path.open("rb") as file:
        pot = read_po(file)
    item = pot.get("It's okay if you feel scared.", context="scared-is-okay")
    assert item is not None
    assert "It’s okay if you feel scared." in item.auto_comments
    plural = pot.get(("{days} day", "{days} days"), context="retention.buttons.days")
    assert plural is not None
    button = pot.get("Heavy", context="buttons.mood_heavy")
    assert button is not None
    assert "a button label: at most 40 characters" in button.auto_comments


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
    assert buttons[0] == said(harness.state, "buttons.mood_steady", "de")


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
    assert buttons[0] == said(harness.state, "buttons.mood_steady", "de")


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
