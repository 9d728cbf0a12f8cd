"""The practice's support contacts as /help and /support show them (from config, never from
the database, so they are there when the database is not)."""

from __future__ import annotations

from reminderbot.telegram.context import AppState


def support_contacts(state: AppState, lang: str) -> str:
    contacts = state.settings.support_contacts
    if not contacts:
        return state.text("support.no_contacts", lang)
    return "\n".join(
        state.text("support.contact_line", lang, name=c.name, contact=c.contact) for c in contacts
    )
