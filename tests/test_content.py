"""The content pool, its loader, and the `messages check` validator."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from reminderbot.content import (
    Audience,
    Catalog,
    ContentItem,
    ContentKind,
    MessagesError,
    Problem,
    check_messages,
    load_catalog,
)

REPO = Path(__file__).resolve().parents[1]
MESSAGES = REPO / "messages"
ARTICLE = MESSAGES / "article.txt"
# The source article's SHA-256: the vendored copy must be that article, byte for byte. A hash,
# not a path outside the repository, so the check runs in every checkout and in CI.
ARTICLE_SHA256 = "0aaef6b2cdc6e0efda8c9d78ed0da1adbfc253f4c4a3ac6f3595d6bec1d4fc9a"
RSQ = "\u2019"  # the article's apostrophe; sources must use it, not '

# --- a small valid message set, written into tmp_path and then broken on purpose ----------------

UI: dict[str, Any] = {
    "greeting": {"hello": "Hello from {practice_name}.", "braces": "Use {{braces}} freely."},
    "reminder": {"buttons": {"pause": "Pause"}, "answers": {"paused": "Paused until {day}."}},
}


def _item(item_id: str, kind: str, audience: str, text: str, source: str) -> dict[str, str]:
    return {"id": item_id, "kind": kind, "audience": audience, "text": text, "source": source}


ITEMS: list[dict[str, str]] = [
    _item(
        "scared", "affirmation", "anyone", "Scared is okay.", f"It{RSQ}s okay if you feel scared."
    ),
    _item(
        "impact",
        "affirmation",
        "hurt_partner",
        "Honor it.",
        "Honor the full impact of the betrayal",
    ),
    _item(
        "slow", "practice", "anyone", "Go slowly.", "Slow down and create emotional safety first"
    ),
    _item(
        "validate",
        "affirmation",
        "involved_partner",
        "Their responses are real.",
        f"Understand and validate the betrayed partner{RSQ}s trauma responses",
    ),
    _item("touch", "couple_prompt", "anyone", "Hold hands?", "Develop safe touch rituals before"),
]


def _dump(value: object) -> str:
    if isinstance(value, str):
        return value
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)


def write_language(
    root: Path,
    lang: str,
    ui: dict[str, Any] | str | None = None,
    items: list[dict[str, str]] | str | None = None,
) -> None:
    """Write ``root/messages/<lang>``; a str argument is written as the file's raw text."""
    folder = root / "messages" / lang
    folder.mkdir(parents=True, exist_ok=True)
    content = ITEMS if items is None else items
    (folder / "ui.yaml").write_text(_dump(UI if ui is None else ui), encoding="utf-8")
    content_text = content if isinstance(content, str) else _dump({"items": content})
    (folder / "content.yaml").write_text(content_text, encoding="utf-8")


@pytest.fixture
def messages_dir(tmp_path: Path) -> Path:
    write_language(tmp_path, "en")
    return tmp_path / "messages"


def problems_in(messages_dir: Path, article: Path | None = ARTICLE) -> list[Problem]:
    return check_messages(messages_dir, article)


def assert_problem(problems: list[Problem], file: str, key: str, reason_part: str) -> None:
    matching = [p for p in problems if p.file == file and p.key == key and reason_part in p.reason]
    assert matching, f"no problem {file}: {key}: *{reason_part}* in:\n" + "\n".join(
        map(str, problems)
    )


# --- the real messages -------------------------------------------------------------------------


def test_real_messages_pass_the_check_with_the_real_article() -> None:
    assert check_messages(MESSAGES, ARTICLE) == []
    catalog = load_catalog(MESSAGES)
    assert catalog.default_language == "en"
    assert "en" in catalog.languages


def test_vendored_article_is_the_source_article() -> None:
    assert hashlib.sha256(ARTICLE.read_bytes()).hexdigest() == ARTICLE_SHA256


def test_real_content_pool_covers_every_kind_and_audience() -> None:
    catalog = load_catalog(MESSAGES)
    everything = catalog.items("en", set(ContentKind), Audience.HURT_PARTNER)
    involved = catalog.items("en", set(ContentKind), Audience.INVOLVED_PARTNER)
    pool = {item.id: item for item in (*everything, *involved)}
    assert len(pool) >= 45
    kinds = Counter(item.kind for item in pool.values())
    assert kinds[ContentKind.AFFIRMATION] >= 15
    assert kinds[ContentKind.PRACTICE] >= 12
    assert kinds[ContentKind.COUPLE_PROMPT] >= 8
    assert kinds[ContentKind.CHECKIN_PROMPT] >= 4
    assert kinds[ContentKind.GROUNDING] >= 5
    audiences = Counter(item.audience for item in pool.values())
    assert audiences[Audience.HURT_PARTNER] >= 4
    assert audiences[Audience.INVOLVED_PARTNER] >= 4
    assert audiences[Audience.ANYONE] > len(pool) // 2


def test_real_content_is_short_and_never_pressing() -> None:
    catalog = load_catalog(MESSAGES)
    pool = {
        item.id: item
        for audience in Audience
        for item in catalog.items("en", set(ContentKind), audience)
    }
    pressing = re.compile(r"you missed|getting over|get over|streak|\bshould\b|\bmust\b", re.I)
    for item in pool.values():
        assert len(item.text) < 300, item.id
        sentences = re.findall(r"[.?!](?:\s|$)", item.text)
        assert 1 <= len(sentences) <= 3, item.id
        assert not pressing.search(item.text), item.id
    for item in pool.values():
        if item.kind is ContentKind.COUPLE_PROMPT:
            assert item.text.startswith("If it feels right for both of you"), item.id


# --- each class of problem is caught, with its file and key ----------------------------------


def test_the_valid_fixture_has_no_problems(messages_dir: Path) -> None:
    assert problems_in(messages_dir) == []


def test_duplicate_content_id(tmp_path: Path) -> None:
    write_language(tmp_path, "en", items=[*ITEMS, ITEMS[0]])
    problems = problems_in(tmp_path / "messages")
    assert_problem(problems, "messages/en/content.yaml", "scared", "used twice (items 1 and 6)")


def test_message_longer_than_telegram_allows(tmp_path: Path) -> None:
    ui = {**UI, "long": {"text": "x" * 4097, "fits": "y" * 4096}}
    write_language(tmp_path, "en", ui=ui)
    problems = problems_in(tmp_path / "messages")
    assert_problem(problems, "messages/en/ui.yaml", "long.text", "4097 characters")
    assert [p.key for p in problems] == ["long.text"]


def test_emoji_count_as_telegram_counts_them(tmp_path: Path) -> None:
    ui = {**UI, "buttons": {"hearts": "\U0001f49b" * 21}}  # 21 emoji, 42 UTF-16 units
    write_language(tmp_path, "en", ui=ui)
    assert_problem(
        problems_in(tmp_path / "messages"), "messages/en/ui.yaml", "buttons.hearts", "42"
    )


def test_button_label_over_40_characters_or_two_lines(tmp_path: Path) -> None:
    buttons = {"pause": "p" * 41, "ok": "o" * 40, "two_lines": "Not\nnow"}
    write_language(tmp_path, "en", ui={**UI, "reminder": {"buttons": buttons}})
    problems = problems_in(tmp_path / "messages")
    assert_problem(problems, "messages/en/ui.yaml", "reminder.buttons.pause", "at most 40")
    assert_problem(problems, "messages/en/ui.yaml", "reminder.buttons.two_lines", "one line")
    assert "reminder.buttons.ok" not in {p.key for p in problems}


def test_callback_answer_over_200_characters(tmp_path: Path) -> None:
    write_language(tmp_path, "en", ui={**UI, "answers": {"done": "d" * 201}})
    assert_problem(problems_in(tmp_path / "messages"), "messages/en/ui.yaml", "answers.done", "200")


def test_source_not_in_the_article(tmp_path: Path) -> None:
    invented = _item("invented", "affirmation", "anyone", "Hi.", "Time heals all wounds.")
    straight = _item("straight", "affirmation", "anyone", "Hi.", "It's okay if you feel scared.")
    write_language(tmp_path, "en", items=[*ITEMS, invented, straight])
    problems = problems_in(tmp_path / "messages")
    assert_problem(
        problems, "messages/en/content.yaml", "invented", "not a sentence of the article"
    )
    assert_problem(problems, "messages/en/content.yaml", "straight", "quote marks")
    # The structural load does not need the article.
    assert problems_in(tmp_path / "messages", article=None) == []


def test_source_may_span_a_line_break_in_the_article(tmp_path: Path) -> None:
    quote = f"Healing after betrayal isn{RSQ}t about rushing intimacy\u2014\n   it{RSQ}s about"
    write_language(
        tmp_path, "en", items=[*ITEMS, _item("q", "affirmation", "anyone", "Hi.", quote)]
    )
    assert problems_in(tmp_path / "messages") == []


def test_second_language_missing_and_extra_keys_and_items(tmp_path: Path) -> None:
    write_language(tmp_path, "en")
    de_ui = {
        "greeting": {"hello": "Hallo von {practice_name}.", "extra": "Zusatz"},
        "reminder": {"answers": {"paused": "x" * 201}},  # its own problem hides no others
    }
    de_items = [
        {**ITEMS[1], "kind": "practice"},
        *ITEMS[2:],
        _item("only-de", "affirmation", "anyone", "Nur hier.", "Fear of being vulnerable"),
    ]
    write_language(tmp_path, "de", ui=de_ui, items=de_items)
    problems = problems_in(tmp_path / "messages")
    assert_problem(problems, "messages/de/ui.yaml", "greeting.braces", "missing")
    assert_problem(problems, "messages/de/ui.yaml", "reminder.buttons.pause", "missing")
    assert_problem(problems, "messages/de/ui.yaml", "greeting.extra", "not in the default")
    assert_problem(problems, "messages/de/content.yaml", "scared", "missing")
    assert_problem(problems, "messages/de/content.yaml", "only-de", "not in the default")
    assert_problem(problems, "messages/de/content.yaml", "impact", "kind and audience must match")
    assert_problem(problems, "messages/de/ui.yaml", "reminder.answers.paused", "at most 200")
    assert not [p for p in problems if p.file.startswith("messages/en/")]


def test_placeholders_must_match_across_languages(tmp_path: Path) -> None:
    write_language(tmp_path, "en")
    de_ui = {**UI, "greeting": {"hello": "Hallo von {praxis}.", "braces": "{{Klammern}}"}}
    write_language(tmp_path, "de", ui=de_ui)
    problems = problems_in(tmp_path / "messages")
    assert_problem(problems, "messages/de/ui.yaml", "greeting.hello", "{praxis} differ from en")
    assert len(problems) == 1


def test_unbalanced_braces_and_odd_placeholders(tmp_path: Path) -> None:
    ui = {
        "a": {"open": "Hello {name", "close": "Hello name}", "index": "{0} and {}", "attr": "{x.y}"}
    }
    write_language(tmp_path, "en", ui=ui)
    problems = problems_in(tmp_path / "messages")
    assert_problem(problems, "messages/en/ui.yaml", "a.open", "braces don't match")
    assert_problem(problems, "messages/en/ui.yaml", "a.close", "braces don't match")
    assert_problem(problems, "messages/en/ui.yaml", "a.index", "plain name")
    assert_problem(problems, "messages/en/ui.yaml", "a.attr", "plain name")
    with pytest.raises(MessagesError):
        load_catalog(tmp_path / "messages")


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    broken = 'greeting:\n  hello: "Hello\n  braces: fine\nreminder: [\n'
    write_language(tmp_path, "en", ui=broken)
    problems = problems_in(tmp_path / "messages")
    assert len(problems) == 1
    assert problems[0].file == "messages/en/ui.yaml"
    assert problems[0].key == "line 2"  # where the unclosed quote begins
    assert "YAML syntax error" in problems[0].reason


def test_unknown_kind_and_audience_and_bad_fields(tmp_path: Path) -> None:
    items = [
        *ITEMS,
        _item("odd-kind", "poem", "anyone", "Hi.", "Not from the article"),
        _item("odd-audience", "practice", "everyone", "Hi.", "Fear of being vulnerable"),
        {**_item("typo", "practice", "anyone", "Hi.", "Fear of being vulnerable"), "txet": "x"},
        {"id": "no-text", "kind": "practice", "audience": "anyone", "source": "Fear"},
        _item("Bad_Id", "practice", "anyone", "Hi.", "Fear of being vulnerable"),
        _item("long-text", "practice", "anyone", "x" * 1001, "Fear of being vulnerable"),
    ]
    write_language(tmp_path, "en", items=items)
    problems = problems_in(tmp_path / "messages")
    file = "messages/en/content.yaml"
    assert_problem(problems, file, "odd-kind", "unknown kind 'poem'")
    assert_problem(problems, file, "odd-kind", "not a sentence of the article")
    assert_problem(problems, file, "odd-audience", "unknown audience 'everyone'")
    assert_problem(problems, file, "typo", "unknown field 'txet'")
    assert_problem(problems, file, "no-text", "'text' is missing")
    assert_problem(problems, file, "item 10", "the id 'Bad_Id' may use only")
    assert_problem(problems, file, "long-text", "at most 1000")


def test_wrong_types_and_repeated_yaml_keys(tmp_path: Path) -> None:
    ui = 'greeting:\n  hello: yes\n  braces: ""\n  list: [a, b]\n  braces: again\n'
    write_language(tmp_path, "en", ui=ui, items="items: just text\n")
    problems = problems_in(tmp_path / "messages")
    assert_problem(problems, "messages/en/ui.yaml", "greeting.hello", "yes/no value")
    assert_problem(problems, "messages/en/ui.yaml", "greeting.list", "found a list")
    assert_problem(problems, "messages/en/ui.yaml", "line 5", "'braces' appears twice")
    assert_problem(problems, "messages/en/content.yaml", "items", "must be a list")


def test_empty_text_is_a_problem(tmp_path: Path) -> None:
    write_language(tmp_path, "en", ui={**UI, "empty": {"blank": "  ", "none": None}})
    problems = problems_in(tmp_path / "messages")
    assert_problem(problems, "messages/en/ui.yaml", "empty.blank", "empty")
    assert_problem(problems, "messages/en/ui.yaml", "empty.none", "empty")


def test_missing_default_language_and_missing_files(tmp_path: Path) -> None:
    write_language(tmp_path, "de")
    (tmp_path / "messages" / "fr").mkdir()
    problems = problems_in(tmp_path / "messages")
    assert_problem(problems, "messages/en", "", "default language folder (en) does not exist")
    assert_problem(problems, "messages/fr/ui.yaml", "", "missing")
    assert_problem(problems, "messages/fr/content.yaml", "", "missing")
    with pytest.raises(MessagesError, match="default language folder"):
        load_catalog(tmp_path / "messages")


def test_missing_messages_folder(tmp_path: Path) -> None:
    with pytest.raises(MessagesError) as caught:
        load_catalog(tmp_path / "nowhere")
    assert caught.value.problems == [Problem("nowhere", "", "the messages folder does not exist")]


def test_all_problems_are_collected_and_printed_one_per_line(tmp_path: Path) -> None:
    write_language(
        tmp_path,
        "en",
        ui={**UI, "buttons": {"a": "a" * 41, "b": "b" * 41}},
        items=[*ITEMS, ITEMS[0]],
    )
    with pytest.raises(MessagesError) as caught:
        load_catalog(tmp_path / "messages")
    lines = str(caught.value).splitlines()
    assert lines == [str(problem) for problem in caught.value.problems]
    assert len(lines) == 3
    assert lines[0].startswith("messages/en/ui.yaml: buttons.a: ")
    assert lines[2].startswith("messages/en/content.yaml: scared: ")


def test_problem_prints_as_file_key_reason() -> None:
    assert str(Problem("messages/en/ui.yaml", "onboarding.welcome", "too long")) == (
        "messages/en/ui.yaml: onboarding.welcome: too long"
    )
    assert str(Problem("messages/en/ui.yaml", "", "the file is missing")) == (
        "messages/en/ui.yaml: the file is missing"
    )


# --- the catalog -------------------------------------------------------------------------------


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    write_language(tmp_path, "en")
    de_ui = {
        "greeting": {"hello": "Hallo von {practice_name}.", "braces": "{{Klammern}}"},
        "reminder": {"buttons": {"pause": "Pause"}, "answers": {"paused": "Bis {day}."}},
    }
    de_items = [{**item, "text": "de: " + item["text"]} for item in reversed(ITEMS)]
    write_language(tmp_path, "de", ui=de_ui, items=de_items)
    return load_catalog(tmp_path / "messages")


def test_text_formats_and_falls_back_to_the_default_language(catalog: Catalog) -> None:
    assert catalog.languages == ("de", "en")
    assert catalog.text("greeting.hello", "en", practice_name="Insights") == "Hello from Insights."
    assert catalog.text("greeting.hello", "de", practice_name="Insights") == "Hallo von Insights."
    assert catalog.text("greeting.hello", "xx", practice_name="A") == "Hello from A."
    assert catalog.text("greeting.hello", None, practice_name="A", unused=1) == "Hello from A."
    assert catalog.text("greeting.braces") == "Use {braces} freely."
    assert catalog.text("greeting.braces", "de", practice_name="ignored") == "{Klammern}"


def test_text_errors_name_the_key_and_the_field(catalog: Catalog) -> None:
    with pytest.raises(KeyError, match=r"no\.such\.key"):
        catalog.text("no.such.key", "en")
    with pytest.raises(KeyError, match=r"reminder\.answers\.paused.*\{day\}"):
        catalog.text("reminder.answers.paused", "en")


def test_has_and_ui_keys(catalog: Catalog) -> None:
    assert catalog.has("reminder.buttons.pause")
    assert not catalog.has("reminder.buttons")
    assert catalog.ui_keys() == {
        "greeting.hello",
        "greeting.braces",
        "reminder.buttons.pause",
        "reminder.answers.paused",
    }


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("en-US", "en"),
        ("de-AT", "de"),
        ("de_CH", "de"),
        ("fr", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_resolve_language(catalog: Catalog, code: str | None, expected: str) -> None:
    assert catalog.resolve_language(code) == expected


def test_items_filter_by_kind_and_audience_in_file_order(catalog: Catalog) -> None:
    def ids(kinds: set[ContentKind], audience: Audience = Audience.ANYONE) -> list[str]:
        return [item.id for item in catalog.items("en", kinds, audience)]

    affirmations = {ContentKind.AFFIRMATION}
    assert ids(affirmations) == ["scared"]
    assert ids(affirmations, Audience.HURT_PARTNER) == ["scared", "impact"]
    assert ids(affirmations, Audience.INVOLVED_PARTNER) == ["scared", "validate"]
    assert ids(set(ContentKind)) == ["scared", "slow", "touch"]
    assert ids({ContentKind.PRACTICE, ContentKind.COUPLE_PROMPT}) == ["slow", "touch"]
    assert ids(set()) == []
    # The same call returns the same precomputed sequence.
    assert catalog.items("en", affirmations) is catalog.items("en", [ContentKind.AFFIRMATION])


def test_translations_follow_the_default_order_and_fall_back(catalog: Catalog) -> None:
    german = catalog.items("de", set(ContentKind), Audience.HURT_PARTNER)
    assert [item.id for item in german] == ["scared", "impact", "slow", "touch"]
    assert german[0].text == "de: Scared is okay."
    assert catalog.items("xx", {ContentKind.PRACTICE})[0].text == "Go slowly."


def test_item_by_id(catalog: Catalog) -> None:
    assert catalog.item("de", "slow") == ContentItem(
        "slow",
        ContentKind.PRACTICE,
        Audience.ANYONE,
        "de: Go slowly.",
        "Slow down and create emotional safety first",
    )
    assert catalog.item("xx", "slow") is not None
    assert catalog.item("en", "gone") is None


def test_catalog_can_be_built_from_plain_mappings() -> None:
    item = ContentItem("a", ContentKind.GROUNDING, Audience.ANYONE, "Breathe.", "source")
    catalog = Catalog("en", {"en": {"k": "v {x}"}}, {"en": [item]})
    assert catalog.text("k", "en", x=1) == "v 1"
    assert list(catalog.items("en", {ContentKind.GROUNDING})) == [item]
    with pytest.raises(ValueError, match="default language"):
        Catalog("de", {"en": {}}, {})


def test_the_loader_types_and_validator_do_not_import_each_other() -> None:
    """content/ modules import in one direction only (issue 11): types <- usage <- check <-
    catalog. Imports inside functions count too: they hide a cycle, they don't remove it."""
    import ast

    import reminderbot.content as content

    folder = Path(content.__file__).parent
    imports: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "reminderbot.content."
            ):
                names.add(str(node.module).rsplit(".", 1)[1])
        imports[path.stem] = names

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            step == goal or (step not in seen and reaches(step, goal, seen | {step}))
            for step in imports.get(start, set())
        )

    cycles = sorted(name for name in imports if name != "__init__" and reaches(name, name))
    assert cycles == []
