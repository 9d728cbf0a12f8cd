"""How long the bot's words may be, as Telegram counts: shared by the validator and the handlers
that split long replies."""

from __future__ import annotations

MESSAGE_LIMIT = 4096  # Telegram's limit for one message
BUTTON_LIMIT = 40  # ours: longer labels get cut off on small phones
ANSWER_LIMIT = 200  # Telegram's limit for a callback query answer
CAPTION_LIMIT = 1024  # Telegram's limit for a photo's or a document's caption


def telegram_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units, so most emoji count as two."""
    return len(text.encode("utf-16-le")) // 2
