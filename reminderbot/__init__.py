"""reminderbot: a consent-first Telegram companion for couples rebuilding trust."""

__version__ = "0.1.0"
