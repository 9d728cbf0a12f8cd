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
another instance takes it. A leader cut off without a FIN, or frozen, is ended by the server:
its lock session sets TCP keepalives, ``tcp_user_timeout`` and ``idle_session_timeout``
(``SESSION_SETTINGS``), and a live leader touches it every ``HEARTBEAT_SECONDS``, so the
server ends a silent session, and frees the lock, within about 20 s. On the leader's side every
lock query has a time-out (``CHECK_SECONDS``). The dispatcher confirms the lead before each
chunk it sends and, when it cannot, stops and hands back the claims it has not sent, so two
instances never send side by side for longer than one chunk. The deliveries a dead leader
had claimed go out when their lease runs out, as after any crash; at most its in-flight
messages repeat. A lost and a regained lead are one log line each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Mapping

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
_CHECK = text("SELECT 1")
# Only the settings this server knows (idle_session_timeout is PostgreSQL 14 and later).
_SETTINGS = text(
    "SELECT set_config(s.name, s.value, false)"
    " FROM unnest(CAST(:names AS text[]), CAST(:values AS text[])) AS s(name, value)"
    " JOIN pg_settings ON pg_settings.name = s.name"
)

# Every query on the lock session, and taking it, ends within this (a cut-off network would
# otherwise hold a query for the kernel's retransmission time-out, some 15 minutes).
CHECK_SECONDS = 5.0
# A leader touches its lock session this often, well inside idle_session_timeout.
HEARTBEAT_SECONDS = 5.0
# Set on the lock session, for the server's side: a leader cut off without a FIN (keepalives
# unanswered; data unacknowledged for tcp_user_timeout ms) or frozen (no query for
# idle_session_timeout ms) has its session ended and the lock freed within about 20 s, so
# another instance leads within 30 s.
SESSION_SETTINGS: Mapping[str, str] = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "5",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "15000",
    "idle_session_timeout": "20000",
}


class SendingLeader:
    """Whether this instance is the one that sends; takes the lock when it is free."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        lock_class: int = LOCK_CLASS,
        check_seconds: float = CHECK_SECONDS,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        session_settings: Mapping[str, str] = SESSION_SETTINGS,
    ) -> None:
        self.engine = engine
        self.lock_class = lock_class
        self.check_seconds = check_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.session_settings = dict(session_settings)
        # The session that holds the lock; kept out of the pool for as long as we lead.
        self._connection: AsyncConnection | None = None
        # One query at a time on the lock session (the heartbeat and the dispatcher share it).
        self._busy = asyncio.Lock()
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        """Whether this instance held the lock at the last look (no round trip)."""
        return self._connection is not None

    async def is_leader(self) -> bool:
        """Confirm the lead with one round trip, or try to take it. Raises when the database
        cannot be reached, as any dispatcher query would (the caller logs it once)."""
        if await self.confirm():
            return True
        return await self._acquire()

    async def confirm(self) -> bool:
        """Whether we still hold the lock: one ``SELECT 1`` on the lock session within
        ``check_seconds``. A session that is gone, or silent, loses the lead (one log line)."""
        connection = self._connection
        if connection is None:
            return False
        try:
            async with self._busy:
                await asyncio.wait_for(connection.execute(_CHECK), self.check_seconds)
            return self._connection is connection
        except (SQLAlchemyError, OSError) as exc:  # TimeoutError is an OSError
            if self._connection is connection:
                # The session is gone or cut off, and the lock with it: another instance may
                # lead now (the server ends a silent session, see SESSION_SETTINGS).
                log.warning(
                    "this instance no longer sends reminders: lost the sending lock (%s)",
                    type(exc).__name__,
                )
                await self._discard()
            return False

    async def _acquire(self) -> bool:
        connection = await asyncio.wait_for(self.engine.connect(), self.check_seconds)
        try:
            # Autocommit: the lock belongs to the session, and an idle session must not sit
            # inside an open transaction for hours.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            result = await asyncio.wait_for(
                connection.execute(_TRY_LOCK, {"lock_class": self.lock_class}),
                self.check_seconds,
            )
            if not result.scalar():
                await asyncio.wait_for(connection.close(), self.check_seconds)
                return False
            name = f"{SENDER_NAME_PREFIX}{socket.gethostname()}:{os.getpid()}"
            await asyncio.wait_for(
                connection.execute(_NAME, {"name": name[:63]}), self.check_seconds
            )
            settings = {
                "names": list(self.session_settings),
                "values": list(self.session_settings.values()),
            }
            await asyncio.wait_for(connection.execute(_SETTINGS, settings), self.check_seconds)
        except BaseException:
            await _invalidate(connection)
            raise
        self._connection = connection
        self._heartbeat = asyncio.create_task(self._beat(connection))
        log.info("this instance now sends reminders (took the sending lock)")
        return True

    async def _beat(self, connection: AsyncConnection) -> None:
        """Touch the lock session while we lead, so the server's idle_session_timeout ends
        only a leader that is frozen or cut off; a failed touch loses the lead at once."""
        while self._connection is connection:
            await asyncio.sleep(self.heartbeat_seconds)
            if self._connection is connection and not self._busy.locked():
                await self.confirm()

    async def release(self) -> None:
        """Hand leadership on at shutdown, so another instance takes over at its next tick."""
        connection = self._connection
        self._stop_heartbeat()
        self._connection = None
        if connection is None:
            return
        with contextlib.suppress(SQLAlchemyError, OSError):
            async with self._busy:
                await asyncio.wait_for(
                    connection.execute(_UNLOCK, {"lock_class": self.lock_class}),
                    self.check_seconds,
                )
        # Not back to the pool: the session carries the sender's name and settings.
        await _invalidate(connection)

    async def _discard(self) -> None:
        connection, self._connection = self._connection, None
        self._stop_heartbeat()
        if connection is not None:
            await _invalidate(connection)

    def _stop_heartbeat(self) -> None:
        task, self._heartbeat = self._heartbeat, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()


async def _invalidate(connection: AsyncConnection) -> None:
    """Close the underlying session for good (never back to the pool, still holding a lock);
    bounded, since a cut-off connection may never answer a goodbye."""
    try:
        await asyncio.wait_for(connection.invalidate(), CHECK_SECONDS)
        await asyncio.wait_for(connection.close(), CHECK_SECONDS)
    except (SQLAlchemyError, OSError):
        pass


def leader_for(engine: AsyncEngine) -> SendingLeader | None:
    """A leader election on PostgreSQL; None on SQLite, where one process is the rule."""
    if engine.dialect.name == "postgresql":
        return SendingLeader(engine)
    return None
