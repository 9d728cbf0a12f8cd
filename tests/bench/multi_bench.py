"""Several instances on one PostgreSQL database: prints a table of figures (or JSON with --json).

    python -m tests.bench.multi_bench            # needs PostgreSQL (REMINDERBOT_TEST_POSTGRES_URL)
    python -m tests.bench.multi_bench --quick    # smaller sizes, for a smoke run

Each instance is its own process with its own engine and the offline Bot double (no network),
ticking like the JobQueue does. Figures:
- throughput: unthrottled sends per second with N due at once, for 1, 2 and 3 instances, as
  shipped (one sending leader per advisory lock) and, for comparison, with every instance
  claiming and sending (the leader switched off; the claim's SKIP LOCKED shares the work);
- rate: 3 instances at REMINDERBOT_SEND_RATE_PER_SECOND 30 with N due at once: the achieved
  rate as a share of 30/s, the busiest one-second window, and the 429s Telegram would answer
  (its sliding one-second window replayed over every instance's send times, one host clock).

    python -m tests.bench.multi_bench --only rate --rate 1000 --due 30000   # paid broadcast
    python -m tests.bench.multi_bench --only rate --rate 1000 --due 30000 --latency 0.05

--rate 1000 is REMINDERBOT_PAID_BROADCAST's rate: Telegram then allows 1,000 a second, and the
429s are counted against that. Target for the rate: >= 95% of it (>= 85% of 30/s, where
reminders keep 4/s for replies), and no 429.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys
import time
from collections import deque
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.delivery.shared_rate import leader_for
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.migrate import upgrade
from reminderbot.storage.models import Delivery, DeliveryStatus
from reminderbot.telegram.serve import freeze_startup_objects
from tests.bench.dispatch_bench import add_people, dispatcher_for, make_bot
from tests.support.botdouble import BotDouble
from tests.support.databases import POSTGRES_URL

SCHEMA = "reminderbot_multibench"
TELEGRAM_LIMIT = 30
PAID_BROADCAST_LIMIT = 1000  # what Telegram allows a bot with paid broadcasts enabled


def target_pct(rate: float) -> int:
    """The share of the rate reminders should reach: at 30/s they keep 4/s for replies
    (``pacing.reminder_rate``: 25.85/s, 86%), at a paid 1,000/s the same 4 are 0.4%."""
    return 95 if rate > TELEGRAM_LIMIT else 85


def telegram_limit(rate: float) -> int:
    return PAID_BROADCAST_LIMIT if rate > TELEGRAM_LIMIT else TELEGRAM_LIMIT


def engine_for(url: str) -> AsyncEngine:
    return create_engine(url, connect_args={"server_settings": {"search_path": SCHEMA}})


async def fresh_database(url: str, count: int, due: datetime) -> None:
    admin = create_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    await admin.dispose()
    engine = engine_for(url)
    await upgrade(engine)
    await add_people(engine, count, due)
    await engine.dispose()


async def drop_schema(url: str) -> None:
    admin = create_engine(url)
    async with admin.begin() as connection:
        await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    await admin.dispose()


# --------------------------------------------------------------------------- one instance
async def _instance(
    url: str,
    count: int,
    rate: float | None,
    due: datetime,
    start_at: float,
    leader: bool,
    latency: float = 0.0,
) -> list[float]:
    engine = engine_for(url)
    double = _SendTimes()
    double.latency = latency
    bot = await make_bot(double)
    clock = (lambda: datetime.now(UTC)) if rate else (lambda: due + timedelta(seconds=30))
    dispatcher = dispatcher_for(engine, bot, rate, clock)
    if leader:
        dispatcher.leader = leader_for(engine)
    sessions = create_session_factory(engine)
    sent_query = select(func.count()).where(Delivery.status == DeliveryStatus.SENT)
    freeze_startup_objects()  # as the bot does once it has started
    await asyncio.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + (count / rate + 60 if rate else 600)
    try:
        while time.monotonic() < deadline:
            started = time.monotonic()
            stats = await dispatcher.tick()
            if stats.claimed or stats.retried:
                if rate is None:
                    continue  # unthrottled: drain without waiting for the next tick
            else:
                async with sessions() as session:
                    if (await session.execute(sent_query)).scalar_one() >= count:
                        break
            await asyncio.sleep(max(0.0, (1.0 if rate else 0.05) - (time.monotonic() - started)))
    finally:
        if dispatcher.leader is not None:
            await dispatcher.leader.release()
        await bot.shutdown()
        await engine.dispose()
    return double.sent_at


class _SendTimes(BotDouble):
    """The offline double, keeping only when each message was sent: a notebook of 30,000
    calls would make the garbage collector's pauses this bench's own, not the bot's."""

    def __init__(self) -> None:
        super().__init__(validate=False, record=False)
        self.sent_at: list[float] = []

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        if url.endswith("/sendMessage"):
            self.sent_at.append(time.time())
        return await super().do_request(url, method, *args, **kwargs)


def _child(
    url: str,
    count: int,
    rate: float | None,
    due: datetime,
    start_at: float,
    leader: bool,
    latency: float,
    results: Queue[list[float]],
) -> None:
    results.put(asyncio.run(_instance(url, count, rate, due, start_at, leader, latency)))


def run_instances(
    url: str, instances: int, count: int, rate: float | None, leader: bool, latency: float = 0.0
) -> list[float]:
    """Start ``instances`` processes on a fresh database; all send times, merged."""
    now = datetime.now(UTC)
    due = (now + timedelta(seconds=6)).replace(microsecond=0) if rate else now
    asyncio.run(fresh_database(url, count, due))
    context = multiprocessing.get_context("spawn")
    results: Queue[list[float]] = context.Queue()
    start_at = time.time() + 4.0  # every process connected and waiting
    processes = [
        context.Process(
            target=_child, args=(url, count, rate, due, start_at, leader, latency, results)
        )
        for _ in range(instances)
    ]
    for process in processes:
        process.start()
    times = [t for _ in processes for t in results.get(timeout=900)]
    for process in processes:
        process.join()
    return sorted(times)


# --------------------------------------------------------------------------- figures
def busiest_second(times: list[float]) -> int:
    most, j = 0, 0
    for i, start in enumerate(times):
        j = max(j, i)
        while j < len(times) and times[j] < start + 1.0:
            j += 1
        most = max(most, j - i)
    return most


def refused(times: list[float], limit: int) -> int:
    """How many of these sends Telegram's sliding one-second window would answer with 429."""
    window: deque[float] = deque()
    count = 0
    for at in times:
        while window and window[0] <= at - 1.0:
            window.popleft()
        if len(window) >= limit:
            count += 1
            continue
        window.append(at)
    return count


def throughput(url: str, instances: int, count: int, leader: bool) -> dict[str, Any]:
    times = run_instances(url, instances, count, None, leader)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    return {
        "instances": instances,
        "mode": "leader" if leader else "all send",
        "due": count,
        "sent": len(times),
        "seconds": round(span, 2),
        "per_second": round(len(times) / span) if span else None,
    }


def held_rate(
    url: str, instances: int, count: int, rate: float = TELEGRAM_LIMIT, latency: float = 0.0
) -> dict[str, Any]:
    times = run_instances(url, instances, count, float(rate), True, latency)
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    achieved = (len(times) - 1) / span if span else float("nan")
    return {
        "instances": instances,
        "rate": rate,
        "latency_s": latency,
        "due": count,
        "sent": len(times),
        "achieved_per_s": round(achieved, 2),
        "of_rate_pct": round(100 * achieved / rate, 1),
        "busiest_second": busiest_second(times),
        "429s": refused(times, telegram_limit(rate)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--only", choices=["throughput", "rate", "all"], default="all")
    parser.add_argument(
        "--rate",
        type=float,
        default=TELEGRAM_LIMIT,
        help="the shared send rate for the rate figure (30; 1000 with paid broadcast)",
    )
    parser.add_argument("--due", type=int, help="due at once for the rate figure (15 s of it)")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds each Bot API call takes (0; Telegram answers in tens of milliseconds)",
    )
    args = parser.parse_args()
    if not 0 < args.rate <= PAID_BROADCAST_LIMIT:
        parser.error(f"--rate must be above 0 and at most {PAID_BROADCAST_LIMIT}")
    url = POSTGRES_URL
    count = 1000 if args.quick else 5000
    due = args.due or int(args.rate * (5 if args.quick else 15))
    results: dict[str, Any] = {"throughput": [], "rate": None}
    try:
        if args.only in {"throughput", "all"}:
            for leader in (True, False):
                for instances in (1, 2, 3):
                    results["throughput"].append(throughput(url, instances, count, leader))
        if args.only in {"rate", "all"}:
            results["rate"] = held_rate(url, 3, due, args.rate, args.latency)
    finally:
        asyncio.run(drop_schema(url))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    if results["throughput"]:
        print(f"Unthrottled throughput, {count} due at once, PostgreSQL, offline Bot double:")
    for row in results["throughput"]:
        print(
            f"  {row['instances']} instance(s), {row['mode']:8}: {row['sent']} sent in"
            f" {row['seconds']} s = {row['per_second']}/s"
        )
    rate = results["rate"]
    if rate is not None:
        r = f"{rate['rate']:g}/s"
        print(
            f"Global rate with {rate['instances']} instances at {r}, {rate['due']} due at once,"
            f" {rate['latency_s'] * 1000:g} ms a Bot API call:"
        )
        print(
            f"  achieved {rate['achieved_per_s']}/s ({rate['of_rate_pct']}% of {r}),"
            f" busiest second {rate['busiest_second']}, 429s {rate['429s']}"
            f"   target >= {target_pct(rate['rate'])}%, 0 429s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
