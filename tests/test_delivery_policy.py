"""The dispatcher's rules on their own (delivery/policy.py, services/resting.py): every reason
an occurrence is not sent, and where a rest ends, without a database or Telegram."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from reminderbot.content import ContentKind
from reminderbot.delivery.dispatcher import Reason
from reminderbot.delivery.policy import (
    GATE_READS,
    GONE,
    Gate,
    GateFacts,
    Policy,
    kinds_for,
    latest_due,
    may_send,
    retry_end,
)
from reminderbot.services.pairing import couple_prompts_due, holds_shared, shared_resting
from reminderbot.services.pausing import is_paused
from reminderbot.services.resting import is_resting
from reminderbot.storage.models import ConsentState, DeliveryStatus, Person, Schedule

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)
POLICY = Policy(stale_after=timedelta(hours=2))


def person(**overrides: Any) -> Person:
    values: dict[str, Any] = {
        "id": 1,
        "chat_id": 101,
        "language": "en",
        "timezone": "UTC",
        "consent": ConsentState.GIVEN,
        "reachable": True,
        "wants_affirmations": True,
        "wants_practices": True,
        "wants_checkin_prompts": False,
        "couple_id": None,
        "couple_prompts_agreed": False,
    }
    values.update(overrides)
    return Person(**values)


def schedule(schedule_id: int = 10, due: datetime = NOW, kind: str | None = None) -> Schedule:
    return Schedule(id=schedule_id, person_id=1, local_time=due.time(), next_due_at=due, kind=kind)


# --------------------------------------------------------------------------- is_resting
def test_a_rest_is_over_at_its_exact_end_instant() -> None:
    assert is_resting(NOW - timedelta(days=1), NOW + TICK, NOW)
    assert not is_resting(NOW - timedelta(days=1), NOW, NOW)
    assert not is_resting(NOW - timedelta(days=1), NOW - TICK, NOW)


def test_a_rest_without_an_end_lasts_and_one_never_set_never_rests() -> None:
    assert is_resting(NOW, None, NOW + timedelta(days=3650))
    assert not is_resting(None, None, NOW)
    # An end left behind without a start is no rest (what "resume" leaves is both cleared).
    assert not is_resting(None, NOW + timedelta(days=1), NOW)


@pytest.mark.parametrize(("at", "resting"), [(NOW - TICK, True), (NOW, False), (NOW + TICK, False)])
def test_every_kind_of_rest_follows_the_one_rule(at: datetime, resting: bool) -> None:
    started = NOW - timedelta(days=1)
    someone = person(
        paused_at=started,
        paused_until=NOW,
        shared_hold_at=started,
        shared_hold_until=NOW,
        shared_paused_at=started,
        shared_paused_until=NOW,
        couple_id=7,
        couple_prompts_agreed=True,
    )
    assert is_paused(someone, at) is resting
    assert holds_shared(someone, at) is resting
    assert shared_resting(someone, at) is resting
    assert couple_prompts_due(someone, at) is not resting
    assert (may_send(someone, at) is Reason.PAUSED) is resting
    assert (Gate.of(someone, at).reason_for(ContentKind.COUPLE_PROMPT) is Reason.PAUSED) is (
        resting
    )


# --------------------------------------------------------------------------- skip reasons
def test_a_due_occurrence_with_nothing_against_it_is_sent() -> None:
    assert POLICY.occurrence_skip(person(), schedule(), NOW, NOW, latest=10) is None


def test_stale_beyond_the_cut_off_and_not_at_it() -> None:
    due = NOW - timedelta(hours=2)
    assert POLICY.occurrence_skip(person(), schedule(due=due), due, NOW, latest=10) is None
    late = due - TICK
    skip = POLICY.occurrence_skip(person(), schedule(due=late), late, NOW, latest=10)
    assert skip is Reason.STALE


def test_an_earlier_occurrence_of_the_same_person_is_coalesced() -> None:
    assert POLICY.occurrence_skip(person(), schedule(10), NOW, NOW, latest=11) is Reason.COALESCED


def test_latest_due_picks_each_persons_latest_occurrence() -> None:
    alex, sam = person(id=1), person(id=2)
    rows = [
        (schedule(10, NOW - timedelta(hours=1)), alex),
        (schedule(11, NOW), alex),
        (schedule(12, NOW - timedelta(minutes=5)), alex),
        (schedule(20, NOW), sam),
        (schedule(21, NOW), sam),  # a tie keeps the first
    ]
    assert latest_due(rows) == {1: 11, 2: 20}


@pytest.mark.parametrize(
    "overrides",
    [{"consent": ConsentState.STOPPED}, {"reachable": False}],
)
def test_no_consent_or_no_reach_is_inactive(overrides: dict[str, Any]) -> None:
    someone = person(**overrides)
    assert POLICY.occurrence_skip(someone, schedule(), NOW, NOW, latest=10) is Reason.INACTIVE
    assert POLICY.retry_skip(someone, NOW, 0, NOW) is Reason.INACTIVE
    assert Gate.of(someone, NOW).reason_for(None) is Reason.INACTIVE


def test_a_pause_skips_until_its_end_instant() -> None:
    paused = person(paused_at=NOW - timedelta(days=1), paused_until=NOW + timedelta(minutes=1))
    assert POLICY.occurrence_skip(paused, schedule(), NOW, NOW, latest=10) is Reason.PAUSED
    later = NOW + timedelta(minutes=1)
    assert POLICY.occurrence_skip(paused, schedule(due=later), later, later, latest=10) is None


def test_quiet_hours_are_judged_at_the_due_time_in_the_persons_zone() -> None:
    # 09:00 UTC is 10:00 in Berlin (winter): inside 10:00-11:00 there, outside in UTC.
    berlin = person(timezone="Europe/Berlin", quiet_start=time(10), quiet_end=time(11))
    skip = POLICY.occurrence_skip(berlin, schedule(), NOW, NOW, latest=10)
    assert skip is Reason.QUIET_HOURS
    utc = person(quiet_start=time(10), quiet_end=time(11))
    assert POLICY.occurrence_skip(utc, schedule(), NOW, NOW, latest=10) is None


def test_the_reasons_come_in_order_stale_coalesced_consent_pause_quiet() -> None:
    everything = person(
        consent=ConsentState.STOPPED,
        paused_at=NOW,
        quiet_start=time(0),
        quiet_end=time(23, 59),
    )
    stale = NOW - timedelta(hours=3)
    assert POLICY.occurrence_skip(everything, schedule(), stale, NOW, 11) is Reason.STALE
    assert POLICY.occurrence_skip(everything, schedule(), NOW, NOW, 11) is Reason.COALESCED
    assert POLICY.occurrence_skip(everything, schedule(), NOW, NOW, 10) is Reason.INACTIVE
    paused_and_quiet = person(paused_at=NOW, quiet_start=time(0), quiet_end=time(23, 59))
    assert POLICY.occurrence_skip(paused_and_quiet, schedule(), NOW, NOW, 10) is Reason.PAUSED


def test_a_retry_ends_stale_then_uncertain_then_by_consent_and_pause() -> None:
    paused = person(paused_at=NOW)
    assert POLICY.retry_skip(paused, NOW - timedelta(hours=3), 2, NOW) is Reason.STALE
    assert POLICY.retry_skip(paused, NOW, 2, NOW) is Reason.UNCERTAIN
    assert POLICY.retry_skip(paused, NOW, 1, NOW) is Reason.PAUSED
    assert POLICY.retry_skip(person(), NOW, 1, NOW) is None
    # Quiet hours do not hold back a retry: its occurrence was already judged outside them.
    quiet = person(quiet_start=time(0), quiet_end=time(23, 59))
    assert POLICY.retry_skip(quiet, NOW, 0, NOW) is None


def test_a_retry_given_up_fails_only_when_it_may_have_been_lost_or_broke() -> None:
    for reason in (Reason.STALE, Reason.UNCERTAIN, Reason.INTERNAL):
        assert retry_end(reason) is DeliveryStatus.FAILED
    for reason in (Reason.PAUSED, Reason.INACTIVE, Reason.NO_CONTENT):
        assert retry_end(reason) is DeliveryStatus.SKIPPED


# --------------------------------------------------------------------------- right before a send
def test_the_last_look_stops_couple_prompts_only_when_shared_prompts_rest() -> None:
    resting = person(couple_id=7, couple_prompts_agreed=True, shared_paused_at=NOW)
    gate = Gate.of(resting, NOW)
    assert gate.reason_for(ContentKind.COUPLE_PROMPT) is Reason.PAUSED
    assert gate.reason_for(ContentKind.AFFIRMATION) is None
    agreed = person(couple_id=7, couple_prompts_agreed=True)
    assert Gate.of(agreed, NOW).reason_for(ContentKind.COUPLE_PROMPT) is None
    assert GONE.reason_for(ContentKind.AFFIRMATION) is Reason.INACTIVE


# --------------------------------------------------------------------------- what a person gets
def test_which_kinds_a_person_gets() -> None:
    assert kinds_for(person(), schedule()) == [ContentKind.AFFIRMATION, ContentKind.PRACTICE]
    only_prompts = person(
        wants_affirmations=False, wants_practices=False, wants_checkin_prompts=True
    )
    assert kinds_for(only_prompts, schedule()) == [ContentKind.CHECKIN_PROMPT]
    own_kind = schedule(kind=ContentKind.PRACTICE.value)
    assert kinds_for(only_prompts, own_kind) == [ContentKind.PRACTICE]


def test_couple_prompts_join_only_while_both_say_yes_and_no_shared_rest_covers_the_due_time() -> (
    None
):
    couple = person(couple_id=7, couple_prompts_agreed=True)
    assert ContentKind.COUPLE_PROMPT in kinds_for(couple, schedule())
    one_said_no = person(couple_id=7, couple_prompts_agreed=False)
    assert ContentKind.COUPLE_PROMPT not in kinds_for(one_said_no, schedule())
    rest_until_due = person(
        couple_id=7,
        couple_prompts_agreed=True,
        shared_paused_at=NOW - timedelta(days=1),
        shared_paused_until=NOW,
    )
    assert ContentKind.COUPLE_PROMPT in kinds_for(rest_until_due, schedule(due=NOW))
    assert ContentKind.COUPLE_PROMPT not in kinds_for(rest_until_due, schedule(due=NOW - TICK))


def test_the_read_before_a_send_selects_every_column_the_gate_reads() -> None:
    # A rule that starts reading another column of the person must have it selected too, or
    # the read right before each send fails every message (a row has only what was selected).
    read = {
        name
        for cls in GateFacts.__mro__
        for name, member in vars(cls).items()
        if isinstance(member, property)
    }
    assert {column.key for column in GATE_READS} == read
