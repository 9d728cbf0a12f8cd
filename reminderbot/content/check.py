"""Validation of ``messages/``: every problem an editor could make, reported all at once.

Structural checks run on every start-up (through ``load_catalog``); the article check runs in
``check_messages``, which the ``messages check`` command and CI use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field, replace
from difflib import get_close_matches
from pathlib import Path
from string import Formatter
from typing import Any

import yaml
from babel.core import Locale, UnknownLocaleError
from babel.messages.pofile import PoFileError, read_po
from yaml.nodes import MappingNode, ScalarNode

from reminderbot.content.limits import (
    ANSWER_LIMIT,
    BUTTON_LIMIT,
    CAPTION_LIMIT,
    MESSAGE_LIMIT,
    telegram_length,
)
from reminderbot.content.types import Audience, ContentItem, ContentKind, Problem
from reminderbot.content.usage import CodeUsage, KeyUse

UI_FILE = "ui.yaml"
CONTENT_FILE = "content.yaml"
SOURCE_LANGUAGE = "en"  # what PO translations translate, unless the default language is YAML
# A translated language: one gettext catalog, where Babel, Django and translators' tools look.
PO_FILE = "LC_MESSAGES/messages.po"
TEMPLATE_FILE = "messages.pot"
# The parameter that chooses a plural form: text(key, lang, count=n).
COUNT = "count"
# CLDR's plural categories: a UI value that is a mapping of these (with "other") is one line in
# its plural forms, not a section.
PLURAL_CATEGORIES = frozenset({"zero", "one", "two", "few", "many", "other"})

# A command's description in the menu: the Bot API says 1-256 today and said 3-256 before; the
# stricter bound suits every client.
COMMAND_MIN, COMMAND_MAX = 3, 256
ITEM_LIMIT = 1000  # ours: content is meant to be short

ITEM_FIELDS = ("id", "kind", "audience", "text", "source")
ID_MAX_LENGTH = 64  # the column that records which item was sent

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_KEY_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]+)*")
_WHITESPACE = re.compile(r"\s+")
# Typographic marks an editor is likely to retype as their plain keyboard twins.
_PLAIN_MARKS = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-", "\u2013": "-"}
)
_KINDS = frozenset(ContentKind)
_AUDIENCES = frozenset(Audience)


@dataclass
class LanguageMessages:
    """What one language folder holds, as far as it could be read."""

    ui: dict[str, str] = field(default_factory=dict)
    ui_keys: set[str] = field(default_factory=set)  # every leaf, even one whose text is invalid
    items: list[ContentItem] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)  # every well-formed id, even on a bad item
    placeholders: dict[str, frozenset[str]] = field(default_factory=dict)
    sources: list[tuple[str, str]] = field(default_factory=list)  # (id or label, source)
    ui_readable: bool = False
    content_readable: bool = False
    # A line with plural forms: form name -> text. In the source language the names are CLDR
    # categories ("one", "other"); in a PO translation, the msgstr index ("0", "1", ...).
    plurals: dict[str, dict[str, str]] = field(default_factory=dict)
    plural_rule: Callable[[int], str] | None = None  # the form name for a count
    translated_from: str | None = None  # set for a PO translation: the source language
    status: TranslationStatus | None = None


@dataclass
class TranslationStatus:
    """How much of the source language a PO translation serves; the rest is served in the
    source language (a UI line) or skipped (a content item)."""

    total: int = 0
    fuzzy: list[str] = field(default_factory=list)  # the source changed since it was translated
    missing: list[str] = field(default_factory=list)  # no translation at all

    @property
    def translated(self) -> int:
        return self.total - len(self.fuzzy) - len(self.missing)


def check_messages(
    messages_dir: Path,
    article_path: Path | None,
    default_language: str = "en",
    code: CodeUsage | None = None,
) -> list[Problem]:
    """Every problem in ``messages_dir``; also checks each item's source against the article,
    and, given the code's usage (:func:`reminderbot.content.usage.scan_code`), that every text
    the code asks for is there with the placeholders the code fills in, and nothing else."""
    messages, problems = read_messages(messages_dir, default_language)
    if article_path is not None:
        problems.extend(_check_sources(messages, messages_dir, article_path))
    if code is not None:
        problems.extend(code_problems(messages_dir, messages, code))
    return problems


def code_problems(
    messages_dir: Path, messages: dict[str, LanguageMessages], code: CodeUsage
) -> list[Problem]:
    """Where the words ``read_messages`` returned and what the code asks for disagree."""
    report = _Report(messages_dir)
    for lang, data in messages.items():
        # A PO translation has the source language's keys by construction.
        if data.ui_readable and data.translated_from is None:
            _check_against_code(messages_dir / lang / UI_FILE, data, code, report)
    return [*code.problems, *report.problems]


def read_messages(
    messages_dir: Path, default_language: str = "en"
) -> tuple[dict[str, LanguageMessages], list[Problem]]:
    """Parse every language folder and run the structural checks (all but the article check)."""
    report = _Report(messages_dir)
    if not messages_dir.is_dir():
        report.add(messages_dir, "", "the messages folder does not exist")
        return {}, report.problems
    if not (messages_dir / default_language).is_dir():
        report.add(
            messages_dir / default_language,
            "",
            f"the default language folder ({default_language}) does not exist",
        )
    # A practice whose default is a translated language still translates from the source.
    default_language = source_language(messages_dir, default_language)
    messages: dict[str, LanguageMessages] = {}
    translations: list[Path] = []
    # The default language first: its problems are the ones to fix before any translation's.
    folders = sorted(messages_dir.iterdir(), key=lambda f: (f.name != default_language, f.name))
    for folder in folders:
        if not folder.is_dir() or folder.name.startswith((".", "_")):
            continue
        if not _LANGUAGE.fullmatch(folder.name):
            report.add(folder, "", "folder name is not a language code such as 'en' or 'pt-br'")
            continue
        if folder.name != default_language and (folder / PO_FILE).is_file():
            translations.append(folder)
            continue
        messages[folder.name] = _read_language(folder, report)
    default = messages.get(default_language)
    if default is not None:
        for lang, data in messages.items():
            if lang != default_language:
                _compare_languages(default_language, default, messages_dir / lang, data, report)
        for folder in translations:
            messages[folder.name] = _read_translation(folder, default_language, default, report)
    return messages, report.problems


def source_language(messages_dir: Path, default_language: str = "en") -> str:
    """The language editors write (YAML), which PO translations translate: the default
    language if it is written in YAML, else English."""
    if (messages_dir / default_language / PO_FILE).is_file():
        return SOURCE_LANGUAGE
    return default_language


def translation_status(
    messages_dir: Path, default_language: str = "en"
) -> dict[str, TranslationStatus]:
    """For each PO translation: how many lines are served, fuzzy and missing."""
    messages, _ = read_messages(messages_dir, default_language)
    return {lang: data.status for lang, data in messages.items() if data.status is not None}


class _Report:
    def __init__(self, messages_dir: Path) -> None:
        self._base = messages_dir.resolve().parent
        self.problems: list[Problem] = []

    def add(self, path: Path, key: str, reason: str) -> None:
        resolved = path.resolve()
        shown = resolved.relative_to(self._base) if resolved.is_relative_to(self._base) else path
        self.problems.append(Problem(shown.as_posix(), key, reason))


def _read_language(folder: Path, report: _Report) -> LanguageMessages:
    data = LanguageMessages()
    for path in sorted(folder.iterdir()):
        if path.suffix in {".yaml", ".yml"} and path.name not in {UI_FILE, CONTENT_FILE}:
            report.add(
                path,
                "",
                f"unexpected file; a language folder holds {UI_FILE} and {CONTENT_FILE} only",
            )
    ui_path, content_path = folder / UI_FILE, folder / CONTENT_FILE
    ui = _read_yaml(ui_path, report)
    if ui is not _UNREADABLE:
        data.ui_readable = _read_ui(ui_path, ui, data, report)
    content = _read_yaml(content_path, report)
    if content is not _UNREADABLE:
        data.content_readable = _read_content(content_path, content, data, report)
    return data


# --- YAML ------------------------------------------------------------------------------------

_UNREADABLE = object()


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that remembers repeated keys, which plain YAML silently lets the last one win."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.repeated_keys: list[tuple[str, int]] = []

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode):
                if key_node.value in seen:
                    self.repeated_keys.append((key_node.value, key_node.start_mark.line + 1))
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path, report: _Report) -> object:
    if not path.is_file():
        report.add(path, "", "the file is missing")
        return _UNREADABLE
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        report.add(path, "", "the file is not UTF-8 text; save it as UTF-8")
        return _UNREADABLE
    loader = _StrictLoader(text)
    try:
        value: object = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        # The context mark is where the broken construct began (an unclosed quote, say),
        # which is where the editor has to look; the problem mark is where parsing gave up.
        start, end = exc.context_mark, exc.problem_mark
        where = start or end
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        if start is not None and end is not None and end.line != start.line:
            what += f" (line {end.line + 1})"
        report.add(path, f"line {where.line + 1}" if where else "", f"YAML syntax error: {what}")
        return _UNREADABLE
    except yaml.YAMLError as exc:
        report.add(path, "", f"YAML syntax error: {exc}")
        return _UNREADABLE
    finally:
        loader.dispose()
    for key, line in loader.repeated_keys:
        report.add(path, f"line {line}", f"the key '{key}' appears twice in the same section")
    return value


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "a yes/no value (wrap the text in quotes)"
    if isinstance(value, int | float):
        return "a number (wrap the text in quotes)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a section"
    return type(value).__name__


# --- ui.yaml ---------------------------------------------------------------------------------


def _read_ui(path: Path, document: object, data: LanguageMessages, report: _Report) -> bool:
    if not isinstance(document, dict) or not document:
        report.add(path, "", "the file must hold sections of texts, like 'onboarding:'")
        return False
    for key, value in _walk_ui(path, document, "", report):
        data.ui_keys.add(key)
        if value is None:
            report.add(path, key, "the text is empty")
        elif isinstance(value, dict):
            _read_plural(path, key, value, data, report)
        elif not isinstance(value, str):
            report.add(path, key, f"must be text, found {_describe(value)}")
        else:
            data.ui[key] = value
            fields = _check_ui_text(path, key, value, report)
            if fields is not None:
                data.placeholders[key] = fields
    return True


def _read_plural(
    path: Path, key: str, forms: dict[Any, Any], data: LanguageMessages, report: _Report
) -> None:
    texts: dict[str, str] = {}
    for name, text in forms.items():
        if not isinstance(text, str) or not text.strip():
            report.add(path, f"{key}.{name}", "each plural form must be text")
        else:
            texts[str(name)] = text
    if len(texts) != len(forms):
        return
    fields: set[str] = set()
    for text in texts.values():
        found = _check_ui_text(path, key, text, report)
        if found is None:
            return
        fields |= found
    data.ui[key] = texts["other"]
    data.plurals[key] = texts
    data.placeholders[key] = frozenset(fields)


def _is_plural(value: object) -> bool:
    return isinstance(value, dict) and "other" in value and set(value) <= PLURAL_CATEGORIES


def _walk_ui(
    path: Path, section: dict[Any, Any], prefix: str, report: _Report
) -> Iterator[tuple[str, object]]:
    for name, value in section.items():
        if not isinstance(name, str) or not _KEY_SEGMENT.fullmatch(name):
            report.add(path, f"{prefix}{name}", "a key may use only letters, digits, '_' and '-'")
            continue
        key = prefix + name
        if isinstance(value, dict) and not _is_plural(value):
            if not value:
                report.add(path, key, "the section is empty")
            yield from _walk_ui(path, value, key + ".", report)
        else:
            yield key, value


# What Telegram shows on the bot's profile: setMyDescription and setMyShortDescription.
_ABOUT_LIMITS = {"about.description": 512, "about.short_description": 120}


def _limit_for(key: str) -> tuple[int, str]:
    if key in _ABOUT_LIMITS:
        return _ABOUT_LIMITS[key], "the bot's description"
    sections = key.split(".")[:-1]
    if sections == ["commands"]:
        return COMMAND_MAX, "a command description"
    if "buttons" in sections:
        return BUTTON_LIMIT, "a button label"
    if "answers" in sections:
        return ANSWER_LIMIT, "a button answer"
    return MESSAGE_LIMIT, "a message"


def _check_ui_text(path: Path, key: str, text: str, report: _Report) -> frozenset[str] | None:
    """Report what is wrong with one UI string; return its placeholder names if they parse."""
    if not text.strip():
        report.add(path, key, "the text is empty")
    limit, what = _limit_for(key)
    length = telegram_length(text)
    if length > limit:
        report.add(path, key, f"is {length} characters long; {what} may have at most {limit}")
    if limit == COMMAND_MAX and length < COMMAND_MIN:
        report.add(path, key, f"a command description needs at least {COMMAND_MIN} characters")
    if limit == BUTTON_LIMIT and "\n" in text.strip():
        report.add(path, key, "a button label must fit on one line")
    fields, errors = placeholders(text)
    for error in errors:
        report.add(path, key, error)
    return None if errors else fields


def placeholders(template: str) -> tuple[frozenset[str], list[str]]:
    """The ``{name}`` fields of a str.format template, and what is wrong with it if anything."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        return frozenset(), [
            f"the braces don't match ({exc}); write {{{{ or }}}} for a literal brace"
        ]
    names: set[str] = set()
    errors: list[str] = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not _FIELD_NAME.fullmatch(name) or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "")
            shown += (f":{spec}" if spec else "") + "}"
            errors.append(f"placeholder {shown} must be a plain name such as {{practice_name}}")
        else:
            names.add(name)
    return frozenset(names), errors


# --- against the code ------------------------------------------------------------------------


def _check_against_code(
    path: Path, data: LanguageMessages, code: CodeUsage, report: _Report
) -> None:
    said: set[tuple[str, str]] = set()

    def add(key: str, reason: str) -> None:
        if (key, reason) not in said:
            said.add((key, reason))
            report.add(path, key, reason)

    for use in code.uses:
        for key in sorted(use.keys):
            if key not in data.ui_keys:
                add(key, f"missing; the code asks for it ({use.where})")
            elif key in data.placeholders:
                plural = key in data.plurals
                for reason in _placeholder_problems(data.placeholders[key], use, plural):
                    add(key, reason)
                if plural and COUNT not in use.params and not use.open_params:
                    add(key, f"has plural forms, but {use.where} gives no {COUNT}= to choose one")
            text = data.ui.get(key)
            if use.caption and text is not None and telegram_length(text) > CAPTION_LIMIT:
                add(
                    key,
                    f"is {telegram_length(text)} characters long; a caption may have at most "
                    f"{CAPTION_LIMIT} ({use.where} sends it as one)",
                )
    used = code.used_keys()
    for key in sorted(data.ui_keys - used):
        add(key, "not used by the code; remove it, or check the spelling of its key")


def _placeholder_problems(fields: frozenset[str], use: KeyUse, plural: bool) -> list[str]:
    if use.open_params:
        return []
    filled = use.params | use.implicit
    reasons = []
    for name in sorted(fields - filled):
        reason = (
            f"the code does not fill in {{{name}}}; at {use.where} it fills in {_names(filled)}"
        )
        close = get_close_matches(name, sorted(filled), n=1)
        if close:
            reason += f"; did you mean {{{close[0]}}}?"
        reasons.append(reason)
    # A plural line's count chooses the form; the text need not show it.
    for name in sorted(use.params - fields - ({COUNT} if plural else set())):
        reasons.append(
            f"the code fills in {{{name}}} at {use.where}, but the text has no {{{name}}}"
        )
    return reasons


# --- content.yaml ----------------------------------------------------------------------------


def _read_content(path: Path, document: object, data: LanguageMessages, report: _Report) -> bool:
    if not isinstance(document, dict) or "items" not in document:
        report.add(path, "", "the file must start with 'items:' followed by the list of items")
        return False
    for name in document:
        if name != "items":
            report.add(path, str(name), "unknown top-level key; only 'items' is allowed")
    entries = document["items"]
    if not isinstance(entries, list) or not entries:
        report.add(path, "items", "must be a list of items, each starting with '- id:'")
        return False
    first_seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        item = _read_item(path, number, entry, data, report)
        if item is None:
            continue
        if item.id in first_seen:
            report.add(
                path, item.id, f"the id is used twice (items {first_seen[item.id]} and {number})"
            )
            continue
        first_seen[item.id] = number
        data.items.append(item)
    return True


def _read_item(
    path: Path, number: int, entry: object, data: LanguageMessages, report: _Report
) -> ContentItem | None:
    label = f"item {number}"
    if not isinstance(entry, dict):
        report.add(path, label, "must be a set of fields: id, kind, audience, text, source")
        return None
    raw_id = entry.get("id")
    if isinstance(raw_id, str) and _ID.fullmatch(raw_id):
        label = raw_id
        if raw_id not in data.item_ids:
            data.item_ids.append(raw_id)
    count = len(report.problems)
    for name in entry:
        if name not in ITEM_FIELDS:
            report.add(
                path, label, f"unknown field '{name}'; the fields are " + ", ".join(ITEM_FIELDS)
            )
    values: dict[str, str] = {}
    for name in ITEM_FIELDS:
        value = entry.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            report.add(path, label, f"'{name}' is missing or empty")
        elif not isinstance(value, str):
            report.add(path, label, f"'{name}' must be text, found {_describe(value)}")
        else:
            values[name] = value
    if "source" in values:
        data.sources.append((label, values["source"]))
    item_id = values.get("id")
    if item_id is not None and not _ID.fullmatch(item_id):
        report.add(
            path,
            label,
            f"the id '{item_id}' may use only lowercase letters, digits and "
            "single hyphens, like 'scared-is-okay'",
        )
    if item_id is not None and len(item_id) > ID_MAX_LENGTH:
        report.add(path, label, f"the id is longer than {ID_MAX_LENGTH} characters")
    kind, audience = values.get("kind"), values.get("audience")
    if kind is not None and kind not in _KINDS:
        report.add(path, label, f"unknown kind '{kind}'; use one of " + ", ".join(ContentKind))
    if audience is not None and audience not in _AUDIENCES:
        report.add(path, label, f"unknown audience '{audience}'; use one of " + ", ".join(Audience))
    text = values.get("text")
    if text is not None and telegram_length(text) > ITEM_LIMIT:
        report.add(
            path,
            label,
            f"the text is {telegram_length(text)} characters long; "
            f"an item may have at most {ITEM_LIMIT}",
        )
    if len(report.problems) != count:
        return None
    return ContentItem(
        id=values["id"],
        kind=ContentKind(values["kind"]),
        audience=Audience(values["audience"]),
        text=values["text"],
        source=values["source"],
    )


# --- PO translations ---------------------------------------------------------------------------


def source_id(source: LanguageMessages, key: str) -> str | tuple[str, str]:
    """The msgid a translation of UI line ``key`` answers: its text, or (one, other)."""
    forms = source.plurals.get(key)
    if forms is None:
        return source.ui[key]
    return forms.get("one", forms["other"]), forms["other"]


def plural_rule(language: str) -> Callable[[int], str]:
    """CLDR's plural category of a count in ``language`` (English's rule for an unknown one)."""
    try:
        locale = Locale.parse(language, sep="-")
    except (UnknownLocaleError, ValueError):
        locale = Locale("en")
    return lambda count: str(locale.plural_form(count))


def _read_translation(
    folder: Path, source_language: str, source: LanguageMessages, report: _Report
) -> LanguageMessages:
    """One PO translation, as far as it is served: a line that is missing, fuzzy, or whose msgid
    is no longer the source's text (the English changed and `messages update` has not run) is
    left out, so the source language is served for it; what is served must hold together."""
    path = folder / PO_FILE
    data = LanguageMessages(translated_from=source_language, ui_keys=set(source.ui_keys))
    status = TranslationStatus(total=len(source.ui) + len(source.items))
    data.status = status
    try:
        with path.open("rb") as file:
            po = read_po(file, abort_invalid=True)
    except (PoFileError, UnicodeDecodeError, ValueError) as exc:
        report.add(path, "", f"the PO file can't be read ({exc})")
        status.missing = [*source.ui, *(item.id for item in source.items)]
        return data
    pick_form = _gettext_rule(po.plural_expr)
    data.plural_rule = lambda count: str(pick_form(count))
    entries = {message.context: message for message in po if message.id and message.context}

    def served(context: str, msgid: str | tuple[str, str]) -> str | tuple[str, ...] | None:
        entry = entries.get(context)
        wanted = isinstance(msgid, tuple)
        string = entry.string if entry is not None else None
        if isinstance(string, list):
            string = tuple(string)
        if entry is None or not _filled(string, po.num_plurals if wanted else 1):
            status.missing.append(context)
            return None
        if entry.fuzzy or entry.id != msgid or isinstance(string, tuple) != wanted:
            status.fuzzy.append(context)
            return None
        return string

    for key in source.ui:
        english = source_id(source, key)
        string = served(key, english)
        if string is None:
            continue
        expected = source.placeholders.get(key, frozenset())
        forms = (string,) if isinstance(string, str) else string
        good = True
        for form in forms:
            found = _check_ui_text(path, key, form, report)
            if found is None:
                good = False
            elif not _same_fields(found, expected, plural=not isinstance(string, str)):
                report.add(
                    path,
                    key,
                    f"placeholders {_names(found)} differ from "
                    f"{source_language}: {_names(expected)}",
                )
                good = False
        if not good:
            continue
        data.ui[key] = forms[-1]
        data.placeholders[key] = expected
        if not isinstance(string, str):
            data.plurals[key] = {str(index): form for index, form in enumerate(forms)}
    for item in source.items:
        text = served(item.id, item.text)
        if not isinstance(text, str):
            continue
        if telegram_length(text) > ITEM_LIMIT:
            report.add(
                path,
                item.id,
                f"the text is {telegram_length(text)} characters long; "
                f"an item may have at most {ITEM_LIMIT}",
            )
            continue
        data.items.append(replace(item, text=text))
        data.item_ids.append(item.id)
    data.ui_readable = data.content_readable = True
    return data


def _same_fields(found: frozenset[str], expected: frozenset[str], *, plural: bool) -> bool:
    if not plural:
        return found == expected
    # A plural form may leave out the count ("einen Tag") but nothing else.
    return expected - {COUNT} <= found <= expected | {COUNT}


def _filled(string: str | tuple[str, ...] | None, forms: int) -> bool:
    if isinstance(string, str):
        return bool(string.strip())
    return string is not None and len(string) >= forms and all(s.strip() for s in string[:forms])


def _gettext_rule(expression: str) -> Callable[[int], int]:
    """The msgstr index for a count, from the catalog's own Plural-Forms (as gettext does)."""
    from gettext import c2py

    return c2py(expression)


# --- across languages ------------------------------------------------------------------------


def _compare_languages(
    default_language: str,
    default: LanguageMessages,
    folder: Path,
    data: LanguageMessages,
    report: _Report,
) -> None:
    ui_path, content_path = folder / UI_FILE, folder / CONTENT_FILE
    if default.ui_readable and data.ui_readable:
        for key in sorted(default.ui_keys - data.ui_keys):
            report.add(ui_path, key, f"missing; the default language ({default_language}) has it")
        for key in sorted(data.ui_keys - default.ui_keys):
            report.add(ui_path, key, f"not in the default language ({default_language}); remove it")
        for key in sorted(default.placeholders.keys() & data.placeholders.keys()):
            expected, found = default.placeholders[key], data.placeholders[key]
            if expected != found:
                report.add(
                    ui_path,
                    key,
                    f"placeholders {_names(found)} differ from {default_language}: "
                    f"{_names(expected)}",
                )
    if default.content_readable and data.content_readable:
        ours, theirs = set(data.item_ids), set(default.item_ids)
        for item_id in default.item_ids:
            if item_id not in ours:
                report.add(
                    content_path,
                    item_id,
                    f"missing; the default language ({default_language}) has this item",
                )
        for item_id in data.item_ids:
            if item_id not in theirs:
                report.add(
                    content_path, item_id, f"not in the default language ({default_language})"
                )
        originals = {item.id: item for item in default.items}
        for item in data.items:
            original = originals.get(item.id)
            if original is not None and (item.kind, item.audience) != (
                original.kind,
                original.audience,
            ):
                report.add(
                    content_path,
                    item.id,
                    f"kind and audience must match {default_language}: "
                    f"{original.kind}, {original.audience}",
                )


def _names(fields: frozenset[str]) -> str:
    return ", ".join("{" + name + "}" for name in sorted(fields)) or "none"


# --- the article -----------------------------------------------------------------------------


def _normalize(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _check_sources(
    messages: dict[str, LanguageMessages], messages_dir: Path, article_path: Path
) -> list[Problem]:
    report = _Report(messages_dir)
    try:
        article = _normalize(article_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        report.add(article_path, "", f"the article can't be read ({exc.__class__.__name__})")
        return report.problems
    plain_article = article.translate(_PLAIN_MARKS)
    for lang, data in messages.items():
        content_path = messages_dir / lang / CONTENT_FILE
        for label, raw_source in data.sources:
            source = _normalize(raw_source)
            if source in article:
                continue
            if source.translate(_PLAIN_MARKS) in plain_article:
                reason = (
                    "the source differs from the article only in its quote marks, apostrophes "
                    "or dashes; copy them exactly from the article"
                )
            else:
                reason = "the source is not a sentence of the article; copy it word for word"
            report.add(content_path, label, reason)
    return report.problems
