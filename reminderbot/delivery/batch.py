"""What the dispatcher's parts hand each other: why a delivery ended as it did, a claimed message
ready to send, the outcome to write for it, and what one tick did."""

from __future__ import annotations

import enum
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reminderbot.delivery.reminder import WireKeyboard
from reminderbot.storage.models import DeliveryStatus

log = logging.getLogger("reminderbot.delivery.dispatcher")

# The longest wait between two tries of one delivery.
RETRY_CAP_SECONDS = 30


class Reason(enum.StrEnum):
    """The reason written on a delivery row (and counted in the metrics)."""

    STALE = "stale"
    PAUSED = "paused"
    QUIET_HOURS = "quiet_hours"
    COALESCED = "coalesced"
    INACTIVE = "inactive"
    NO_CONTENT = "no_content"
    BLOCKED = "blocked"
    CHAT_NOT_FOUND = "chat_not_found"
    UNCERTAIN = "uncertain"
    REJECTED = "rejected"
    IN_FLIGHT = "in_flight"
    RETRY = "retry"
    INTERNAL = "internal"  # a bug or bad data in this one occurrence; logged by id


class Note(enum.StrEnum):
    """Counted in ``TickStats.reasons`` but not an outcome: why a send will be tried again."""

    TIMEOUT = "timeout"  # timed out after the request left: repeated at most once
    NETWORK = "network"  # proved never to have left: not sent
    NETWORK_UNCERTAIN = "network_uncertain"  # another network error after it left
    RELEASED = "released"  # handed back unsent, no attempt counted


@dataclass(slots=True)
class Outgoing:
    """A claimed delivery, rendered and ready to send."""

    delivery_id: int
    person_id: int
    chat_id: int
    due_at: datetime
    text: str
    keyboard: WireKeyboard
    silent: bool
    uncertain: int
    attempts: int
    lease: datetime  # the retry_at this claim wrote: every later write is guarded by it
    kind: str | None = None
    lost: bool = False  # the lease could not be renewed: another instance may own the row
    # What the text was rendered from, so a language changed after the claim can redo it.
    language: str = ""
    content_id: str | None = None
    discreet: bool = False


@dataclass(slots=True)
class Outcome:
    """What to write to one claimed delivery row (only while this claim still holds it)."""

    message: Outgoing
    status: DeliveryStatus
    reason: Reason | None
    retry_at: datetime | None
    finished_at: datetime | None
    attempts: int
    uncertain: int
    telegram_message_id: int | None = None
    unreachable: bool = False  # the person blocked the bot or the chat is gone

    @classmethod
    def sent(cls, message: Outgoing, now: datetime, telegram_message_id: int) -> Outcome:
        return cls(
            message,
            DeliveryStatus.SENT,
            None,
            retry_at=None,
            finished_at=now,
            attempts=message.attempts + 1,
            uncertain=message.uncertain,
            telegram_message_id=telegram_message_id,
        )

    @classmethod
    def finished(
        cls,
        message: Outgoing,
        status: DeliveryStatus,
        reason: Reason,
        now: datetime,
        *,
        unreachable: bool = False,
    ) -> Outcome:
        return cls(
            message,
            status,
            reason,
            retry_at=None,
            finished_at=now,
            attempts=message.attempts,
            uncertain=message.uncertain,
            unreachable=unreachable,
        )

    @classmethod
    def retry(cls, message: Outgoing, now: datetime, *, uncertain: bool) -> Outcome:
        """An attempt failed: try again after a backoff that grows with the attempts."""
        attempts = message.attempts + 1
        # Exponential backoff, capped so that after an outage of any length each reminder
        # goes out within about half a minute of Telegram's recovery; the stale cut-off ends
        # the retries.
        delay = timedelta(seconds=min(RETRY_CAP_SECONDS, 2 ** min(attempts, 8)))
        return cls(
            message,
            DeliveryStatus.CLAIMED,
            Reason.RETRY,
            retry_at=now + delay,
            finished_at=None,
            attempts=attempts,
            uncertain=message.uncertain + (1 if uncertain else 0),
        )

    @classmethod
    def released(cls, message: Outgoing, retry_at: datetime) -> Outcome:
        """Unsent, and no attempt made: claimable again from ``retry_at``."""
        return cls(
            message,
            DeliveryStatus.CLAIMED,
            Reason.RETRY,
            retry_at=retry_at,
            finished_at=None,
            attempts=message.attempts,
            uncertain=message.uncertain,
        )


@dataclass(slots=True)
class TickStats:
    """What one tick did, for the log and the operators' metrics.

    ``outcomes`` counts final outcomes by (status, reason); a sent message's reason is "".
    ``lateness`` has, per sent message, the seconds from its due time to its send, by the bot's
    clock. ``reasons`` also counts why sends will be retried and messages handed back unsent
    (``Note``)."""

    claimed: int = 0
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    retried: int = 0
    rate_limited: int = 0
    pause_ends: int = 0
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    outcomes: dict[tuple[DeliveryStatus, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    lateness: list[float] = field(default_factory=list)
    # The tick ended on its time budget with a backlog still due: the next may start at once.
    backlog: bool = False

    def skip(self, reason: Reason) -> None:
        self.skipped += 1
        self.reasons[reason] += 1
        self.outcomes[(DeliveryStatus.SKIPPED, reason)] += 1

    def fail(self, reason: Reason) -> None:
        self.failed += 1
        self.reasons[reason] += 1
        self.outcomes[(DeliveryStatus.FAILED, reason)] += 1

    def end(self, status: DeliveryStatus, reason: Reason) -> None:
        """A delivery that ends unsent, skipped or failed as ``status`` says."""
        if status is DeliveryStatus.FAILED:
            self.fail(reason)
        else:
            self.skip(reason)

    def send(self, lateness: float) -> None:
        self.sent += 1
        self.outcomes[(DeliveryStatus.SENT, "")] += 1
        self.lateness.append(lateness)

    def note(self, what: Note) -> None:
        self.reasons[what] += 1


def log_internal(what: str, item_id: int, person_id: int, error: BaseException) -> None:
    # Ids and the error's type only: an exception's message may quote a person's words.
    log.error("internal error %s (person %s): %s", what % item_id, person_id, type(error).__name__)
