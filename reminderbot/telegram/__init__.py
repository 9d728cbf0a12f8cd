"""The Telegram layer: the Application, handlers, replies and callback data."""
