"""Thin handlers: read the update, call a service, answer with words from messages/."""
