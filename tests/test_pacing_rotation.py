"""Send pacing and content rotation, without a database."""

from __future__ import annotations

import itertools
import time

from reminderbot.delivery.pacing import HEADROOM, Pacer
from reminderbot.delivery.rotation import pick


async def test_pacer_spaces_sends_evenly_below_the_rate() -> None:
    # The pacer's own clock reading when it lets each send go: a stamp taken after the call
    # returns also holds however long this process waited for the CPU in between.
    reads: list[float] = []

    def clock() -> float:
        reads.append(time.monotonic())
        return reads[-1]

    pacer = Pacer(50, clock=clock)
    stamps = []
    for chat in range(26):
        await pacer.slot(chat)
        stamps.append(reads[-1])
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 1 / (50 * HEADROOM) - 0.002
    # No one-second window holds more than the limit.
    assert stamps[-1] - stamps[0] >= 25 / 50 * 0.99


async def test_pacer_keeps_one_second_between_sends_to_the_same_chat() -> None:
    pacer = Pacer(None)
    await pacer.slot(1)
    started = time.monotonic()
    await pacer.slot(2)  # another chat is not held back
    assert time.monotonic() - started < 0.05
    await pacer.slot(1)
    assert time.monotonic() - started >= 0.95


async def test_pacer_block_holds_every_chat_until_retry_after() -> None:
    pacer = Pacer(None)
    pacer.block_for(0.3)
    started = time.monotonic()
    await pacer.slot(7)
    assert time.monotonic() - started >= 0.29


def test_rotation_uses_the_whole_pool_before_repeating() -> None:
    pool = [f"line-{i}" for i in range(17)]
    for seed in (1, 2, 99):
        seen = [pick(pool, seed, position) for position in range(17 * 4)]
        for cycle in range(4):
            assert sorted(seen[cycle * 17 : (cycle + 1) * 17]) == sorted(pool)  # type: ignore[type-var]
        assert all(a != b for a, b in itertools.pairwise(seen))


def test_rotation_differs_between_people_and_handles_an_empty_pool() -> None:
    pool = list(range(30))
    assert [pick(pool, 1, p) for p in range(30)] != [pick(pool, 2, p) for p in range(30)]
    assert pick([], 1, 0) is None
