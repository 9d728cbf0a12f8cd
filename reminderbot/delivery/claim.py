"""Claiming: the SQL that takes a bounded batch of due work, inside the caller's transaction.

``FOR UPDATE SKIP LOCKED`` on PostgreSQL lets several instances share the work. Each due
occurrence gets one delivery row under the unique key (schedule_id, due_at), which is what
makes a second send of the same occurrence impossible, and its schedule moves on. A claimed row
carries a lease (its ``retry_at``): every later write to it is guarded by that lease.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Executable,
    Result,
    Row,
    Table,
    bindparam,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.content import Audience as ContentAudience
from reminderbot.content import Catalog, ContentItem
from reminderbot.delivery.batch import Outgoing, Reason, TickStats, log_internal
from reminderbot.delivery.policy import (
    GATE_READS,
    Gate,
    GateFacts,
    Policy,
    kinds_for,
    latest_due,
    retry_end,
)
from reminderbot.delivery.reminder import reminder_keyboard, reminder_text
from reminderbot.delivery.rotation import pick
from reminderbot.services.schedules import occurrence_after
from reminderbot.services.timekeeping import in_quiet_hours
from reminderbot.storage.models import ConsentState, Delivery, DeliveryStatus, Person, Schedule

LEASE = timedelta(minutes=2)
# Rows judged between two looks at the event loop while claiming (see ``occurrences``).
YIELD_EVERY = 50
# Rows written by one statement while claiming.
WRITE_PART = 250

# A schedule's next occurrence by (local time, timezone, weekdays, after), within one claim.
_NextDueMemo = dict[tuple[time, str, int, datetime], datetime | None]

_PEOPLE = cast(Table, Person.__table__)
_SCHEDULES = cast(Table, Schedule.__table__)
_DELIVERIES = cast(Table, Delivery.__table__)
# A person's next line in their rotation (``updated_at`` follows, as on any change).
_ROTATE = (
    update(_PEOPLE)
    .where(_PEOPLE.c.id == bindparam("key"))
    .values(content_position=bindparam("position"))
)
_ADVANCE = (
    update(_SCHEDULES)
    .where(_SCHEDULES.c.id == bindparam("key"))
    .values(next_due_at=bindparam("next_due_at"))
)
# The fresh read right before sending: plain columns, no ORM objects (it runs per chunk).
_GATES = select(Person.id, *GATE_READS).where(Person.id.in_(bindparam("ids", expanding=True)))


async def _in_parts(
    session: AsyncSession, statement: Executable, rows: list[dict[str, Any]]
) -> list[Result[Any]]:
    """Execute for many rows, a part at a time with a look at the event loop between parts:
    preparing thousands of rows (encrypting some of their values) at once would hold up the
    sends of a batch still going out (see ``YIELD_EVERY``)."""
    results = []
    for start in range(0, len(rows), WRITE_PART):
        if start:
            await asyncio.sleep(0)
        results.append(await session.execute(statement, rows[start : start + WRITE_PART]))
    return results


async def read_gates(
    session: AsyncSession, person_ids: Iterable[int], now: datetime
) -> dict[int, Gate]:
    """What each person allows now; someone not found (erased) is absent."""
    rows = await session.execute(_GATES, {"ids": list(person_ids)})
    return {row.id: Gate.of(cast(GateFacts, row), now) for row in rows}


@dataclass(frozen=True, slots=True)
class Earliest:
    """The earliest moments the dispatcher cares about, read in one query each tick."""

    due: datetime | None  # the next occurrence of any schedule
    retry: datetime | None  # the next claimed delivery to try again (or whose lease ends)
    pause_end: datetime | None
    claimed_due: datetime | None  # the due time of the oldest claimed, unsent delivery

    def anything_due(self, now: datetime, ahead: timedelta) -> bool:
        return (
            (self.due is not None and self.due <= now + ahead)
            or (self.retry is not None and self.retry <= now)
            or (self.pause_end is not None and self.pause_end <= now)
        )

    def oldest_unsent(self) -> datetime | None:
        """The due time of the oldest reminder not yet sent: a schedule's next occurrence
        or a claimed delivery's (it is overdue once this is in the past)."""
        times = [t for t in (self.due, self.claimed_due) if t is not None]
        return min(times) if times else None


@dataclass(frozen=True, slots=True)
class PauseEnd:
    """A pause that ran out: one gentle line goes to this chat."""

    person_id: int
    chat_id: int
    language: str


@dataclass(slots=True)
class NewDelivery:
    """One delivery row to insert for a due occurrence."""

    person_id: int
    schedule_id: int
    due_at: datetime
    claimed_at: datetime
    status: DeliveryStatus
    reason: Reason
    retry_at: datetime | None = None
    finished_at: datetime | None = None
    kind: str | None = None
    content_id: str | None = None

    def row(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "schedule_id": self.schedule_id,
            "due_at": self.due_at,
            "claimed_at": self.claimed_at,
            "attempts": 0,
            "uncertain": 0,
            "status": self.status,
            "reason": self.reason,
            "retry_at": self.retry_at,
            "finished_at": self.finished_at,
            "kind": self.kind,
            "content_id": self.content_id,
        }


class Claimer:
    def __init__(self, catalog: Catalog, policy: Policy) -> None:
        self.catalog = catalog
        self.policy = policy

    async def earliest(self, session: AsyncSession) -> Earliest:
        """One cheap question before any claiming, since most ticks find nothing to do: the
        earliest due schedule, retry and pause end. MIN over an index is one index probe on
        both databases and takes no parameters, so PostgreSQL's generic plan for a prepared
        statement cannot turn it into a sequential scan, as it does for 'EXISTS ... <= $1'.
        Only claimed deliveries carry a retry_at, so its minimum needs no status filter.
        Only when some are claimed, a second query finds the oldest one's due time (for
        /metrics): an idle tick stays one query."""
        earliest = select(
            select(func.min(Schedule.next_due_at)).scalar_subquery(),
            select(func.min(Delivery.retry_at)).scalar_subquery(),
            select(func.min(Person.paused_until)).scalar_subquery(),
        )
        due, retry, pause_end = (await session.execute(earliest)).one()
        claimed_due = None
        if retry is not None:
            claimed_due = await session.scalar(
                select(func.min(Delivery.due_at)).where(Delivery.retry_at.is_not(None))
            )
        return Earliest(due, retry, pause_end, claimed_due)

    # ----------------------------------------------------------------- pause ends
    async def end_pauses(
        self, session: AsyncSession, now: datetime, limit: int, stats: TickStats
    ) -> list[PauseEnd]:
        """Pauses that ran out end with one gentle line, sent outside quiet hours."""
        notices: list[PauseEnd] = []
        due: ColumnElement[bool] = Person.paused_until <= now
        # ORDER BY keeps PostgreSQL on the index even with a generic plan for '<= $1'.
        query = (
            select(Person)
            .where(due)
            .order_by(Person.paused_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        for person in (await session.execute(query)).scalars():
            active = person.consent is ConsentState.GIVEN and person.reachable
            try:
                quiet = active and in_quiet_hours(
                    now, person.timezone, person.quiet_start, person.quiet_end
                )
            except Exception as exc:  # e.g. a zone gone from tzdata: end it, don't stall all
                log_internal("ending the pause of person %s", person.id, person.id, exc)
                quiet = False
            if quiet:
                continue  # the pause ends when the line can be sent
            person.paused_at = None
            person.paused_until = None
            stats.pause_ends += 1
            if active:
                notices.append(PauseEnd(person.id, person.chat_id, person.language))
        return notices

    # ----------------------------------------------------------------- retries
    async def retries(
        self, session: AsyncSession, now: datetime, limit: int, stats: TickStats
    ) -> list[Outgoing]:
        """Deliveries whose backoff passed, or whose lease ran out because a process died."""
        query = (
            select(Delivery, Person)
            .join(Person, Person.id == Delivery.person_id)
            .where(Delivery.status == DeliveryStatus.CLAIMED, Delivery.retry_at <= now)
            .order_by(Delivery.retry_at)
            .limit(limit)
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
                reason = self.policy.retry_skip(person, delivery.due_at, delivery.uncertain, now)
                item = self.catalog.item(person.language, delivery.content_id or "")
                if reason is None and item is None:
                    reason = Reason.NO_CONTENT
                if reason is None:
                    assert item is not None
                    message = self.render(
                        person,
                        delivery.id,
                        due_at=delivery.due_at,
                        item=item,
                        lease=lease,
                        kind=delivery.kind,
                        uncertain=delivery.uncertain,
                        attempts=delivery.attempts,
                    )
            except Exception as exc:  # one bad row must not roll back the others' claim
                log_internal("retrying delivery %s", delivery.id, person.id, exc)
                reason = Reason.INTERNAL
            if reason is not None:
                delivery.status = retry_end(reason)
                delivery.reason = reason
                delivery.retry_at = None
                delivery.finished_at = now
                stats.end(delivery.status, reason)
                continue
            delivery.reason = Reason.IN_FLIGHT
            delivery.retry_at = lease
            stats.retried += 1
            outgoing.append(message)
        return outgoing

    # ----------------------------------------------------------------- occurrences
    async def occurrences(
        self,
        session: AsyncSession,
        now: datetime,
        ahead: timedelta,
        limit: int,
        stats: TickStats,
    ) -> list[Outgoing]:
        """Occurrences due by ``now + ahead``: one delivery row each, sent or skipped by rule,
        and each schedule moved on to its next occurrence."""
        query = (
            select(Schedule, Person)
            .join(Person, Person.id == Schedule.person_id)
            .where(Schedule.next_due_at <= now + ahead)
            .order_by(Schedule.next_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Schedule)
        )
        # Streamed in parts with a look at the event loop between them: a claim made while a
        # batch still sends (claimed ahead) then never holds those sends up for long.
        rows: list[Row[Schedule, Person]] = []
        async for part in (await session.stream(query)).partitions(YIELD_EVERY):
            rows.extend(part)
            await asyncio.sleep(0)
        if not rows:
            return []
        latest = latest_due(rows)
        lease = now + LEASE
        records: list[NewDelivery] = []
        advanced: list[dict[str, Any]] = []
        rotated: list[dict[str, Any]] = []
        memo: _NextDueMemo = {}
        for number, (schedule, person) in enumerate(rows, 1):
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # nothing written yet, so no write lock is held
            due = schedule.next_due_at
            assert due is not None
            record = self._judge(person, schedule, due, now, latest[person.id], lease)
            if record.status is not DeliveryStatus.CLAIMED:
                stats.end(record.status, record.reason)
            elif record.content_id is not None:  # a line was picked: their rotation moves on
                rotated.append({"key": person.id, "position": person.content_position + 1})
            records.append(record)
            next_due = self._next_due(person, schedule, due, now, memo)
            advanced.append({"key": schedule.id, "next_due_at": next_due})

        # Core executemany rather than the ORM's unit of work, which costs more than the SQL
        # at thousands of rows; by id, the order the ORM takes its row locks in.
        if rotated:
            rotated.sort(key=lambda row: row["key"])
            await _in_parts(session, _ROTATE, rotated)
        advanced.sort(key=lambda row: row["key"])
        await _in_parts(session, _ADVANCE, advanced)
        inserted = await self._insert(session, records)
        stats.claimed += len(rows)
        people = {person.id: person for _, person in rows}
        outgoing = []
        unrenderable = []
        for number, record in enumerate(records, 1):
            if number % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            delivery_id = inserted.get((record.schedule_id, record.due_at))
            if delivery_id is None or record.status is not DeliveryStatus.CLAIMED:
                continue
            person = people[record.person_id]
            try:
                item = self.catalog.item(person.language, record.content_id or "")
                assert item is not None
                outgoing.append(
                    self.render(
                        person,
                        delivery_id,
                        due_at=record.due_at,
                        item=item,
                        lease=lease,
                        kind=record.kind,
                    )
                )
            except Exception as exc:
                log_internal("rendering delivery %s", delivery_id, person.id, exc)
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

    def _judge(
        self,
        person: Person,
        schedule: Schedule,
        due: datetime,
        now: datetime,
        latest: int,
        lease: datetime,
    ) -> NewDelivery:
        """The row for one due occurrence: claimed with its content, or ended with a reason."""
        kind = content_id = None
        try:
            reason = self.policy.occurrence_skip(person, schedule, due, now, latest)
            if reason is None:
                item = self._choose(person, schedule)
                if item is None:
                    reason = Reason.NO_CONTENT
                else:
                    kind, content_id = item.kind.value, item.id
        except Exception as exc:  # one bad row must not roll back everyone's claim
            log_internal("preparing schedule %s", schedule.id, person.id, exc)
            reason = Reason.INTERNAL
        record = NewDelivery(
            person.id,
            schedule.id,
            due,
            claimed_at=now,
            status=DeliveryStatus.CLAIMED,
            reason=Reason.IN_FLIGHT,
            kind=kind,
            content_id=content_id,
        )
        if reason is None:
            record.retry_at = lease
        else:
            failed = reason is Reason.INTERNAL
            record.status = DeliveryStatus.FAILED if failed else DeliveryStatus.SKIPPED
            record.reason = reason
            record.finished_at = now
        return record

    def _choose(self, person: Person, schedule: Schedule) -> ContentItem | None:
        pool = self.catalog.items(
            person.language, kinds_for(person, schedule), ContentAudience(person.audience.value)
        )
        return pick(pool, person.content_seed, person.content_position)

    @staticmethod
    def _next_due(
        person: Person, schedule: Schedule, due: datetime, now: datetime, memo: _NextDueMemo
    ) -> datetime | None:
        after = max(due, now)
        # All that occurrence_after reads: occurrences in one batch share it often (everyone
        # at 09:00 in one zone), and working it out is a good part of what a claim costs.
        key = (schedule.local_time, person.timezone, person.weekdays, after)
        try:
            if key not in memo:
                memo[key] = occurrence_after(person, schedule, after)
            return memo[key]
        except Exception as exc:
            # Neither stall the batch with this row nor silently end their reminders: try
            # again in a day (each failure is recorded and logged by id).
            log_internal("scheduling after schedule %s", schedule.id, person.id, exc)
            return max(due, now) + timedelta(days=1)

    @staticmethod
    async def _insert(
        session: AsyncSession, records: list[NewDelivery]
    ) -> dict[tuple[int, datetime], int]:
        """Insert, ignoring occurrences that already have a delivery (the unique key is what
        makes a second send of the same occurrence impossible)."""
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(_DELIVERIES)
            .on_conflict_do_nothing(index_elements=["schedule_id", "due_at"])
            .returning(_DELIVERIES.c.id, _DELIVERIES.c.schedule_id, _DELIVERIES.c.due_at)
        )
        results = await _in_parts(session, statement, [record.row() for record in records])
        return {(row.schedule_id, row.due_at): row.id for result in results for row in result}

    # ----------------------------------------------------------------- the message
    def render(
        self,
        person: Person,
        delivery_id: int,
        *,
        due_at: datetime,
        item: ContentItem,
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
                self.catalog, person.language, item.text, discreet=person.discreet_preview
            ),
            keyboard=reminder_keyboard(self.catalog, person.language, delivery_id),
            silent=person.silent,
            uncertain=uncertain,
            attempts=attempts,
            lease=lease,
            kind=kind,
            language=person.language,
            content_id=item.id,
            discreet=person.discreet_preview,
        )

    def say_in(self, message: Outgoing, language: str) -> None:
        """Render ``message`` again in ``language``, chosen after it was claimed (in place: the
        lease keeper marks this object). It stays as it was if its line has no translation
        there (a fuzzy or missing line is never said)."""
        item = self.catalog.translated_item(language, message.content_id or "")
        if item is None:
            return
        message.text = reminder_text(self.catalog, language, item.text, discreet=message.discreet)
        message.keyboard = reminder_keyboard(self.catalog, language, message.delivery_id)
        message.language = language
