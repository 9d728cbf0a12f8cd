"""Recording outcomes, and keeping a batch's leases alive while it sends.

Outcomes are committed per small chunk, so a crash repeats at most the chunk in flight. Each
write goes only to a row this claim still holds: claimed, with the lease it wrote. A row
another instance took over after the lease ran out keeps its state.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, update
from sqlalchemy.exc import SQLAlchemyError

from reminderbot.delivery.batch import Outcome, Outgoing, log
from reminderbot.delivery.claim import LEASE
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import Delivery, DeliveryStatus, Person, Schedule

# A live claim renews its lease once less than this is left.
RENEW_WHEN_LEFT = LEASE / 2

_DELIVERIES = cast(Table, Delivery.__table__)
# Core executemany, not the ORM's bulk update: a person who erased themselves mid-send took
# their delivery rows along, and that must not fail the batch.
_WRITE_OUTCOME = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("delivery_id"),
        _DELIVERIES.c.status == DeliveryStatus.CLAIMED,
        _DELIVERIES.c.retry_at == bindparam("lease"),
    )
    .values(
        {
            column: bindparam(column)
            for column in (
                "status",
                "reason",
                "retry_at",
                "finished_at",
                "attempts",
                "uncertain",
                "telegram_message_id",
            )
        }
    )
)


def _row(outcome: Outcome) -> dict[str, Any]:
    return {
        "delivery_id": outcome.message.delivery_id,
        "lease": outcome.message.lease,
        "status": outcome.status,
        "reason": outcome.reason,
        "retry_at": outcome.retry_at,
        "finished_at": outcome.finished_at,
        "attempts": outcome.attempts,
        "uncertain": outcome.uncertain,
        "telegram_message_id": outcome.telegram_message_id,
    }


class Recorder:
    """Writes outcomes; those a database error held back stay here and are written before
    anything else is claimed, so a database error after the sends does not make the batch go
    out again."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.unrecorded: list[Outcome] = []
        self._write_lock = asyncio.Lock()  # lease renewals and outcome writes, one at a time

    async def record(self, sessions: SessionFactory, outcomes: list[Outcome]) -> None:
        self.unrecorded.extend(outcomes)
        try:
            await self.flush(sessions)
        except (SQLAlchemyError, OSError) as exc:
            log.warning(
                "outcomes of %d deliveries not written yet (%s); trying again",
                len(self.unrecorded),
                type(exc).__name__,
            )

    async def flush(self, sessions: SessionFactory) -> None:
        """Write every outcome held; raises if the database refuses (they stay held)."""
        if not self.unrecorded:
            return
        async with self._write_lock:
            outcomes = list(self.unrecorded)
            unreachable = sorted({o.message.person_id for o in outcomes if o.unreachable})
            now = self.clock()
            async with sessions.begin() as session:
                await session.execute(_WRITE_OUTCOME, [_row(o) for o in outcomes])
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
            del self.unrecorded[: len(outcomes)]

    async def keep_leases(
        self, sessions: SessionFactory, pending: Mapping[int, Outgoing], every: float
    ) -> None:
        """Renew the lease of a batch still sending (429 waits can outlast it), so no other
        instance takes it over. A row whose lease was already taken is marked lost."""
        while True:
            await asyncio.sleep(every)
            now = self.clock()
            expiring = [m for m in pending.values() if m.lease - now <= RENEW_WHEN_LEFT]
            if not expiring:
                continue
            try:
                await self.renew(sessions, expiring, now + LEASE)
            except (SQLAlchemyError, OSError) as exc:
                # Sends stop by themselves before the old lease ends (LEASE_MARGIN).
                log.warning("could not renew %d leases: %s", len(expiring), type(exc).__name__)

    async def renew(
        self, sessions: SessionFactory, messages: list[Outgoing], lease: datetime
    ) -> None:
        by_lease: dict[datetime, list[int]] = defaultdict(list)
        for message in messages:
            by_lease[message.lease].append(message.delivery_id)
        kept: set[int] = set()
        async with self._write_lock, sessions.begin() as session:
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
