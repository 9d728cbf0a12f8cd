"""The dispatcher: the database is the source of truth, the JobQueue only the clock.

Each tick, in one transaction, claims a bounded batch of due work (``delivery/claim.py``),
judged by the rules in ``delivery/policy.py``. Then it sends (``delivery/send.py``), re-checking
consent, pause and reachability right before each send, and records every outcome
(``delivery/record.py``). This module only orders those steps.

Delivery guarantee: at most once per occurrence, except one case we accept and cannot avoid
without Telegram idempotency keys: if the process dies after Telegram accepted a message but
before the outcome was committed, the claim's lease runs out and the message is sent once more.
Outcomes are committed per small chunk, so that is at most the chunk in flight. A send whose
fate is unknown is repeated at most once (``send.py`` says which errors prove it was not sent).

A claim is a lease: every later write to a claimed row is guarded by the lease it holds, a live
claim renews it while it waits (429s), and nothing is sent once it may have run out. One
occurrence that cannot be prepared or sent is recorded as failed and never holds back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import time as monotonic_time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from telegram import Bot
from telegram.error import RetryAfter, TelegramError

from reminderbot.content import Catalog
from reminderbot.delivery.batch import Note, Outcome, Outgoing, Reason, TickStats, log, log_internal
from reminderbot.delivery.changes import PersonChanges
from reminderbot.delivery.claim import LEASE, Claimer, Earliest, PauseEnd, read_gates
from reminderbot.delivery.pacing import SENDING_REMINDERS, Pacer, retry_after_seconds
from reminderbot.delivery.policy import GONE, Gate, Policy
from reminderbot.delivery.record import Recorder
from reminderbot.delivery.send import ReminderSender, classify, outcome_of
from reminderbot.delivery.shared_rate import SendingLeader
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import DeliveryStatus, utcnow

__all__ = ["LEASE", "Dispatcher", "Reason", "TickStats"]

# No send starts this close to the end of its lease (a send can take a few seconds).
LEASE_MARGIN = timedelta(seconds=10)
MAX_IN_FLIGHT = 32
MAX_IN_FLIGHT_CAP = 250
MAX_IN_TASK_429_WAITS = 3
# How long one tick may keep draining a backlog before it lets the next tick start.
TICK_BUDGET_SECONDS = 20.0


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
        self.protect_content = protect_content
        self.clock = clock
        self.changes = changes or PersonChanges()
        self.pacer = Pacer(rate)
        self.sender = ReminderSender(bot, protect_content=protect_content)
        self.claimer = Claimer(catalog, Policy(stale_after))
        self.recorder = Recorder(clock)
        # Backpressure: claim only what can leave within about two ticks, so a crash never
        # leaves a mountain of claimed work behind.
        self.batch_size = max(10, int((rate or 1000.0) * tick_seconds * 2))
        # Re-read pause/consent this often (in messages) while sending, for other instances'
        # changes; changes made in this process are seen at once through ``changes``.
        self.recheck_every = max(1, int((rate or 1000.0) / 10))
        # Sends awaiting Telegram's answer at once: a quarter of a second's worth at the rate
        # (a paid 1,000 a second with 50 ms round trips keeps 50 out), within the pool of
        # connections python-telegram-bot opens (256).
        self.max_in_flight = min(MAX_IN_FLIGHT_CAP, max(MAX_IN_FLIGHT, int((rate or 0) / 4)))
        # Claim what falls due before the next tick and send each at its due time, so a 1 s
        # tick adds no lateness of its own (and nothing ever leaves early).
        self.lookahead = timedelta(seconds=tick_seconds)
        # How often (real seconds) a batch that is still sending looks at its lease.
        self.lease_check_seconds = 1.0
        self._running = False
        self.failing = False  # set by the caller while the database cannot be reached
        # Set while sends prove the Bot API out of reach (one log line each way).
        self.telegram_down = False
        # Several instances on PostgreSQL: only the one holding the sending lock ticks, so
        # the rate is one rate for all (see delivery/shared_rate.py). None: always send.
        self.leader: SendingLeader | None = None
        # The due time of the oldest reminder not yet sent, as the last tick read it (every
        # instance reads it, leader or not, so /metrics shows a stalled leader anywhere).
        self.oldest_unsent: datetime | None = None
        # Set by begin_stop: no new claim, no new send; unsent claims are handed back.
        self.stopping = asyncio.Event()
        # How long the last claim took: the next batch is claimed that far ahead (``_drain``).
        self._claim_seconds = 0.0
        # A batch claimed ahead when the tick before ended on its budget: this tick's first.
        self._ahead: list[Outgoing] = []

    # ----------------------------------------------------------------- for operators
    @property
    def sending(self) -> bool:
        """Whether this instance sends reminders: the leader on PostgreSQL (as last
        confirmed), always on SQLite, where one process is the rule."""
        return self.leader is None or self.leader.leading

    def oldest_overdue_seconds(self) -> float:
        """How long the oldest reminder not yet sent has been due; 0 when none is."""
        if self.oldest_unsent is None:
            return 0.0
        return max(0.0, (self.clock() - self.oldest_unsent).total_seconds())

    def begin_stop(self) -> None:
        """Shutdown: stop between chunks, cut short any wait (a 429's retry_after included)
        and hand back the claims not yet sent, so another instance or the next start sends
        them (the lease fences out a second send)."""
        self.stopping.set()
        self.pacer.interrupt()

    def reply_sent(self) -> None:
        """A reply of this process went out: it spends the same per-second budget at
        Telegram, so the next reminder waits one slot longer."""
        self.pacer.spend()

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
            if self.stopping.is_set():
                await self._hand_back_ahead(stats)
                return stats
            # Outcomes held back by a database error first, leader or not: they are sent.
            await self.recorder.flush(self.sessions)
            leading = await self._leading()
            earliest = await self._earliest()
            self.oldest_unsent = earliest.oldest_unsent()
            if not leading:
                await self._hand_back_ahead(stats)
                return stats
            if not self._ahead and not earliest.anything_due(self.clock(), self.lookahead):
                return stats
            await self._drain(stats, started)
            self.pacer.forget_idle_chats()
            self.changes.prune()
        finally:
            self._note_telegram(stats)
            self._running = False
        return stats

    async def _drain(self, stats: TickStats, started: float) -> None:
        """Claim and send batch after batch while a backlog lasts (within the tick's budget).
        The next batch is claimed while the last messages of this one go out, so a paced
        backlog does not stop for the claim's fraction of a second between batches."""
        outgoing, self._ahead = self._ahead, []
        if not outgoing:
            outgoing = await self._claim(stats, end_pauses=True)
        next_batch: asyncio.Task[list[Outgoing]] | None = None

        def claim_ahead(left: int) -> None:
            # ``left`` messages remain to send: start the next claim once they take no longer
            # than about two claims (then it is ready when they are gone).
            nonlocal next_batch
            if next_batch is None and left * self.pacer.interval <= 2 * self._claim_seconds:
                next_batch = asyncio.create_task(self._claim(stats))

        try:
            while outgoing:
                full = len(outgoing) >= self.batch_size
                await self._send_all(outgoing, stats, claim_ahead if full else None)
                if not full or self.stopping.is_set():
                    break
                if monotonic_time.monotonic() - started > TICK_BUDGET_SECONDS:
                    # The tick ends on its budget (its figures go to the log and /metrics);
                    # the batch claimed ahead is the next tick's first, which starts at once.
                    stats.backlog = True
                    if next_batch is not None:
                        self._ahead, next_batch = await next_batch, None
                    break
                if next_batch is not None:
                    outgoing, next_batch = await next_batch, None
                elif await self._leading():
                    outgoing = await self._claim(stats)
                else:
                    break
        finally:
            if next_batch is not None:
                # Stopping, or the batch failed: what was claimed ahead goes back unsent. A
                # claim that failed rolled back and holds nothing.
                try:
                    ahead = await next_batch
                except Exception:
                    ahead = []
                if ahead:
                    await self._hand_back([ahead], stats)

    async def _hand_back_ahead(self, stats: TickStats) -> None:
        """A batch claimed ahead by the tick before, not to be sent by this one (stopping, or
        the lead is lost): back, for the next leader or the next start."""
        ahead, self._ahead = self._ahead, []
        if ahead:
            await self._hand_back([ahead], stats)

    def _note_telegram(self, stats: TickStats) -> None:
        """One line when sends start coming back unhandled by the Bot API, one when they
        go through again; the tries in between are counted, not logged."""
        if stats.reasons.get(Note.NETWORK) and not stats.sent and not self.telegram_down:
            self.telegram_down = True
            log.warning(
                "Telegram's Bot API is out of reach (refused connections or a gateway's error "
                "page); reminders are kept and tried again"
            )
        elif stats.sent and self.telegram_down:
            self.telegram_down = False
            log.info("Telegram's Bot API answers again; held reminders are going out")

    async def _leading(self) -> bool:
        return self.leader is None or await self.leader.is_leader()

    async def _earliest(self) -> Earliest:
        async with self.sessions() as session:
            return await self.claimer.earliest(session)

    async def _may_go_on(self) -> bool:
        """Before each chunk: not stopping, and still the leader (one round trip). A lead
        that cannot be confirmed, for whatever reason, stops the sending."""
        if self.stopping.is_set():
            return False
        if self.leader is None:
            return True
        try:
            # Confirmed, or taken again if nobody else took it meanwhile.
            return await self.leader.is_leader()
        except Exception as exc:  # never send on an unconfirmed lead
            log.warning("sending stopped: the lead could not be confirmed (%s)", type(exc).__name__)
            return False

    # ----------------------------------------------------------------- claiming
    async def _claim(self, stats: TickStats, *, end_pauses: bool = False) -> list[Outgoing]:
        """One transaction: ended pauses, retries, then due occurrences, up to a batch."""
        began = monotonic_time.monotonic()
        try:
            return await self._claim_once(stats, end_pauses=end_pauses)
        finally:
            self._claim_seconds = monotonic_time.monotonic() - began

    async def _claim_once(self, stats: TickStats, *, end_pauses: bool) -> list[Outgoing]:
        now = self.clock()
        notices: list[PauseEnd] = []
        async with self.sessions.begin() as session:
            if end_pauses:
                notices = await self.claimer.end_pauses(session, now, self.batch_size, stats)
            outgoing = await self.claimer.retries(session, now, self.batch_size, stats)
            room = self.batch_size - len(outgoing)
            if room > 0:
                outgoing += await self.claimer.occurrences(
                    session, now, self.lookahead, room, stats
                )
        if notices:
            await self._send_pause_ends(notices)
        return outgoing

    # ----------------------------------------------------------------- sending
    async def _send_all(
        self,
        outgoing: Sequence[Outgoing],
        stats: TickStats,
        before_chunk: Callable[[int], None] | None = None,
    ) -> None:
        """Send a batch chunk by chunk; ``before_chunk`` hears how many are left each time."""
        semaphore = asyncio.Semaphore(self.max_in_flight)
        outgoing = sorted(outgoing, key=lambda message: message.due_at)
        # Not yet finished, so their leases are kept alive while they wait.
        pending = {message.delivery_id: message for message in outgoing}
        keeper = asyncio.create_task(
            self.recorder.keep_leases(self.sessions, pending, self.lease_check_seconds)
        )
        every = self.recheck_every
        chunks = [outgoing[start : start + every] for start in range(0, len(outgoing), every)]
        # Each chunk's gates are read while the chunk before it sends: the database and
        # Telegram work side by side, and the read is still no older than one chunk.
        snapshot: asyncio.Task[tuple[float, dict[int, Gate]]] | None = None
        # People Telegram refused as blocked or gone earlier in this batch: a read that ran
        # beside that send may not have seen it written. Looked at right before each send.
        unreachable: set[int] = set()
        # Per chunk: its sends finish, then its outcomes are written, chunk after chunk. The
        # next chunk starts once every send of this one has had its turn at the pacer, not
        # once Telegram has answered them all: a round trip to Telegram never stops sending,
        # and a crash repeats at most what went out in the last chunk or two plus one round
        # trip (a fifth of a second of sending, and the answers not yet in).
        finishing: list[asyncio.Task[None]] = []
        chunk_sends: list[asyncio.Future[list[None]]] = []
        try:
            for index, chunk in enumerate(chunks):
                if not await self._may_go_on():
                    # Shutdown, or the lead is lost: what is left goes back unsent, for the
                    # next leader (or the next start) to claim at once.
                    await self._hand_back(chunks[index:], stats)
                    for rest in chunks[index:]:
                        for message in rest:
                            del pending[message.delivery_id]
                    break
                if snapshot is None:
                    snapshot = asyncio.create_task(self._snapshot(chunk))
                checked_at, gates = await snapshot
                snapshot = None
                if index + 1 < len(chunks):
                    snapshot = asyncio.create_task(self._snapshot(chunks[index + 1]))
                if before_chunk is not None:
                    before_chunk(len(pending))
                outcomes: list[Outcome] = []
                turns = [asyncio.get_running_loop().create_future() for _ in chunk]

                async def one(
                    message: Outgoing,
                    turn: asyncio.Future[None],
                    checked_at: float = checked_at,
                    gates: dict[int, Gate] = gates,
                    outcomes: list[Outcome] = outcomes,
                ) -> None:
                    try:
                        async with semaphore:
                            outcome = await self._send_one(
                                message, checked_at, gates, stats, turn, unreachable
                            )
                    finally:
                        _mark(turn)
                    if outcome is not None:
                        outcomes.append(outcome)
                        if outcome.unreachable:
                            unreachable.add(message.person_id)

                sends = asyncio.gather(*(one(m, t) for m, t in zip(chunk, turns, strict=True)))
                chunk_sends.append(sends)
                before = finishing[-1] if finishing else None
                finishing.append(
                    asyncio.create_task(self._finish(sends, before, chunk, outcomes, pending))
                )
                await asyncio.wait(turns)
            if finishing:
                await finishing[-1]
        except asyncio.CancelledError:
            # The tick itself is cancelled: the sends still in flight go with it (their rows
            # come back after the lease), as they did when each chunk was awaited whole.
            for sends in chunk_sends:
                sends.cancel()
            raise
        finally:
            for chunk_done in finishing:
                # A failure elsewhere: what was sent is still written down.
                with contextlib.suppress(asyncio.CancelledError):
                    await chunk_done
            for task in (keeper, snapshot):
                if task is not None:
                    task.cancel()
                    # A read that failed after the batch stopped for another error: the
                    # first error is the one that counts.
                    with contextlib.suppress(asyncio.CancelledError, SQLAlchemyError, OSError):
                        await task
        # One more try for outcomes a database error held back; if it still fails the tick
        # fails (logged once), and the next tick writes them before it claims anything.
        await self.recorder.flush(self.sessions)

    async def _finish(
        self,
        sends: asyncio.Future[list[None]],
        before: asyncio.Task[None] | None,
        chunk: Sequence[Outgoing],
        outcomes: list[Outcome],
        pending: dict[int, Outgoing],
    ) -> None:
        """A chunk's sends are answered: write their outcomes, after the chunk before's
        (a database error holds them for the next try)."""
        await sends
        if before is not None:
            await before
        await self.recorder.record(self.sessions, outcomes)
        for message in chunk:
            del pending[message.delivery_id]

    async def _hand_back(self, chunks: Sequence[Sequence[Outgoing]], stats: TickStats) -> None:
        now = self.clock()
        handed = [Outcome.released(m, now) for chunk in chunks for m in chunk if not m.lost]
        for _ in handed:
            stats.note(Note.RELEASED)
        await self.recorder.record(self.sessions, handed)

    async def _gates(self, person_ids: Iterable[int]) -> dict[int, Gate]:
        """What each person allows now, read fresh from the database."""
        async with self.sessions.begin() as session:
            return await read_gates(session, person_ids, self.clock())

    async def _snapshot(self, chunk: Sequence[Outgoing]) -> tuple[float, dict[int, Gate]]:
        """The gates of a chunk, and when they were read: a change in this process after
        that moment forces a fresh read of that person before their send."""
        checked_at = self.changes.now()
        return checked_at, await self._gates({message.person_id for message in chunk})

    async def _send_one(
        self,
        message: Outgoing,
        checked_at: float,
        gates: dict[int, Gate],
        stats: TickStats,
        turn: asyncio.Future[None] | None = None,
        unreachable: set[int] | None = None,
    ) -> Outcome | None:
        """Send one message; what to record, or None to leave the row as it is. ``turn`` is
        marked once it has had its turn at the pacer."""
        try:
            return await self._try_send(message, checked_at, gates, stats, turn, unreachable)
        except Exception as exc:  # a bug or bad data in one message never stops the others
            log_internal("sending delivery %s", message.delivery_id, message.person_id, exc)
            stats.fail(Reason.INTERNAL)
            return Outcome.finished(message, DeliveryStatus.FAILED, Reason.INTERNAL, self.clock())

    async def _try_send(
        self,
        message: Outgoing,
        checked_at: float,
        gates: dict[int, Gate],
        stats: TickStats,
        turn: asyncio.Future[None] | None,
        unreachable: set[int] | None,
    ) -> Outcome | None:
        for _ in range(MAX_IN_TASK_429_WAITS + 1):
            if not await self._wait_until_due(message):
                # Due later than the lookahead: the clock stepped back since the claim (or a
                # jump forward was undone). Hand it back to go out when it is due.
                stats.note(Note.RELEASED)
                return Outcome.released(message, message.due_at)
            await self.pacer.slot(message.chat_id)
            if turn is not None:
                _mark(turn)
            if message.lost:
                return None  # the lease ran out and another instance may be sending it
            if self.stopping.is_set():
                # Shutdown cut the wait short (a 429's retry_after, say): hand it back unsent.
                stats.note(Note.RELEASED)
                return Outcome.released(message, self.clock())
            if self.clock() >= message.lease - LEASE_MARGIN:
                # The lease could not be renewed in time (database unreachable?): unsent, so
                # hand it back rather than risk a second instance sending it too.
                stats.note(Note.RELEASED)
                return Outcome.released(message, self.clock())
            # Last look right before the send: a pause or stop in this process since the
            # snapshot forces a fresh read of this one person.
            if self.changes.since(message.person_id, checked_at):
                try:
                    fresh = await self._gates([message.person_id])
                except (SQLAlchemyError, OSError):
                    return None  # unsent and still claimed: it comes back after the lease
                gates[message.person_id] = fresh.get(message.person_id, GONE)
                checked_at = self.changes.now()
            gate = gates.get(message.person_id, GONE)
            if unreachable is not None and message.person_id in unreachable:
                gate = GONE  # refused as blocked or gone by an earlier send of this batch
            if (reason := gate.reason_for(message.kind)) is not None:
                stats.skip(reason)
                return Outcome.finished(message, DeliveryStatus.SKIPPED, reason, self.clock())
            if gate.language and message.language and gate.language != message.language:
                # They chose another language since the claim: the next message is in it.
                self.claimer.say_in(message, gate.language)
            try:
                message_id = await self.sender.send(message)
            except RetryAfter as exc:
                # Wait out Telegram's retry_after for everyone, then send this one after it.
                stats.rate_limited += 1
                self.pacer.block_for(retry_after_seconds(exc))
                continue
            except TelegramError as exc:
                return outcome_of(classify(exc), exc, message, self.clock(), stats)
            now = self.clock()
            stats.send((now - message.due_at).total_seconds())
            return Outcome.sent(message, now, message_id)
        # Still rate limited after several waits: hand it to a later tick.
        return Outcome.retry(message, self.clock(), uncertain=False)

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
            if await self._stop_within(early):
                return True  # the caller hands it back
        return message.due_at <= self.clock()

    async def _stop_within(self, seconds: float) -> bool:
        """Sleep ``seconds``, or less if a stop begins; whether it did."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return self.stopping.is_set()

    # ----------------------------------------------------------------- pause ends
    async def _send_pause_ends(self, notices: list[PauseEnd]) -> None:
        for notice in notices:
            await self.pacer.slot(notice.chat_id)
            try:
                await self.bot.send_message(
                    notice.chat_id,
                    self.catalog.text("pause.ended_by_itself", notice.language),
                    protect_content=self.protect_content,
                )
            except TelegramError as exc:
                log.warning(
                    "pause-end line for person %s not sent: %s",
                    notice.person_id,
                    type(exc).__name__,
                )


def _mark(turn: asyncio.Future[None]) -> None:
    if not turn.done():
        turn.set_result(None)
