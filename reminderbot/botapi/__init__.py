"""The Telegram Bot API as data, and a strict validator shared by the tests and the sandbox."""

from reminderbot.botapi.spec import BotApiSpec, BotApiViolation

__all__ = ["BotApiSpec", "BotApiViolation"]
