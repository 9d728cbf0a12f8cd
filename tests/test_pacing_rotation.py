"""Send pacing and content rotation, without a database."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

from reminderbot.delivery.pacing import CATCH_UP, HEADROOM, Pacer, reminder_rate
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


def busiest(stamps: list[float], window: float) -> int:
    """The most sends any ``window`` seconds hold (Telegram's limit is a sliding second)."""
    most, j = 0, 0
    for i, start in enumerate(stamps):
        j = max(j, i)
        while j < len(stamps) and stamps[j] < start + window:
            j += 1
        most = max(most, j - i)
    return most


async def paced_by_a_late_timer(
    rate: float, sends: int, late: Callable[[int], float]
) -> list[float]:
    """When each of ``sends`` reminders may go, on a clock whose every sleep ends late(n) after
    the time asked for: the event loop's timers are only millisecond-exact."""
    now = [1000.0]
    pacer = Pacer(rate, clock=lambda: now[0])
    woken = itertools.count()

    async def late_sleep(seconds: float) -> None:
        now[0] += seconds + late(next(woken))

    pacer._sleep = late_sleep  # type: ignore[method-assign]
    stamps = []
    for chat in range(sends):
        await pacer.slot(chat)
        stamps.append(now[0])
    return stamps


async def test_a_late_timer_does_not_slow_a_paid_broadcast_or_break_its_limit() -> None:
    # At a paid 1,000 a second a slot is 1 ms apart, about what a timer overshoots by: paced
    # from each late wake-up, reminders went at ~550 a second instead of ~990.
    stamps = await paced_by_a_late_timer(1000, 5000, lambda _: 0.0008)
    achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert achieved >= 0.99 * reminder_rate(1000)
    assert busiest(stamps, 1.0) <= 1000  # Telegram's window never overflows


async def test_a_stalled_process_does_not_turn_into_a_burst() -> None:
    # Now and then a wake-up a quarter of a second late (a long garbage collection, a busy
    # CPU): what it missed is not sent all at once afterwards.
    stamps = await paced_by_a_late_timer(1000, 5000, lambda n: 0.25 if n % 700 == 0 else 0.0005)
    assert busiest(stamps, 1.0) <= 1000
    rate = reminder_rate(1000)
    assert busiest(stamps, 0.05) <= (0.05 + CATCH_UP) * rate + 1
    stamps = await paced_by_a_late_timer(30, 300, lambda n: 0.25 if n % 40 == 0 else 0.001)
    assert busiest(stamps, 1.0) <= 30
    assert busiest(stamps, 0.2) <= (0.2 + CATCH_UP) * reminder_rate(30) + 1
