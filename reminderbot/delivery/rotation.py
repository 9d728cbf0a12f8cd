"""Content rotation: each person walks their own shuffled order of the pool, so no line repeats
until the pool is used up, at O(1) state per person (a seed and a position).

A pick costs at most two shuffles of the pool, however long the history: each round's order
depends only on (seed, round), never on the rounds before it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from typing import TypeVar

T = TypeVar("T")


@lru_cache(maxsize=4096)
def _shuffled(size: int, seed: int, cycle: int) -> tuple[int, ...]:
    order = list(range(size))
    random.Random(f"{seed}:{cycle}").shuffle(order)
    return tuple(order)


def _order(size: int, seed: int, cycle: int) -> tuple[int, ...]:
    order = _shuffled(size, seed, cycle)
    if size == 2:
        # Two lines: the rule below makes every round repeat round 0's order (a, b, a, b, ...).
        return _shuffled(2, seed, 0)
    if cycle > 0 and size > 2 and order[0] == _shuffled(size, seed, cycle - 1)[-1]:
        # Don't repeat the last line of one round as the first of the next. Swapping the first
        # two never moves a round's last line (size > 2), so the previous round's last line is
        # its plain shuffle's: no need to look further back.
        return (order[1], order[0], *order[2:])
    return order


def pick(pool: Sequence[T], seed: int, position: int) -> T | None:
    """The item at ``position`` in this person's rotation of ``pool``."""
    if not pool:
        return None
    cycle, index = divmod(position, len(pool))
    return pool[_order(len(pool), seed, cycle)[index]]
