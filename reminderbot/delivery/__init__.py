"""Delivery: the dispatcher that turns due schedules into sent messages."""
