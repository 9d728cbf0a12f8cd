"""The one rule every rest follows: a personal pause, a partner's hold on shared prompts, and
the shared pause they add up to."""

from __future__ import annotations

from datetime import datetime


def is_resting(since: datetime | None, until: datetime | None, at: datetime) -> bool:
    """Set, and either no end or an end still ahead: a rest is over at its end instant."""
    return since is not None and (until is None or until > at)
