"""The dispatcher: the database is the source of truth, the JobQueue only the clock.

Each tick, in one transaction, claims a bounded batch of due work (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so several instances share it), records one delivery per occurrence under the unique
key (schedule_id, due_at), and advances the schedules. Then it sends, re-checking consent, pause
and reachability right before each send, and records every outcome.

Delivery guarantee: at most once per occurrence, except one case we accept and cannot avoid
without Telegram idempotency keys: if the process dies after Telegram accepted a message but
before the outcome was committed, the claim's lease runs out and the message is sent once more.
Outcomes are committed per small chunk, so that is at most the chunk in flight. A send whose
fate is unknown (time-out, an answer lost after the request left, crash mid-send) is repeated
at most once; only errors that prove the request never left (connect errors, a full connection
pool) count as not sent.

A claim is a lease: every later write to a claimed row is guarded by the lease it holds, a live
claim renews it while it waits (429s), and nothing is sent once it may have run out. One
occurrence that cannot be prepared or sent is recorded as failed and never holds back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time as monotonic_time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
from sqlalchemy import ColumnElement, Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from reminderbot.content import Audience as ContentAudience
from reminderbot.content import Catalog, ContentItem, ContentKind
from reminderbot.delivery.changes import PersonChanges
from reminderbot.delivery.pacing import SENDING_REMINDERS, Pacer, retry_after_seconds
from reminderbot.delivery.reminder import reminder_markup, reminder_text
from reminderbot.delivery.rotation import pick
from reminderbot.delivery.shared_rate import SendingLeader
from reminderbot.services.pairing import couple_prompts_due
from reminderbot.services.pausing import is_paused
from reminderbot.services.schedules import occurrence_after
from reminderbot.services.timekeeping import in_quiet_hours
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import (
    ConsentState,
    Delivery,
    DeliveryStatus,
    Person,
    Schedule,
    utcnow,
)

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
# A live claim renews its lease once less than this is left ...
RENEW_WHEN_LEFT = LEASE / 2
# ... and starts no send this close to its end (a send can take a few seconds).
LEASE_MARGIN = timedelta(seconds=10)
MAX_IN_FLIGHT = 32
MAX_IN_TASK_429_WAITS = 3
# How long one tick may keep draining a backlog before it lets the next tick start.
TICK_BUDGET_SECONDS = 20.0


class Reason(enum.StrEnum):
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


@dataclass(slots=True)
class Outgoing:
    delivery_id: int
    person_id: int
    chat_id: int
    due_at: datetime
    text: str
    markup: InlineKeyboardMarkup
    silent: bool
    uncertain: int
    attempts: int
    lease: datetime  # the retry_at this claim wrote: every later write is guarded by it
    kind: str | None = None
    lost: bool = False  # the lease could not be renewed: another instance may own the row


@dataclass(slots=True)
class TickStats:
    """What one tick did, for the log and the operators' metrics.

    ``outcomes`` counts final outcomes by (status, reason); a sent message's reason is "".
    ``lateness`` has, per sent message, the seconds from its due time to its send, by the bot's
    clock. ``reasons`` also counts why sends will be retried ("timeout", "network",
    "network_uncertain") and messages handed back unsent ("released")."""

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

    def skip(self, reason: str) -> None:
        self.skipped += 1
        self.reasons[reason] += 1
        self.outcomes[(DeliveryStatus.SKIPPED, reason)] += 1

    def fail(self, reason: str) -> None:
        self.failed += 1
        self.reasons[reason] += 1
        self.outcomes[(DeliveryStatus.FAILED, reason)] += 1

    def send(self, lateness: float) -> None:
        self.sent += 1
        self.outcomes[(DeliveryStatus.SENT, "")] += 1
        self.lateness.append(lateness)


@dataclass(slots=True)
class _Outcome:
    """What to write to one claimed delivery row (only while this claim still holds it)."""

    message: Outgoing
    status: DeliveryStatus
    reason: str | None
    retry_at: datetime | None
    finished_at: datetime | None
    attempts: int
    uncertain: int
    telegram_message_id: int | None = None
    unreachable: bool = False  # the person blocked the bot or the chat is gone


def never_reached_telegram(error: NetworkError) -> bool:
    """Whether this error proves the request never left: only then is a send certainly "not
    sent". PTB's HTTPXRequest raises connect failures as NetworkError and a full connection
    pool as TimedOut, each from httpx's own error; anything else (a 502, a read error, a
    time-out after the request went out) may have reached Telegram."""
    cause = error.__cause__
    if cause is not None:
        return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    # A request layer that drops the cause: PTB's own message names the httpx error.
    return error.message.startswith(("httpx.ConnectError:", "httpx.ConnectTimeout:"))


def _kinds_for(person: Person, schedule: Schedule) -> list[ContentKind]:
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


@dataclass(frozen=True, slots=True)
class Gate:
    """What a fresh read of a person allows right before a send."""

    personal: Reason | None
    couple_prompts_off: bool = False  # a shared pause, or a partner's no, since the claim

    def reason_for(self, kind: str | None) -> Reason | None:
        if self.personal is not None:
            return self.personal
        if kind == ContentKind.COUPLE_PROMPT and self.couple_prompts_off:
            return Reason.PAUSED
        return None


def _may_send(person: Person, now: datetime) -> Reason | None:
    if person.consent is not ConsentState.GIVEN or not person.reachable:
        return Reason.INACTIVE
    if is_paused(person, now):
        return Reason.PAUSED
    return None


class Dispatcher:
    def __init__(
        self,
        *,
        sessions: SessionFactory,
        catalog: Catalog,
        bot: Bot,
        rate: float | None,
        stale_after: timedelta,
        protect_content: bool,
        clock: Callable[[], datetime] = utcnow,
        changes: PersonChanges | None = None,
        tick_seconds: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.catalog = catalog
        self.bot = bot
        self.stale_after = stale_after
        self.protect_content = protect_content
        self.clock = clock
        self.changes = changes or PersonChanges()
        self.pacer = Pacer(rate)
        # Backpressure: claim only what can leave within about two ticks, so a crash never
        # leaves a mountain of claimed work behind.
        self.batch_size = max(10, int((rate or 1000.0) * tick_seconds * 2))
        # Re-read pause/consent this often (in messages) while sending, for other instances'
        # changes; changes made in this process are seen at once through ``changes``.
        self.recheck_every = max(1, int((rate or 1000.0) / 10))
        # Claim what falls due before the next tick and send each at its due time, so a 1 s
        # tick adds no lateness of its own (and nothing ever leaves early).
        self.lookahead = timedelta(seconds=tick_seconds)
        # How often (real seconds) a batch that is still sending looks at its lease.
        self.lease_check_seconds = 1.0
        self._running = False
        self.failing = False  # set by the caller while the database cannot be reached
        # Several instances on PostgreSQL: only the one holding the sending lock ticks, so
        # the rate is one rate for all (see delivery/shared_rate.py). None: always send.
        self.leader: SendingLeader | None = None
        # Outcomes of sends whose write failed: written before anything else is claimed, so
        # a database error after the sends does not make the batch go out again.
        self._unrecorded: list[_Outcome] = []
        self._write_lock = asyncio.Lock()  # lease renewals and outcome writes, one at a time

    # ----------------------------------------------------------------- the tick
    async def tick(self) -> TickStats:
        """One pass; drains a backlog in bounded batches. Overlapping calls return at once."""
        stats = TickStats()
        if self._running:
            return stats
        # Everything this tick sends is paced here, and a 429 is handled here (not retried
        # by the bot's own reply retries, telegram/retries.py).
        SENDING_REMINDERS.set(True)
        self._running = True
        started = monotonic_time.monotonic()
        try:
            # Outcomes held back by a database error first, leader or not: they are sent.
            await self._flush()
            if not await self._leading() or not await self._anything_due(self.clock()):
                return stats
            first = True
            while True:
                if not first and not await self._leading():
                    break
                outgoing = await self._claim(stats, end_pauses=first)
                first = False
                if outgoing:
                    await self._send_all(outgoing, stats)
                full = len(outgoing) >= self.batch_size
                if not full or monotonic_time.monotonic() - started > TICK_BUDGET_SECONDS:
                    break
            self.pacer.forget_idle_chats()
            self.changes.prune()
        finally:
            self._running = False
        return stats

    async def _leading(self) -> bool:
        return self.leader is None or await self.leader.is_leader()

    # ----------------------------------------------------------------- claiming
    async def _anything_due(self, now: datetime) -> bool:
        """One cheap question before any claiming, since most ticks find nothing to do: the
        earliest due schedule, retry and pause end. MIN over an index is one index probe on
        both databases and takes no parameters, so PostgreSQL's generic plan for a prepared
        statement cannot turn it into a sequential scan, as it does for 'EXISTS ... <= $1'.
        Only claimed deliveries carry a retry_at, so its minimum needs no status filter."""
        earliest = select(
            select(func.min(Schedule.next_due_at)).scalar_subquery(),
            select(func.min(Delivery.retry_at)).scalar_subquery(),
            select(func.min(Person.paused_until)).scalar_subquery(),
        )
        async with self.sessions() as session:
            due, retry, pause_end = (await session.execute(earliest)).one()
        return (
            (due is not None and due <= now + self.lookahead)
            or (retry is not None and retry <= now)
            or (pause_end is not None and pause_end <= now)
        )

    async def _claim(self, stats: TickStats, *, end_pauses: bool = False) -> list[Outgoing]:
        now = self.clock()
        notices: list[tuple[int, int, str]] = []
        async with self.sessions.begin() as session:
            if end_pauses:
                notices = await self._end_pauses(session, now, stats)
            outgoing = await self._claim_retries(session, now, stats)
            room = self.batch_size - len(outgoing)
            if room > 0:
                outgoing += await self._claim_occurrences(session, now, room, stats)
        if notices:
            await self._send_pause_ends(notices)
        return outgoing

    async def _claim_occurrences(
        self, session: AsyncSession, now: datetime, limit: int, stats: TickStats
    ) -> list[Outgoing]:
        query = (
            select(Schedule, Person)
            .join(Person, Person.id == Schedule.person_id)
            .where(Schedule.next_due_at <= now + self.lookahead)
            .order_by(Schedule.next_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Schedule)
        )
        rows = (await session.execute(query)).all()
        if not rows:
            return []

        # A person gets at most one message per pass: after an outage their latest due
        # occurrence is sent and earlier ones are recorded as coalesced, not a burst.
        latest: dict[int, tuple[Schedule, datetime]] = {}
        for schedule, person in rows:
            due = schedule.next_due_at
            assert due is not None
            best = latest.get(person.id)
            if best is None or due > best[1]:
                latest[person.id] = (schedule, due)

        records: list[dict[str, Any]] = []
        lease = now + LEASE
        for schedule, person in rows:
            due = schedule.next_due_at
            assert due is not None
            record: dict[str, Any] = {
                "person_id": person.id,
                "schedule_id": schedule.id,
                "due_at": due,
                "claimed_at": now,
                "attempts": 0,
                "uncertain": 0,
            }
            try:
                reason = self._skip_reason(person, schedule, due, now, latest)
                if reason is None:
                    item = self._choose(person, schedule)
                    if item is None:
                        reason = Reason.NO_CONTENT
                    else:
                        record.update(kind=item.kind.value, content_id=item.id)
            except Exception as exc:  # one bad row must not roll back everyone's claim
                _log_internal("preparing schedule %s", schedule.id, person.id, exc)
                reason = Reason.INTERNAL
            if reason is None:
                record.update(
                    status=DeliveryStatus.CLAIMED, reason=Reason.IN_FLIGHT, retry_at=lease
                )
            elif reason is Reason.INTERNAL:
                record.update(status=DeliveryStatus.FAILED, reason=reason, finished_at=now)
                stats.fail(reason)
            else:
                record.update(status=DeliveryStatus.SKIPPED, reason=reason, finished_at=now)
                stats.skip(reason)
            records.append(record)
            schedule.next_due_at = self._next_due(person, schedule, due, now)

        inserted = await self._insert_deliveries(session, records)
        stats.claimed += len(rows)
        people = {person.id: person for _, person in rows}
        outgoing = []
        unrenderable = []
        for record in records:
            delivery_id = inserted.get((record["schedule_id"], record["due_at"]))
            if delivery_id is None or record["status"] is not DeliveryStatus.CLAIMED:
                continue
            person = people[record["person_id"]]
            try:
                item = self.catalog.item(person.language, record["content_id"])
                assert item is not None
                outgoing.append(
                    self._render(
                        person,
                        delivery_id,
                        due_at=record["due_at"],
                        item_text=item.text,
                        lease=lease,
                        kind=record["kind"],
                    )
                )
            except Exception as exc:
                _log_internal("rendering delivery %s", delivery_id, person.id, exc)
                unrenderable.append(delivery_id)
                stats.fail(Reason.INTERNAL)
        if unrenderable:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_(unrenderable))
                .values(
                    status=DeliveryStatus.FAILED,
                    reason=Reason.INTERNAL,
                    retry_at=None,
                    finished_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        return outgoing

    def _next_due(
        self, person: Person, schedule: Schedule, due: datetime, now: datetime
    ) -> datetime | None:
        try:
            return occurrence_after(person, schedule, max(due, now))
        except Exception as exc:
            # Neither stall the batch with this row nor silently end their reminders: try
            # again in a day (each failure is recorded and logged by id).
            _log_internal("scheduling after schedule %s", schedule.id, person.id, exc)
            return max(due, now) + timedelta(days=1)

    def _skip_reason(
        self,
        person: Person,
        schedule: Schedule,
        due: datetime,
        now: datetime,
        latest: dict[int, tuple[Schedule, datetime]],
    ) -> Reason | None:
        if now - due > self.stale_after:
            return Reason.STALE
        if latest[person.id][0].id != schedule.id:
            return Reason.COALESCED
        if (blocked := _may_send(person, now)) is not None:
            return blocked
        if in_quiet_hours(due, person.timezone, person.quiet_start, person.quiet_end):
            return Reason.QUIET_HOURS
        return None

    def _choose(self, person: Person, schedule: Schedule) -> ContentItem | None:
        pool = self.catalog.items(
            person.language, _kinds_for(person, schedule), ContentAudience(person.audience.value)
        )
        item = pick(pool, person.content_seed, person.content_position)
        if item is not None:
            person.content_position += 1
        return item

    async def _insert_deliveries(
        self, session: AsyncSession, records: list[dict[str, Any]]
    ) -> dict[tuple[int, datetime], int]:
        """Insert, ignoring occurrences that already have a delivery (the unique key is what
        makes a second send of the same occurrence impossible)."""
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        columns = ["status", "reason", "retry_at", "finished_at", "kind", "content_id"]
        for record in records:
            for column in columns:
                record.setdefault(column, None)
        statement = (
            insert(Delivery)
            .on_conflict_do_nothing(index_elements=["schedule_id", "due_at"])
            .returning(Delivery.id, Delivery.schedule_id, Delivery.due_at)
        )
        result = await session.execute(statement, records)
        return {(row.schedule_id, row.due_at): row.id for row in result}

    async def _claim_retries(
        self, session: AsyncSession, now: datetime, stats: TickStats
    ) -> list[Outgoing]:
        """Deliveries whose backoff passed, or whose lease ran out because a process died."""
        query = (
            select(Delivery, Person)
            .join(Person, Person.id == Delivery.person_id)
            .where(Delivery.status == DeliveryStatus.CLAIMED, Delivery.retry_at <= now)
            .order_by(Delivery.retry_at)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True, of=Delivery)
        )
        rows = (await session.execute(query)).all()
        outgoing = []
        lease = now + LEASE
        for delivery, person in rows:
            if delivery.reason == Reason.IN_FLIGHT:
                # The lease ran out mid-send: Telegram may or may not have the message.
                delivery.uncertain += 1
            try:
                reason = _may_send(person, now)
                if now - delivery.due_at > self.stale_after:
                    reason = Reason.STALE
                elif delivery.uncertain > 1:
                    reason = Reason.UNCERTAIN
                item = self.catalog.item(person.language, delivery.content_id or "")
                if reason is None and item is None:
                    reason = Reason.NO_CONTENT
                if reason is None:
                    assert item is not None
                    message = self._render(
                        person,
                        delivery.id,
                        due_at=delivery.due_at,
                        item_text=item.text,
                        lease=lease,
                        kind=delivery.kind,
                        uncertain=delivery.uncertain,
                        attempts=delivery.attempts,
                    )
            except Exception as exc:  # one bad row must not roll back the others' claim
                _log_internal("retrying delivery %s", delivery.id, person.id, exc)
                reason = Reason.INTERNAL
            if reason is not None:
                failed = reason in {Reason.STALE, Reason.UNCERTAIN, Reason.INTERNAL}
                delivery.status = DeliveryStatus.FAILED if failed else DeliveryStatus.SKIPPED
                delivery.reason = reason
                delivery.retry_at = None
                delivery.finished_at = now
                if failed:
                    stats.fail(reason)
                else:
                    stats.skip(reason)
                continue
            delivery.reason = Reason.IN_FLIGHT
            delivery.retry_at = lease
            stats.retried += 1
            outgoing.append(message)
        return outgoing

    def _render(
        self,
        person: Person,
        delivery_id: int,
        *,
        due_at: datetime,
        item_text: str,
        lease: datetime,
        kind: str | None,
        uncertain: int = 0,
        attempts: int = 0,
    ) -> Outgoing:
        return Outgoing(
            delivery_id=delivery_id,
            person_id=person.id,
            chat_id=person.chat_id,
            due_at=due_at,
            text=reminder_text(
                self.catalog, person.language, item_text, discreet=person.discreet_preview
            ),
            markup=reminder_markup(self.catalog, person.language, delivery_id),
            silent=person.silent,
            uncertain=uncertain,
            attempts=attempts,
            lease=lease,
            kind=kind,
        )

    # ----------------------------------------------------------------- sending
    async def _send_all(self, outgoing: Sequence[Outgoing], stats: TickStats) -> None:
        semaphore = asyncio.Semaphore(MAX_IN_FLIGHT)
        outgoing = sorted(outgoing, key=lambda message: message.due_at)
        # Not yet finished, so their leases are kept alive while they wait.
        pending = {message.delivery_id: message for message in outgoing}
        keeper = asyncio.create_task(self._keep_leases(pending))
        try:
            for start in range(0, len(outgoing), self.recheck_every):
                chunk = outgoing[start : start + self.recheck_every]
                checked_at = self.changes.now()
                blocked = await self._blocked_people({o.person_id for o in chunk})
                outcomes: list[_Outcome] = []

                async def one(
                    message: Outgoing,
                    checked_at: float = checked_at,
                    blocked: dict[int, Gate] = blocked,
                    outcomes: list[_Outcome] = outcomes,
                ) -> None:
                    async with semaphore:
                        outcome = await self._send_one(message, checked_at, blocked, stats)
                    if outcome is not None:
                        outcomes.append(outcome)

                await asyncio.gather(*(one(message) for message in chunk))
                # Written per chunk: a crash or a database error repeats at most this chunk.
                await self._record(outcomes)
                for message in chunk:
                    del pending[message.delivery_id]
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        # One more try for outcomes a database error held back; if it still fails the tick
        # fails (logged once), and the next tick writes them before it claims anything.
        await self._flush()

    async def _blocked_people(self, person_ids: Iterable[int]) -> dict[int, Gate]:
        """Who may no longer be sent to, read fresh from the database."""
        now = self.clock()
        async with self.sessions.begin() as session:
            people = (
                await session.execute(select(Person).where(Person.id.in_(list(person_ids))))
            ).scalars()
            return {p.id: Gate(_may_send(p, now), not couple_prompts_due(p, now)) for p in people}

    async def _send_one(
        self,
        message: Outgoing,
        checked_at: float,
        blocked: dict[int, Gate],
        stats: TickStats,
    ) -> _Outcome | None:
        """Send one message; what to record, or None to leave the row as it is."""
        try:
            return await self._try_send(message, checked_at, blocked, stats)
        except Exception as exc:  # a bug or bad data in one message never stops the others
            _log_internal("sending delivery %s", message.delivery_id, message.person_id, exc)
            stats.fail(Reason.INTERNAL)
            return self._finish(message, DeliveryStatus.FAILED, Reason.INTERNAL)

    async def _try_send(
        self,
        message: Outgoing,
        checked_at: float,
        blocked: dict[int, Gate],
        stats: TickStats,
    ) -> _Outcome | None:
        for _ in range(MAX_IN_TASK_429_WAITS + 1):
            if not await self._wait_until_due(message):
                # Due later than the lookahead: the clock stepped back since the claim (or a
                # jump forward was undone). Hand it back to go out when it is due.
                stats.reasons["released"] += 1
                return self._release(message, retry_at=message.due_at)
            await self.pacer.slot(message.chat_id)
            if message.lost:
                return None  # the lease ran out and another instance may be sending it
            if self.clock() >= message.lease - LEASE_MARGIN:
                # The lease could not be renewed in time (database unreachable?): unsent, so
                # hand it back rather than risk a second instance sending it too.
                stats.reasons["released"] += 1
                return self._release(message, retry_at=self.clock())
            # Last look right before the send: a pause or stop in this process since the
            # snapshot forces a fresh read of this one person.
            if self.changes.since(message.person_id, checked_at):
                try:
                    fresh = await self._blocked_people([message.person_id])
                except (SQLAlchemyError, OSError):
                    return None  # unsent and still claimed: it comes back after the lease
                blocked[message.person_id] = fresh.get(message.person_id, Gate(Reason.INACTIVE))
                checked_at = self.changes.now()
            gate = blocked.get(message.person_id, Gate(Reason.INACTIVE))
            if (reason := gate.reason_for(message.kind)) is not None:
                stats.skip(reason)
                return self._finish(message, DeliveryStatus.SKIPPED, reason)
            try:
                sent = await self.bot.send_message(
                    message.chat_id,
                    message.text,
                    reply_markup=message.markup,
                    disable_notification=message.silent,
                    protect_content=self.protect_content,
                )
            except RetryAfter as exc:
                # Wait out Telegram's retry_after for everyone, then send this one after it.
                stats.rate_limited += 1
                self.pacer.block_for(retry_after_seconds(exc))
                continue
            except Forbidden:
                return self._unreachable(message, Reason.BLOCKED, stats)
            except BadRequest as exc:
                if "chat not found" in exc.message.lower():
                    return self._unreachable(message, Reason.CHAT_NOT_FOUND, stats)
                log.warning("delivery %s rejected by Telegram", message.delivery_id)
                stats.fail(Reason.REJECTED)
                return self._finish(message, DeliveryStatus.FAILED, Reason.REJECTED)
            except NetworkError as exc:  # TimedOut included
                if never_reached_telegram(exc):
                    stats.reasons["network"] += 1
                    return self._retry(message, uncertain=False)
                # The request may have reached Telegram: repeat it at most once.
                stats.reasons["timeout" if isinstance(exc, TimedOut) else "network_uncertain"] += 1
                return self._retry(message, uncertain=True)
            except TelegramError as exc:
                log.error("delivery %s failed: %s", message.delivery_id, type(exc).__name__)
                stats.fail(Reason.REJECTED)
                return self._finish(message, DeliveryStatus.FAILED, Reason.REJECTED)
            now = self.clock()
            stats.send((now - message.due_at).total_seconds())
            return _Outcome(
                message,
                DeliveryStatus.SENT,
                None,
                retry_at=None,
                finished_at=now,
                attempts=message.attempts + 1,
                uncertain=message.uncertain,
                telegram_message_id=sent.message_id,
            )
        # Still rate limited after several waits: hand it to a later tick.
        return self._retry(message, uncertain=False)

    async def _wait_until_due(self, message: Outgoing) -> bool:
        """Sleep until the message is due by the bot's clock, never longer than the lookahead
        at a time. False if it is due further ahead than that."""
        limit = self.lookahead.total_seconds()
        for _ in range(3):
            early = (message.due_at - self.clock()).total_seconds()
            if early <= 0:
                return True
            if early > limit:
                return False
            await asyncio.sleep(early)
        return message.due_at <= self.clock()

    def _unreachable(self, message: Outgoing, reason: Reason, stats: TickStats) -> _Outcome:
        stats.fail(reason)
        outcome = self._finish(message, DeliveryStatus.FAILED, reason)
        outcome.unreachable = True
        return outcome

    def _finish(self, message: Outgoing, status: DeliveryStatus, reason: Reason) -> _Outcome:
        return _Outcome(
            message,
            status,
            reason,
            retry_at=None,
            finished_at=self.clock(),
            attempts=message.attempts,
            uncertain=message.uncertain,
        )

    def _retry(self, message: Outgoing, *, uncertain: bool) -> _Outcome:
        attempts = message.attempts + 1
        # Exponential backoff, capped; the stale cut-off ends the retries.
        delay = timedelta(seconds=min(300, 2 ** min(attempts, 8)))
        return _Outcome(
            message,
            DeliveryStatus.CLAIMED,
            Reason.RETRY,
            retry_at=self.clock() + delay,
            finished_at=None,
            attempts=attempts,
            uncertain=message.uncertain + (1 if uncertain else 0),
        )

    def _release(self, message: Outgoing, *, retry_at: datetime) -> _Outcome:
        """Unsent, and no attempt made: claimable again from ``retry_at``."""
        return _Outcome(
            message,
            DeliveryStatus.CLAIMED,
            Reason.RETRY,
            retry_at=retry_at,
            finished_at=None,
            attempts=message.attempts,
            uncertain=message.uncertain,
        )

    # ----------------------------------------------------------------- recording
    async def _record(self, outcomes: list[_Outcome]) -> None:
        self._unrecorded.extend(outcomes)
        try:
            await self._flush()
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "outcomes of %d deliveries not written yet (%s); trying again",
                len(self._unrecorded),
                type(exc).__name__,
            )

    async def _flush(self) -> None:
        """Write outcomes, each only to a row this claim still holds: claimed, with the lease
        it wrote. A row another instance took over after the lease ran out keeps its state."""
        if not self._unrecorded:
            return
        async with self._write_lock:
            outcomes = list(self._unrecorded)
            table = cast(Table, Delivery.__table__)
            statement = (
                update(table)
                .where(
                    table.c.id == bindparam("delivery_id"),
                    table.c.status == DeliveryStatus.CLAIMED,
                    table.c.retry_at == bindparam("lease"),
                )
                .values({column: bindparam(column) for column in _OUTCOME_COLUMNS})
            )
            rows = [
                {
                    "delivery_id": o.message.delivery_id,
                    "lease": o.message.lease,
                    "status": o.status,
                    "reason": o.reason,
                    "retry_at": o.retry_at,
                    "finished_at": o.finished_at,
                    "attempts": o.attempts,
                    "uncertain": o.uncertain,
                    "telegram_message_id": o.telegram_message_id,
                }
                for o in outcomes
            ]
            unreachable = sorted({o.message.person_id for o in outcomes if o.unreachable})
            now = self.clock()
            async with self.sessions.begin() as session:
                # Core executemany, not the ORM's bulk update: a person who erased themselves
                # mid-send took their delivery rows along, and that must not fail the batch.
                await session.execute(statement, rows)
                if unreachable:
                    await session.execute(
                        update(Person)
                        .where(Person.id.in_(unreachable))
                        .values(reachable=False, unreachable_since=now)
                    )
                    await session.execute(
                        update(Schedule)
                        .where(Schedule.person_id.in_(unreachable))
                        .values(next_due_at=None)
                    )
                    log.info("marked %d people unreachable", len(unreachable))
            del self._unrecorded[: len(outcomes)]

    async def _keep_leases(self, pending: dict[int, Outgoing]) -> None:
        """Renew the lease of a batch still sending (429 waits can outlast it), so no other
        instance takes it over. A row whose lease was already taken is marked lost."""
        while True:
            await asyncio.sleep(self.lease_check_seconds)
            now = self.clock()
            expiring = [m for m in pending.values() if m.lease - now <= RENEW_WHEN_LEFT]
            if not expiring:
                continue
            try:
                await self._renew(expiring, now + LEASE)
            except (SQLAlchemyError, OSError) as exc:
                # Sends stop by themselves before the old lease ends (LEASE_MARGIN).
                log.warning("could not renew %d leases: %s", len(expiring), type(exc).__name__)

    async def _renew(self, messages: list[Outgoing], lease: datetime) -> None:
        by_lease: dict[datetime, list[int]] = defaultdict(list)
        for message in messages:
            by_lease[message.lease].append(message.delivery_id)
        kept: set[int] = set()
        async with self._write_lock, self.sessions.begin() as session:
            for old, ids in by_lease.items():
                result = await session.execute(
                    update(Delivery)
                    .where(
                        Delivery.id.in_(ids),
                        Delivery.status == DeliveryStatus.CLAIMED,
                        Delivery.retry_at == old,
                    )
                    .values(retry_at=lease)
                    .returning(Delivery.id)
                    .execution_options(synchronize_session=False)
                )
                kept.update(result.scalars())
        for message in messages:
            if message.delivery_id in kept:
                message.lease = lease
            else:
                message.lost = True

    # ----------------------------------------------------------------- pause ends
    async def _end_pauses(
        self, session: AsyncSession, now: datetime, stats: TickStats
    ) -> list[tuple[int, int, str]]:
        """Pauses that ran out end with one gentle line, sent outside quiet hours. Runs in the
        claim's transaction."""
        notices: list[tuple[int, int, str]] = []
        due: ColumnElement[bool] = Person.paused_until <= now
        # ORDER BY keeps PostgreSQL on the index even with a generic plan for '<= $1'.
        query = (
            select(Person)
            .where(due)
            .order_by(Person.paused_until)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        for person in (await session.execute(query)).scalars():
            active = person.consent is ConsentState.GIVEN and person.reachable
            try:
                quiet = active and in_quiet_hours(
                    now, person.timezone, person.quiet_start, person.quiet_end
                )
            except Exception as exc:  # e.g. a zone gone from tzdata: end it, don't stall all
                _log_internal("ending the pause of person %s", person.id, person.id, exc)
                quiet = False
            if quiet:
                continue  # the pause ends when the line can be sent
            person.paused_at = None
            person.paused_until = None
            stats.pause_ends += 1
            if active:
                notices.append((person.id, person.chat_id, person.language))
        return notices

    async def _send_pause_ends(self, notices: list[tuple[int, int, str]]) -> None:
        for person_id, chat_id, lang in notices:
            await self.pacer.slot(chat_id)
            try:
                await self.bot.send_message(
                    chat_id,
                    self.catalog.text("pause.ended_by_itself", lang),
                    protect_content=self.protect_content,
                )
            except TelegramError as exc:
                log.warning(
                    "pause-end line for person %s not sent: %s", person_id, type(exc).__name__
                )


_OUTCOME_COLUMNS = (
    "status",
    "reason",
    "retry_at",
    "finished_at",
    "attempts",
    "uncertain",
    "telegram_message_id",
)


def _log_internal(what: str, item_id: int, person_id: int, error: BaseException) -> None:
    # Ids and the error's type only: an exception's message may quote a person's words.
    log.error("internal error %s (person %s): %s", what % item_id, person_id, type(error).__name__)
