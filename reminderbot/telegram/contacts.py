"""The practice's support contacts as /help and /support show them (from config, never from
the database, so they are there when the database is not).

An example contact never reaches a person: someone in a hard moment would call it. A contact
is an example when it is marked ``example = true`` or when it is, word for word, one the shipped
config file lists (an operator's copy of an older shipped file carries no marker). When no real
contact is left, people get generic words that are true anywhere.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path

from reminderbot.config import DEFAULT_CONFIG_PATH, Settings, SupportContact
from reminderbot.resources import shipped
from reminderbot.telegram.context import AppState


def _same(text: str) -> str:
    return " ".join(text.split()).casefold()


@functools.cache
def _shipped_pairs(path: Path) -> frozenset[tuple[str, str]]:
    """(name, contact) of every contact in the shipped config file: all are illustrations."""
    try:
        with path.open("rb") as fh:
            listed = tomllib.load(fh).get("support_contacts", [])
    except (OSError, tomllib.TOMLDecodeError):
        return frozenset()
    return frozenset(
        (_same(str(c.get("name", ""))), _same(str(c.get("contact", ""))))
        for c in listed
        if isinstance(c, dict)
    )


def shipped_config() -> Path:
    return shipped("config") / DEFAULT_CONFIG_PATH.name


def is_example(contact: SupportContact) -> bool:
    if contact.example:
        return True
    return (_same(contact.name), _same(contact.contact)) in _shipped_pairs(shipped_config())


def real_contacts(settings: Settings) -> list[SupportContact]:
    return [c for c in settings.support_contacts if not is_example(c)]


def example_warning(settings: Settings) -> str | None:
    """The one start-up warning when people would see generic words instead of contacts."""
    configured = settings.support_contacts
    examples = len(configured) - len(real_contacts(settings))
    if not configured:
        return (
            "support_contacts is empty: /help and /support give only generic words "
            "(reach your counselor; in danger, call the local emergency number)"
        )
    if examples == 0:
        return None
    shown = "only generic words" if examples == len(configured) else "the others"
    return (
        f"support_contacts: {examples} of {len(configured)} are examples "
        f"(example = true, or as shipped) and are never shown; /help and /support give {shown}"
    )


def support_contacts(state: AppState, lang: str) -> str:
    contacts = real_contacts(state.settings)
    if not contacts:
        return state.text("support.no_contacts", lang)
    return "\n".join(
        state.text("support.contact_line", lang, name=c.name, contact=c.contact) for c in contacts
    )
