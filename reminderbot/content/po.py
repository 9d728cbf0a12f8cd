"""gettext PO catalogs for translations: the template from the source language, and the merge
that keeps every translation in step with it.

The source language (English) stays YAML that editors edit. ``extract`` writes
``messages/messages.pot`` from it: one entry per UI line and content item, ``msgctxt`` its key
or id, ``msgid`` the text (``msgid_plural`` for a line with plural forms), and for an item its
article source sentence as an extracted comment. ``update`` merges the template into each
``messages/<lang>/LC_MESSAGES/messages.po`` by context: a line whose English changed keeps its
old translation, marked fuzzy with the previous English (``#| msgid``), and a fuzzy line is
never served (see ``check._read_translation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog as PoCatalog
from babel.messages.catalog import Message
from babel.messages.pofile import read_po, unescape, write_po

from reminderbot.content.check import (
    PO_FILE,
    TEMPLATE_FILE,
    LanguageMessages,
    _limit_for,
    read_messages,
    source_id,
)
from reminderbot.content.types import MessagesError

PROJECT = "reminderbot"
_HEADER = (
    "# {what} of reminderbot's words. Generated from messages/en by `reminderbot messages {how}`;\n"
    "# edit the English in messages/en, the translations here (see README, Editing the words).\n"
    "#"
)
_WIDTH = 0  # never wrap: one line per msgid keeps diffs and reviews readable


@dataclass(frozen=True)
class Updated:
    language: str
    path: Path
    total: int
    fuzzy: int
    missing: int
    created: bool


def _source(messages_dir: Path, source_language: str) -> LanguageMessages:
    messages, problems = read_messages(messages_dir, source_language)
    problems = [p for p in problems if p.file.split("/")[-1] != "messages.po"]
    if problems:
        raise MessagesError(problems)
    return messages[source_language]


def template(source: LanguageMessages) -> PoCatalog:
    """The PO template of every line of ``source``, in file order."""
    pot = PoCatalog(
        project=PROJECT,
        version="",
        fuzzy=False,
        header_comment=_HEADER.format(what="The template", how="extract"),
    )
    for key in source.ui:
        limit, what = _limit_for(key)
        notes = [f"{what}: at most {limit} characters"] if limit < 1000 else []
        if key in source.plurals:
            notes.append("plural forms: the number in the line chooses one")
        pot.add(source_id(source, key), context=key, auto_comments=notes)
    for item in source.items:
        pot.add(
            item.text,
            context=item.id,
            auto_comments=[
                f"{item.kind.value} for {item.audience.value.replace('_', ' ')}; from the article:",
                " ".join(item.source.split()),
            ],
        )
    return pot


def extract(messages_dir: Path, source_language: str = "en") -> Path:
    """Write ``messages/messages.pot`` from the source language; return its path."""
    path = messages_dir / TEMPLATE_FILE
    _write(path, template(_source(messages_dir, source_language)))
    return path


def update(
    messages_dir: Path, source_language: str = "en", add: tuple[str, ...] = ()
) -> list[Updated]:
    """Merge the template into every translation (and start one for each language in ``add``)."""
    pot = template(_source(messages_dir, source_language))
    _write(messages_dir / TEMPLATE_FILE, pot)
    languages = sorted(
        {f.name for f in messages_dir.iterdir() if (f / PO_FILE).is_file()} | set(add)
    )
    results = []
    for lang in languages:
        path = messages_dir / lang / PO_FILE
        created = not path.is_file()
        if created:
            po = PoCatalog(
                locale=lang.replace("-", "_"),
                project=PROJECT,
                version="",
                header_comment=_HEADER.format(what=f"The {lang} translation", how="update"),
            )
        else:
            with path.open("rb") as file:
                po = read_po(file, abort_invalid=True)
        merged = merge(po, pot)
        _write(path, merged)
        entries = [m for m in merged if m.id]
        results.append(
            Updated(
                language=lang,
                path=path,
                total=len(entries),
                fuzzy=sum(1 for m in entries if m.fuzzy),
                missing=sum(1 for m in entries if not _has_string(m)),
                created=created,
            )
        )
    return results


def merge(po: PoCatalog, pot: PoCatalog) -> PoCatalog:
    """``po`` brought in line with ``pot`` by context: unchanged lines keep their translation,
    a changed English line keeps its old translation as a fuzzy suggestion, lines gone from the
    English are dropped."""
    old = {m.context: m for m in po if m.id and m.context}
    merged = PoCatalog(
        locale=po.locale,
        project=PROJECT,
        version="",
        header_comment=po.header_comment,
        last_translator=po.last_translator,
        language_team=po.language_team,
        revision_date=po.revision_date,
        creation_date=pot.creation_date,
        fuzzy=False,
    )
    for new in pot:
        if not new.id or new.context is None:
            continue
        before = old.get(new.context)
        entry = Message(new.id, "", context=new.context, auto_comments=list(new.auto_comments))
        if before is not None and before.string is not None and _has_string(before):
            entry.string = _reshape(before.string, new.id, merged.num_plurals)
            entry.user_comments = [c for c in before.user_comments if not c.startswith("|")]
            if before.id != new.id:
                entry.flags.add("fuzzy")
                entry.previous_id = [before.id] if isinstance(before.id, str) else list(before.id)
            elif before.fuzzy:
                entry.flags.add("fuzzy")
                entry.previous_id = previous_id(before)
        elif isinstance(new.id, tuple):
            entry.string = ("",) * merged.num_plurals
        merged[new.id] = entry
    return merged


def previous_id(message: Message) -> list[str]:
    """The English a fuzzy entry was translated from (its ``#| msgid`` lines). Babel writes
    them but reads them back as user comments starting with "|"; this reads them."""
    if message.previous_id:
        return list(message.previous_id)
    parts: dict[str, list[str]] = {}
    current: list[str] | None = None
    for comment in message.user_comments:
        if not comment.startswith("|"):
            continue
        line = comment[1:].strip()
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgid", "msgid_plural"):
            current = parts.setdefault(keyword, [])
            line = rest
        if current is not None and line.startswith('"'):
            current.append(unescape(line))
    return ["".join(parts[k]) for k in ("msgid", "msgid_plural") if k in parts]


def _has_string(message: Message) -> bool:
    string = message.string
    if isinstance(string, str):
        return bool(string)
    return string is not None and any(string)


def _reshape(
    string: str | tuple[str, ...] | list[str],
    msgid: str | tuple[str, ...] | list[str],
    forms: int,
) -> str | tuple[str, ...]:
    """An old translation fitted to the new entry's shape (it is fuzzy then anyway)."""
    if isinstance(msgid, str):
        return string if isinstance(string, str) else string[-1]
    if isinstance(string, str):
        return (string,) * forms
    padded = tuple(string) + ("",) * forms
    return padded[:forms]


def _write(path: Path, catalog: PoCatalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalog, width=_WIDTH, include_previous=True, ignore_obsolete=True)
