"""The bot's words: UI strings and the content pool from ``messages/``, and their validation."""

from reminderbot.content.catalog import (
    Audience,
    Catalog,
    ContentItem,
    ContentKind,
    MessagesError,
    Problem,
    load_catalog,
)
from reminderbot.content.check import check_messages

__all__ = [
    "Audience",
    "Catalog",
    "ContentItem",
    "ContentKind",
    "MessagesError",
    "Problem",
    "check_messages",
    "load_catalog",
]
