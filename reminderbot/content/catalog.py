"""The words the bot says, loaded from ``messages/<lang>/`` and looked up by key or content kind.

``ui.yaml`` holds interface strings (str.format templates keyed by dotted path); ``content.yaml``
holds the pool of affirmations, practices and prompts. Both are validated before a Catalog exists,
so lookups on the hot path never need to cope with a malformed file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from string import Formatter

from reminderbot.content.check import (
    COUNT,
    code_problems,
    plural_rule,
    read_messages,
    source_language,
)
from reminderbot.content.types import Audience, ContentItem, ContentKind, MessagesError, Problem
from reminderbot.content.usage import CodeUsage

__all__ = [
    "Audience",
    "Catalog",
    "ContentItem",
    "ContentKind",
    "MessagesError",
    "Problem",
    "load_catalog",
]


# Every (audience, kind subset) pool is built up front: items() runs for every reminder sent.
_KIND_SUBSETS: tuple[frozenset[ContentKind], ...] = tuple(
    frozenset(subset)
    for size in range(len(ContentKind) + 1)
    for subset in combinations(ContentKind, size)
)

# Which item audiences each requested audience may receive.
_AUDIENCE_REACH: dict[Audience, frozenset[Audience]] = {
    Audience.ANYONE: frozenset({Audience.ANYONE}),
    Audience.HURT_PARTNER: frozenset({Audience.ANYONE, Audience.HURT_PARTNER}),
    Audience.INVOLVED_PARTNER: frozenset({Audience.ANYONE, Audience.INVOLVED_PARTNER}),
}


@dataclass(frozen=True, slots=True)
class _Template:
    text: str
    needs_format: bool  # False: ``text`` is already final (``{{``/``}}`` unescaped)


def _template(text: str) -> _Template:
    if any(field is not None for _, field, _, _ in Formatter().parse(text)):
        return _Template(text, needs_format=True)
    return _Template(text.format_map({}), needs_format=False)


class Catalog:
    """Validated messages for every language, with a default language to fall back on.

    A language may lack lines (a translation in progress, or one whose English changed since):
    such a UI line is said in the default language, and such a content item is not in that
    language's pools, so its readers are never sent it.

    Usually built by :func:`load_catalog`; tests may construct one directly from plain mappings.
    """

    def __init__(
        self,
        default_language: str,
        ui: Mapping[str, Mapping[str, str]],
        items: Mapping[str, Sequence[ContentItem]],
        plurals: Mapping[str, Mapping[str, Mapping[str, str]]] | None = None,
        plural_rules: Mapping[str, Callable[[int], str]] | None = None,
        source_language: str | None = None,
    ) -> None:
        if default_language not in ui:
            raise ValueError(f"default language {default_language!r} has no UI strings")
        self.default_language = default_language
        # Where a line missing in a language is taken from: the language the editors write.
        self.source_language = source_language or default_language
        if self.source_language not in ui:
            raise ValueError(f"source language {self.source_language!r} has no UI strings")
        self.languages: tuple[str, ...] = tuple(sorted(ui))
        self._ui = {
            lang: {key: _template(text) for key, text in table.items()}
            for lang, table in ui.items()
        }
        self._ui_keys = frozenset(ui[self.source_language])
        plurals = plurals or {}
        # A line with plural forms in any language: text() chooses a form by count.
        self._plurals = {
            lang: {
                key: {form: _template(text) for form, text in forms.items()}
                for key, forms in plurals.get(lang, {}).items()
            }
            for lang in self.languages
        }
        self._plural_keys = frozenset(key for table in self._plurals.values() for key in table)
        rules = plural_rules or {}
        self._rules = {lang: rules.get(lang) or plural_rule(lang) for lang in self.languages}
        # Translations follow the default language's order so a person's place in their rotation
        # points at the same line whichever language they read.
        order = {item.id: index for index, item in enumerate(items.get(self.source_language, ()))}
        self._items: dict[str, dict[str, ContentItem]] = {}
        self._pools: dict[
            str, dict[tuple[Audience, frozenset[ContentKind]], tuple[ContentItem, ...]]
        ]
        self._pools = {}
        for lang in self.languages:
            ordered = sorted(items.get(lang, ()), key=lambda item: order.get(item.id, len(order)))
            self._items[lang] = {item.id: item for item in ordered}
            self._pools[lang] = {
                (audience, kinds): tuple(
                    item for item in ordered if item.kind in kinds and item.audience in reach
                )
                for audience, reach in _AUDIENCE_REACH.items()
                for kinds in _KIND_SUBSETS
            }

    def _language(self, lang: str | None) -> str:
        return lang if lang is not None and lang in self._ui else self.default_language

    def text(self, key: str, lang: str | None = None, /, **params: object) -> str:
        """The UI string ``key`` in ``lang`` (default language if missing), formatted with params.

        A line with plural forms takes ``count=`` (a whole number) and says the form that
        ``lang``'s plural rule (CLDR's, or the PO catalog's) chooses for it (without one: the
        general form).
        Extra params are ignored, so callers can always pass shared ones such as practice_name.
        """
        lang = self._language(lang)
        template = self._ui[lang].get(key)
        if template is None:
            lang = self.source_language
            template = self._ui[lang].get(key)
            if template is None:
                raise KeyError(f"unknown message key {key!r}")
        if key in self._plural_keys:
            template = self._plural_form(key, lang, params.get(COUNT)) or template
        if not template.needs_format:
            return template.text
        try:
            return template.text.format_map(params)
        except KeyError as exc:
            raise KeyError(f"message {key!r} needs a value for {{{exc.args[0]}}}") from exc

    def _plural_form(self, key: str, lang: str, count: object) -> _Template | None:
        forms = self._plurals[lang].get(key)
        if forms is None or count is None:
            # Without a count, the general ("other") form; the words check reports a call in
            # the code that gives none.
            return None
        if not isinstance(count, int) or isinstance(count, bool):
            raise KeyError(f"message {key!r} has plural forms; give count= a whole number")
        return forms.get(self._rules[lang](count))

    def has(self, key: str) -> bool:
        return key in self._ui_keys

    def resolve_language(self, code: str | None) -> str:
        """Map a Telegram ``language_code`` ("en-US", "pt_br", "DE") onto a language we have."""
        if not code:
            return self.default_language
        wanted = code.strip().lower().replace("_", "-")
        if wanted in self._ui:
            return wanted
        primary = wanted.split("-", 1)[0]
        return primary if primary in self._ui else self.default_language

    def items(
        self,
        lang: str,
        kinds: Collection[ContentKind],
        audience: Audience = Audience.ANYONE,
    ) -> Sequence[ContentItem]:
        """Items of ``kinds`` that suit ``audience``, in file order (stable across calls).

        ANYONE gets only items for anyone; a partner role also gets the items written for it.
        """
        return self._pools[self._language(lang)][(Audience(audience), frozenset(kinds))]

    def item(self, lang: str, item_id: str) -> ContentItem | None:
        found = self._items[self._language(lang)].get(item_id)
        if found is None:
            return self._items[self.source_language].get(item_id)
        return found

    def translated_item(self, lang: str, item_id: str) -> ContentItem | None:
        """The item as served in ``lang`` itself: None where it is missing or fuzzy there."""
        return self._items.get(lang, {}).get(item_id)

    def ui_keys(self) -> frozenset[str]:
        return self._ui_keys


def load_catalog(messages_dir: Path, default_language: str = "en") -> Catalog:
    """Read and validate ``messages_dir``; raise MessagesError listing every problem found."""
    return checked_catalog(messages_dir, default_language)[0]


def checked_catalog(
    messages_dir: Path, default_language: str = "en", code: CodeUsage | None = None
) -> tuple[Catalog, list[Problem]]:
    """As :func:`load_catalog`, and, given the code's usage, where the words and the code
    disagree (the files are read once: start-up does both)."""
    messages, problems = read_messages(messages_dir, default_language)
    if problems:
        raise MessagesError(problems)
    catalog = Catalog(
        default_language,
        {lang: data.ui for lang, data in messages.items()},
        {lang: data.items for lang, data in messages.items()},
        {lang: data.plurals for lang, data in messages.items()},
        {lang: data.plural_rule for lang, data in messages.items() if data.plural_rule},
        source_language(messages_dir, default_language),
    )
    return catalog, [] if code is None else code_problems(messages_dir, messages, code)
