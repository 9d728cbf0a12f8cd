"""One send rate for all instances on PostgreSQL: a single sending leader per advisory lock.

Several instances share one bot token, so Telegram counts their sends together. Rather than
split the rate, one instance at a time holds a session-level advisory lock and runs the
dispatcher; the others serve updates and try the lock once a tick. The leader paces with the
ordinary in-process Pacer, which spaces sends by when they actually left and so absorbs any
timing jitter, and also keeps the per-chat second and a 429's pause in one place.

Why a leader and not a shared bucket in a table:
- At 30/s one process sends the whole rate with room to spare (see tests/bench/multi_bench.py);
  splitting it buys nothing and costs a row update per send or per block of sends.
- Slots granted by the database are spaced in database time but leave on each instance's event
  loop; one late instance and one punctual one squeeze two slots together, so a shared bucket
  needs a wider margin under the limit (several percent) to keep every one-second window safe.
- At paid 1000/s one leader is the ceiling; the benchmark measures how far one instance goes
  unthrottled, and the claim itself (FOR UPDATE SKIP LOCKED) already lets several senders share
  work should that ever be needed.

Failover: the lock lives as long as the leader's database session. A process that dies (kill -9
included) drops its connection, PostgreSQL releases the lock at once, and the next tick of
another instance takes it. The deliveries the dead leader had claimed go out when their lease
runs out, as after any crash; at most its in-flight messages repeat.

SQLite has one process by rule (issue 9), so there is no leader there: ``leader_for`` returns
None and the dispatcher paces in process exactly as before.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# The first key of the two-key advisory lock: "sending" for this application. The second is a
# hash of the schema, so two bots in two schemas of one database never wait on each other.
LOCK_CLASS = 0x52420001
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:lock_class, hashtext(current_schema()))")
_UNLOCK = text("SELECT pg_advisory_unlock(:lock_class, hashtext(current_schema()))")
# The leader's lock session names itself, so an operator (or a test) sees in pg_stat_activity
# which instance sends: "reminderbot-sender:<host>:<pid>".
SENDER_NAME_PREFIX = "reminderbot-sender:"
_NAME = text("SELECT set_config('application_name', :name, false)")


class SendingLeader:
    """Whether this instance is the one that sends; takes the lock when it is free."""

    def __init__(self, engine: AsyncEngine, *, lock_class: int = LOCK_CLASS) -> None:
        self.engine = engine
        self.lock_class = lock_class
        # The session that holds the lock; kept out of the pool for as long as we lead.
        self._connection: AsyncConnection | None = None

    @property
    def leading(self) -> bool:
        return self._connection is not None

    async def is_leader(self) -> bool:
        """One round trip: a live lock session means we still lead; otherwise try to lead.
        A database that cannot be reached raises, as any dispatcher query would, so the
        caller's outage handling logs it once."""
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return True
            except (SQLAlchemyError, OSError) as exc:
                # The session is gone, and the lock with it: another instance may lead now.
                log.warning("sending leadership lost: %s", type(exc).__name__)
                await self._discard()
        connection = await self.engine.connect()
        try:
            # Autocommit: the lock belongs to the session, and an idle session must not sit
            # inside an open transaction for hours.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            result = await connection.execute(_TRY_LOCK, {"lock_class": self.lock_class})
            if not result.scalar():
                await connection.close()
                return False
            name = f"{SENDER_NAME_PREFIX}{socket.gethostname()}:{os.getpid()}"
            await connection.execute(_NAME, {"name": name[:63]})
        except BaseException:
            await _invalidate(connection)
            raise
        self._connection = connection
        log.info("this instance now sends reminders (sending leader)")
        return True

    async def release(self) -> None:
        """Hand leadership on at shutdown, so another instance takes over at its next tick."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        with contextlib.suppress(SQLAlchemyError, OSError):
            await connection.execute(_UNLOCK, {"lock_class": self.lock_class})
        # Not back to the pool: the session carries the sender's name.
        await _invalidate(connection)

    async def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await _invalidate(connection)


async def _invalidate(connection: AsyncConnection) -> None:
    """Close the underlying session for good (never back to the pool, still holding a lock)."""
    try:
        await connection.invalidate()
        await connection.close()
    except (SQLAlchemyError, OSError):
        pass


def leader_for(engine: AsyncEngine) -> SendingLeader | None:
    """A leader election on PostgreSQL; None on SQLite, where one process is the rule."""
    if engine.dialect.name == "postgresql":
        return SendingLeader(engine)
    return None
