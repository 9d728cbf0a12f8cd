"""Content rotation over long histories: what a person reads after years of reminders.

Property tests over pool sizes and positions up to ten million (about 4,500 years of six
prompts a day): a pick never fails, a round never repeats a line, and the last line of a round
is never the first of the next.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from reminderbot.delivery.rotation import pick

TEN_MILLION = 10_000_000

pool_sizes = st.integers(min_value=1, max_value=60)
seeds = st.integers(min_value=0, max_value=2**63 - 1)
positions = st.integers(min_value=0, max_value=TEN_MILLION)


def pool_of(size: int) -> list[str]:
    return [f"line-{i}" for i in range(size)]


@settings(max_examples=300, deadline=None)
@given(size=pool_sizes, seed=seeds, position=positions)
@example(size=5, seed=1, position=2_250)  # pass 450 of a pool of five: the reported stall
@example(size=5, seed=7, position=TEN_MILLION)
@example(size=2, seed=3, position=TEN_MILLION)
def test_a_round_holds_every_line_once_and_never_starts_with_the_last_one(
    size: int, seed: int, position: int
) -> None:
    pool = pool_of(size)
    start = position - position % size
    this_round = [pick(pool, seed, start + i) for i in range(size)]
    assert sorted(this_round) == sorted(pool)  # type: ignore[type-var]
    assert pick(pool, seed, position) == this_round[position - start]
    if start > 0 and size > 1:
        assert pick(pool, seed, start - 1) != this_round[0]


@settings(max_examples=300, deadline=None)
@given(size=pool_sizes, seed=seeds, position=st.integers(min_value=1, max_value=TEN_MILLION))
def test_two_reminders_in_a_row_never_bring_the_same_line(
    size: int, seed: int, position: int
) -> None:
    pool = pool_of(size)
    before, now = pick(pool, seed, position - 1), pick(pool, seed, position)
    assert before in pool and now in pool
    assert size == 1 or before != now


@settings(max_examples=100, deadline=None)
@given(size=pool_sizes, seed=seeds, position=positions)
def test_a_pick_is_the_same_every_time_it_is_asked(size: int, seed: int, position: int) -> None:
    pool = pool_of(size)
    first = pick(pool, seed, position)
    # Later picks elsewhere (other people, other rounds) must not change this one.
    pick(pool, seed + 1, position + size)
    pick(pool, seed, position + 3 * size)
    assert pick(pool, seed, position) == first
