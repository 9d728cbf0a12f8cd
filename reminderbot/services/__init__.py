"""What the bot does, as plain async functions on a database session (no Telegram objects)."""
