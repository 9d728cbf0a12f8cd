"""Why an occurrence is not sent, and what a person gets: the dispatcher's rules, without SQL
or Telegram.

Judged twice: at claim time (stale, coalesced, consent, pause, quiet hours) and again right
before each send (``Gate``), since a person may pause or stop in between.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from reminderbot.content import ContentKind
from reminderbot.delivery.batch import Reason
from reminderbot.services.pairing import SharedPromptFacts, couple_prompts_due
from reminderbot.services.resting import is_resting
from reminderbot.services.timekeeping import in_quiet_hours
from reminderbot.storage.models import ConsentState, DeliveryStatus, Person, Schedule

# A retry that ends for one of these reasons failed; for any other it was skipped.
RETRY_FAILURES = frozenset({Reason.STALE, Reason.UNCERTAIN, Reason.INTERNAL})


class GateFacts(SharedPromptFacts, Protocol):
    """What the rules right before a send read of a person: a ``Person``, or a row of
    ``GATE_READS`` (the dispatcher reads no more than these, thousands of times a second)."""

    @property
    def consent(self) -> ConsentState: ...
    @property
    def reachable(self) -> bool: ...
    @property
    def paused_at(self) -> datetime | None: ...
    @property
    def paused_until(self) -> datetime | None: ...
    @property
    def language(self) -> str: ...


def may_send(person: GateFacts, now: datetime) -> Reason | None:
    """Why nothing may reach this person now, if anything."""
    if person.consent is not ConsentState.GIVEN or not person.reachable:
        return Reason.INACTIVE
    if is_resting(person.paused_at, person.paused_until, now):
        return Reason.PAUSED
    return None


@dataclass(frozen=True, slots=True)
class Gate:
    """What a fresh read of a person allows right before a send."""

    personal: Reason | None
    couple_prompts_off: bool = False  # a shared pause, or a partner's no, since the claim
    language: str | None = None  # the language they read now (/language since the claim?)

    @classmethod
    def of(cls, person: GateFacts, now: datetime) -> Gate:
        return cls(may_send(person, now), not couple_prompts_due(person, now), person.language)

    def reason_for(self, kind: str | None) -> Reason | None:
        if self.personal is not None:
            return self.personal
        if kind == ContentKind.COUPLE_PROMPT and self.couple_prompts_off:
            return Reason.PAUSED
        return None


# What ``Gate.of`` reads of a person (``GateFacts``): the fresh read right before sending
# selects only these columns.
GATE_READS = (
    Person.consent,
    Person.reachable,
    Person.paused_at,
    Person.paused_until,
    Person.couple_id,
    Person.couple_prompts_agreed,
    Person.shared_paused_at,
    Person.shared_paused_until,
    Person.language,
)

# Someone the claim no longer finds (they erased themselves) gets nothing.
GONE = Gate(Reason.INACTIVE)


def kinds_for(person: Person, schedule: Schedule) -> list[ContentKind]:
    """Which kinds of line this occurrence may carry: the schedule's own, or the person's
    choices (couple prompts only while both partners say yes and shared prompts are not
    resting)."""
    if schedule.kind is not None:
        return [ContentKind(schedule.kind)]
    kinds = []
    if person.wants_affirmations:
        kinds.append(ContentKind.AFFIRMATION)
    if person.wants_practices:
        kinds.append(ContentKind.PRACTICE)
    if person.wants_checkin_prompts:
        kinds.append(ContentKind.CHECKIN_PROMPT)
    # At claim time next_due_at is still this occurrence's due time, the moment it is judged at.
    if couple_prompts_due(person, schedule.next_due_at):
        kinds.append(ContentKind.COUPLE_PROMPT)
    return kinds


def latest_due(occurrences: Iterable[tuple[Schedule, Person]]) -> dict[int, int]:
    """Per person, the schedule of their latest due occurrence among these. A person gets at
    most one message per pass: after an outage that one is sent and earlier ones are recorded
    as coalesced, not a burst."""
    latest: dict[int, tuple[int, datetime]] = {}
    for schedule, person in occurrences:
        due = schedule.next_due_at
        assert due is not None
        best = latest.get(person.id)
        if best is None or due > best[1]:
            latest[person.id] = (schedule.id, due)
    return {person_id: schedule_id for person_id, (schedule_id, _) in latest.items()}


@dataclass(frozen=True, slots=True)
class Policy:
    stale_after: timedelta  # after an outage, what is later than this is not sent

    def occurrence_skip(
        self, person: Person, schedule: Schedule, due: datetime, now: datetime, latest: int
    ) -> Reason | None:
        """Why this due occurrence is not sent; ``latest`` is the schedule of the person's
        latest due occurrence in this claim."""
        if now - due > self.stale_after:
            return Reason.STALE
        if latest != schedule.id:
            return Reason.COALESCED
        if (blocked := may_send(person, now)) is not None:
            return blocked
        if in_quiet_hours(due, person.timezone, person.quiet_start, person.quiet_end):
            return Reason.QUIET_HOURS
        return None

    def retry_skip(
        self, person: Person, due: datetime, uncertain: int, now: datetime
    ) -> Reason | None:
        """Why a delivery due for another attempt is not tried again: too late, sent twice
        already without knowing whether it arrived, or nothing may reach the person now."""
        if now - due > self.stale_after:
            return Reason.STALE
        if uncertain > 1:
            return Reason.UNCERTAIN
        return may_send(person, now)


def retry_end(reason: Reason) -> DeliveryStatus:
    """How a retry that will not be attempted ends."""
    return DeliveryStatus.FAILED if reason in RETRY_FAILURES else DeliveryStatus.SKIPPED
