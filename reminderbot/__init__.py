"""reminderbot: a consent-first Telegram companion for couples rebuilding trust."""

import os

__version__ = "0.1.0"

# Opt in to python-telegram-bot's coming behaviour (durations such as RetryAfter.retry_after as
# timedelta); our code accepts both, and without this every 429 raises a deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "1")
