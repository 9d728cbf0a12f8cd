"""The Telegram layer: the Application, handlers, keyboards and callback data."""
