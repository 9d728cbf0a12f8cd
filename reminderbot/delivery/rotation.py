"""Content rotation: each person walks their own shuffled order of the pool, so no line repeats
until the pool is used up, at O(1) state per person (a seed and a position)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")


@lru_cache(maxsize=4096)
def _order(size: int, seed: int, cycle: int) -> tuple[int, ...]:
    order = list(range(size))
    random.Random(f"{seed}:{cycle}").shuffle(order)
    if cycle > 0 and size > 1 and order[0] == _order(size, seed, cycle - 1)[-1]:
        # Don't repeat the last line of one round as the first of the next.
        order[0], order[1] = order[1], order[0]
    return tuple(order)


def pick(pool: Sequence[T], seed: int, position: int) -> T | None:
    """The item at ``position`` in this person's rotation of ``pool``."""
    if not pool:
        return None
    cycle, index = divmod(position, len(pool))
    return pool[_order(len(pool), seed, cycle)[index]]
