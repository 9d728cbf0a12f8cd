"""In-process signal that a person's pause or consent just changed."""

from __future__ import annotations

import time as monotonic_time
from collections.abc import Callable


class PersonChanges:
    """In-process marks for people whose pause/consent just changed, so a send already claimed
    re-reads them from the database instead of trusting the snapshot taken at claim time."""

    def __init__(self, clock: Callable[[], float] = monotonic_time.monotonic) -> None:
        self._clock = clock
        self._changed: dict[int, float] = {}

    def mark(self, person_id: int) -> None:
        self._changed[person_id] = self._clock()

    def since(self, person_id: int, moment: float) -> bool:
        return self._changed.get(person_id, -1.0) >= moment

    def now(self) -> float:
        return self._clock()

    def prune(self, older_than: float = 600.0) -> None:
        cutoff = self._clock() - older_than
        for person_id in [p for p, at in self._changed.items() if at < cutoff]:
            del self._changed[person_id]
