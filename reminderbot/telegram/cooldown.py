"""Per-person pauses between replies that need not repeat: heavy replies (the /mydata export,
the /checkins chart), so one person repeating them cannot keep a worker thread and the database
busy for everyone; and the pointer that only text is read, said once for a burst of media."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta

from reminderbot.telegram.context import BotContext

COOLDOWN_KEY = "heavy_reply_cooldown"
HEAVY_EVERY = timedelta(minutes=1)
MEDIA_POINTER_KEY = "media_pointer_cooldown"
MEDIA_POINTER_EVERY = timedelta(minutes=1)


class Cooldown:
    """When each person last got each reply. Bounded: entries older than the pause are dropped
    on every use, and at most ``max_people`` are kept. Only in memory: the heavy replies record
    only people who have data (after finding their rows); the media pointer records whoever
    sent the media, for a minute."""

    def __init__(self, every: timedelta = HEAVY_EVERY, max_people: int = 10_000) -> None:
        self.every = every
        self.max_people = max_people
        self._last: OrderedDict[tuple[str, int], datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def __contains__(self, user_id: object) -> bool:
        return any(who == user_id for _, who in self._last)

    def _prune(self, now: datetime) -> None:
        while self._last:
            key, at = next(iter(self._last.items()))
            if at <= now < at + self.every:
                return
            del self._last[key]

    def too_soon(self, what: str, user_id: int, now: datetime) -> bool:
        self._prune(now)
        at = self._last.get((what, user_id))
        return at is not None and at <= now < at + self.every

    def done(self, what: str, user_id: int, now: datetime) -> None:
        self._last.pop((what, user_id), None)
        self._last[(what, user_id)] = now
        while len(self._last) > self.max_people:
            self._last.popitem(last=False)


def cooldown(context: BotContext) -> Cooldown:
    found: Cooldown = context.application.bot_data.setdefault(COOLDOWN_KEY, Cooldown())
    return found


def media_pointer_cooldown(context: BotContext) -> Cooldown:
    found: Cooldown = context.application.bot_data.setdefault(
        MEDIA_POINTER_KEY, Cooldown(MEDIA_POINTER_EVERY)
    )
    return found
