"""Nothing is kept for ever: how long each thing is kept, and the daily purge that keeps to it.

- Check-ins and their notes: the person's own choice in /settings (``people.keep_checkins_days``),
  else the practice's ``checkin_keep_days``, never longer than ``checkin_keep_max_days``.
- People who stopped, or whom Telegram could not reach (they blocked the bot), for
  ``erase_inactive_after_days``: erased exactly as /delete erases them (``leaving.erase``), the
  partner told the same neutral line.
- Deliveries: which line a reminder was (``content_id``, ``kind``, the message id) for
  ``delivery_detail_days``. Rotation needs none of it (``delivery/rotation.py`` walks a seed and
  a position, it never looks back at what was sent); a retry needs it only while CLAIMED, and
  those rows are never touched. After that only what ``reminderbot stats`` counts (``due_at``,
  ``status``, ``reason``) stays, until :data:`COUNTS_DAYS`; then the row goes, unless a kept
  check-in still hangs on it.
- A withdrawn answer to "which describes you" leaves no ``content_id`` naming a line written only
  for that answer: scrubbed when the answer changes (:func:`forget_answer`), and by the purge.
- Expired /pair invites.

The purge works in small batches, each its own short transaction, walking ids upwards so a day's
work is one pass however much is kept. On PostgreSQL one instance at a time runs it
(:func:`only_instance`, an advisory lock apart from the sending leader's).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import Executable, Select, and_, delete, exists, or_, select, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from reminderbot.config import Settings
from reminderbot.content import Catalog, ContentKind
from reminderbot.content.types import Audience as ContentAudience
from reminderbot.services import leaving, stats
from reminderbot.services.sharing import Notice
from reminderbot.storage.db import mark_erased
from reminderbot.storage.models import (
    Audience,
    CheckIn,
    ConsentState,
    Delivery,
    DeliveryStatus,
    Invite,
    Person,
)

log = logging.getLogger(__name__)

# `reminderbot stats` counts deliveries from the Monday WEEKS - 1 weeks before this one: never
# more than WEEKS weeks and six days back. Older rows serve no count.
COUNTS_DAYS = 7 * (stats.WEEKS + 1)
# Rows per transaction: each batch is short, so the bot's own writes wait milliseconds at most.
BATCH = 500
PEOPLE_BATCH = 20  # an erasure is several statements per person
# A bound on one day's work; whatever is left is done the next day.
MAX_BATCHES = 2_000

# The retention job's advisory lock: the first key says "retention" for this application (the
# sending leader's is 0x52420001), the second the schema, as for the sending leader.
LOCK_CLASS = 0x52420002
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:lock_class, hashtext(current_schema()))")
_UNLOCK = text("SELECT pg_advisory_unlock(:lock_class, hashtext(current_schema()))")

# The choices /settings offers (in days), besides the practice's default and maximum.
KEEP_PRESETS = (30, 90, 180, 365)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """The practice's retention settings, as plain values."""

    checkin_keep_days: int
    checkin_keep_max_days: int
    erase_inactive_after_days: int
    delivery_detail_days: int

    @classmethod
    def of(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            checkin_keep_days=settings.checkin_keep_days,
            checkin_keep_max_days=settings.checkin_keep_max_days,
            erase_inactive_after_days=settings.erase_inactive_after_days,
            delivery_detail_days=settings.delivery_detail_days,
        )

    def checkin_days(self, choice: int | None) -> int:
        """How long this person's check-ins are kept: their choice (or the default), capped."""
        return min(choice or self.checkin_keep_days, self.checkin_keep_max_days)

    @property
    def choices(self) -> tuple[int, ...]:
        """What a person may choose: the presets up to the maximum, the default and the maximum."""
        most = self.checkin_keep_max_days
        return tuple(
            sorted({d for d in KEEP_PRESETS if d <= most} | {self.checkin_keep_days, most})
        )

    @property
    def deliveries_kept_days(self) -> int:
        return max(COUNTS_DAYS, self.delivery_detail_days)

    def words(self, choice: int | None = None) -> dict[str, int]:
        """The placeholders every sentence about keeping uses, computed from the settings and
        the person's own choice (None: someone who has not chosen, or has not begun)."""
        return {
            "keep_days": self.checkin_days(choice),
            "keep_max_days": self.checkin_keep_max_days,
            "inactive_days": self.erase_inactive_after_days,
            "detail_days": self.delivery_detail_days,
            "counts_days": self.deliveries_kept_days,
        }


# --------------------------------------------------------------------------- a withdrawn answer
@lru_cache(maxsize=16)
def _lines_only_for(catalog: Catalog, audience: Audience) -> frozenset[str]:
    found: set[str] = set()
    wanted = ContentAudience(audience.value)
    for lang in catalog.languages:
        found.update(
            item.id
            for item in catalog.items(lang, list(ContentKind), wanted)
            if item.audience is wanted
        )
    return frozenset(found)


def lines_only_for(catalog: Catalog, audience: Audience) -> frozenset[str]:
    """Ids of the lines written only for people who gave this answer (none for 'prefer not to
    say'): a delivery naming one says what that person answered."""
    if audience is Audience.ANYONE:
        return frozenset()
    return _lines_only_for(catalog, audience)


async def forget_answer(
    session: AsyncSession, catalog: Catalog, person: Person, was: Audience
) -> int:
    """After the answer changed from ``was``: no delivery of theirs names a line written only for
    that answer any more. Returns how many rows were scrubbed."""
    if person.audience is was:
        return 0
    ids = lines_only_for(catalog, was)
    if not ids:
        return 0
    # Which line a row names is encrypted: read this person's named rows, compare here.
    rows = await session.execute(
        select(Delivery.id, Delivery.content_id).where(
            Delivery.person_id == person.id, Delivery.content_id.is_not(None)
        )
    )
    named = [row.id for row in rows if row.content_id in ids]
    if named:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(named))
            .values(content_id=None)
            .execution_options(synchronize_session=False)
        )
    return len(named)


# --------------------------------------------------------------------------- the purge
@dataclass
class Purged:
    """What one day's purge did: counts for the log line, and what the caller does after."""

    people: int = 0
    checkins: int = 0
    deliveries_reduced: int = 0
    deliveries_deleted: int = 0
    answers_scrubbed: int = 0
    invites: int = 0
    failed: bool = False  # the database failed part-way: what is counted did commit
    notices: list[Notice] = field(default_factory=list)  # partners' lines, sent after commit
    changed: set[int] = field(default_factory=set)  # people whose rows changed

    def counts(self) -> dict[str, int]:
        return {
            "people": self.people,
            "checkins": self.checkins,
            "deliveries_reduced": self.deliveries_reduced,
            "deliveries_deleted": self.deliveries_deleted,
            "answers_scrubbed": self.answers_scrubbed,
            "invites": self.invites,
        }


Sessions = async_sessionmaker[AsyncSession]


async def _batches(
    sessions: Sessions,
    ids: Select[int],
    act: Callable[[list[int]], Executable],
    *,
    erasing: bool = False,
) -> int:
    """Select up to BATCH ids above the last one seen, act on them, commit; until none is left.
    ``ids`` selects one id column; it is ordered and limited here. ``erasing``: what is deleted
    is a person's words, scrubbed from the database's files after each commit."""
    column = ids.selected_columns[0]
    last, done = 0, 0
    for _ in range(MAX_BATCHES):
        async with sessions.begin() as session:
            query = ids.where(column > last).order_by(column).limit(BATCH)
            found = list((await session.execute(query)).scalars())
            if not found:
                break
            await session.execute(act(found).execution_options(synchronize_session=False))
            if erasing:
                mark_erased(session)
        done += len(found)
        last = found[-1]
        await asyncio.sleep(0)  # the bot's own work runs between batches
    return done


async def _erase_inactive(
    sessions: Sessions, policy: RetentionPolicy, now: datetime, purged: Purged
) -> None:
    cutoff = now - timedelta(days=policy.erase_inactive_after_days)
    gone = or_(
        and_(Person.consent == ConsentState.STOPPED, Person.consent_withdrawn_at < cutoff),
        and_(Person.reachable.is_(False), Person.unreachable_since < cutoff),
    )
    for _ in range(MAX_BATCHES):
        async with sessions.begin() as session:
            query = select(Person).where(gone).order_by(Person.id).limit(PEOPLE_BATCH)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            people = list((await session.execute(query)).scalars())
            notices: list[Notice] = []
            changed: set[int] = set()
            for person in people:
                left = await leaving.erase(session, person, now)
                notices.extend(left.notices)
                changed.update(left.people)
        # Committed: only now may the partners hear it.
        purged.people += len(people)
        purged.notices.extend(notices)
        purged.changed.update(changed)
        if len(people) < PEOPLE_BATCH:
            return
        await asyncio.sleep(0)


async def _purge_checkins(
    sessions: Sessions, policy: RetentionPolicy, now: datetime, purged: Purged
) -> None:
    async with sessions.begin() as session:
        choices = set(
            (await session.execute(select(Person.keep_checkins_days).distinct())).scalars()
        )
    for choice in sorted(choices, key=lambda c: c or 0):
        cutoff = now - timedelta(days=policy.checkin_days(choice))
        whose = (
            Person.keep_checkins_days.is_(None)
            if choice is None
            else Person.keep_checkins_days == choice
        )
        old = (
            select(CheckIn.id)
            .join(Person, Person.id == CheckIn.person_id)
            .where(whose, CheckIn.created_at < cutoff)
        )
        purged.checkins += await _batches(
            sessions, old, lambda ids: delete(CheckIn).where(CheckIn.id.in_(ids)), erasing=True
        )


async def _reduce_deliveries(
    sessions: Sessions, policy: RetentionPolicy, now: datetime, purged: Purged
) -> None:
    detail_cutoff = now - timedelta(days=policy.delivery_detail_days)
    detailed = select(Delivery.id).where(
        Delivery.due_at < detail_cutoff,
        # CLAIMED rows are in flight or wait for a retry that renders their line.
        Delivery.status != DeliveryStatus.CLAIMED,
        or_(
            Delivery.content_id.is_not(None),
            Delivery.kind.is_not(None),
            Delivery.telegram_message_id.is_not(None),
        ),
    )
    purged.deliveries_reduced += await _batches(
        sessions,
        detailed,
        lambda ids: (
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(content_id=None, kind=None, telegram_message_id=None)
        ),
    )
    uncounted = select(Delivery.id).where(
        Delivery.due_at < now - timedelta(days=policy.deliveries_kept_days),
        Delivery.status != DeliveryStatus.CLAIMED,
        ~exists().where(CheckIn.delivery_id == Delivery.id),
    )
    purged.deliveries_deleted += await _batches(
        sessions, uncounted, lambda ids: delete(Delivery).where(Delivery.id.in_(ids))
    )


async def _scrub_answers(sessions: Sessions, catalog: Catalog, purged: Purged) -> None:
    """The safety net behind forget_answer: lines written only for an answer the person no
    longer gives. The line and the answer are compared here, not in SQL: both are encrypted."""
    only_for = {
        line: audience
        for audience in (Audience.HURT_PARTNER, Audience.INVOLVED_PARTNER)
        for line in lines_only_for(catalog, audience)
    }
    if not only_for:
        return
    last = 0
    for _ in range(MAX_BATCHES):
        async with sessions.begin() as session:
            query = (
                select(Delivery.id, Delivery.content_id, Person.audience)
                .join(Person, Person.id == Delivery.person_id)
                .where(Delivery.content_id.is_not(None), Delivery.id > last)
                .order_by(Delivery.id)
                .limit(BATCH)
            )
            found = (await session.execute(query)).all()
            if not found:
                return
            withdrawn = [
                row.id
                for row in found
                if only_for.get(str(row.content_id), row.audience) != row.audience
            ]
            if withdrawn:
                await session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(withdrawn))
                    .values(content_id=None)
                    .execution_options(synchronize_session=False)
                )
        purged.answers_scrubbed += len(withdrawn)
        last = found[-1].id
        await asyncio.sleep(0)


async def _purge_invites(sessions: Sessions, now: datetime, purged: Purged) -> None:
    expired = select(Invite.id).where(Invite.expires_at < now)
    purged.invites += await _batches(
        sessions, expired, lambda ids: delete(Invite).where(Invite.id.in_(ids))
    )


async def purge(
    sessions: Sessions, catalog: Catalog, policy: RetentionPolicy, now: datetime
) -> Purged:
    """One day's purge. Never raises for the database: on a failure it stops, and what it did
    so far (committed) is in the result, with ``failed`` set."""
    purged = Purged()
    try:
        await _erase_inactive(sessions, policy, now, purged)
        await _purge_checkins(sessions, policy, now, purged)
        await _scrub_answers(sessions, catalog, purged)
        await _reduce_deliveries(sessions, policy, now, purged)
        await _purge_invites(sessions, now, purged)
    except (SQLAlchemyError, OSError) as exc:
        log.error("retention purge stopped part-way: the database failed (%s)", type(exc).__name__)
        purged.failed = True
    return purged


@asynccontextmanager
async def only_instance(engine: AsyncEngine) -> AsyncIterator[bool]:
    """Whether this instance runs the purge now. On PostgreSQL a session-level advisory lock,
    held on a connection of its own while the batches commit on others; on SQLite the file lock
    already allows one process only."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    async with engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        mine = bool(await connection.scalar(_TRY_LOCK, {"lock_class": LOCK_CLASS}))
        try:
            yield mine
        finally:
            if mine:
                await connection.execute(_UNLOCK, {"lock_class": LOCK_CLASS})
