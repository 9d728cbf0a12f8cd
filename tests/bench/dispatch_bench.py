"""Dispatcher benchmark: prints a table of figures (or JSON with --json).

    python -m tests.bench.dispatch_bench            # SQLite, and PostgreSQL when reachable
    python -m tests.bench.dispatch_bench --quick    # smaller sizes, for a smoke run
    python -m tests.bench.dispatch_bench --json

Everything runs in this process against the offline Bot double (no network). Figures:
- throughput: unthrottled sends per second with N schedules due in the same minute;
- lateness: with rate R and N due at once, when the last message leaves, against N/R + 1 s;
  and with a light load (fewer due than R), p99 lateness and whether any left early;
- idle tick: the cost of one tick with N schedules that are not due;
- memory: resident set size after a full cycle at 0, 10k and 100k people;
- 429s: achieved rate against a double that answers 429 above 30/s, and 429s received.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot

from reminderbot.delivery.dispatcher import Dispatcher
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.migrate import upgrade
from reminderbot.storage.models import Person, Schedule
from tests.support.botdouble import BotDouble
from tests.support.databases import POSTGRES_URL, drop_postgres_schema, prepare_postgres
from tests.support.harness import make_dispatcher

REPO = Path(__file__).resolve().parents[2]
BENCH_SCHEMA = "reminderbot_bench"


@dataclass
class Backend:
    name: str
    url: str


def remove_sqlite(url: str) -> None:
    database = url.split(":///", 1)[1]
    for suffix in ("", "-wal", "-shm"):
        Path(database + suffix).unlink(missing_ok=True)


async def fresh_database(backend: Backend) -> AsyncEngine:
    if backend.name == "sqlite":
        remove_sqlite(backend.url)
    if backend.name == "postgresql":
        admin = create_engine(backend.url)
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {BENCH_SCHEMA} CASCADE"))
            await connection.execute(text(f"CREATE SCHEMA {BENCH_SCHEMA}"))
        await admin.dispose()
        engine = create_engine(
            backend.url, connect_args={"server_settings": {"search_path": BENCH_SCHEMA}}
        )
    else:
        engine = create_engine(backend.url)
    await upgrade(engine)
    return engine


async def add_people(engine: AsyncEngine, count: int, due: datetime, start_id: int = 1) -> None:
    """Bulk insert people with one schedule each, due at ``due``."""
    now = datetime.now(UTC)
    chunk = 5000
    async with engine.begin() as connection:
        for base in range(0, count, chunk):
            ids = range(start_id + base, start_id + min(base + chunk, count))
            await connection.execute(
                insert(Person),
                [
                    {
                        "id": i,
                        "telegram_user_hash": 10_000_000 + i,  # hashed as it is bound
                        "chat_id": 10_000_000 + i,
                        "language": "en",
                        "timezone": "UTC",
                        "consent": "given",
                        "consent_given_at": now,
                        "reachable": True,
                        "audience": "anyone",
                        "wants_affirmations": True,
                        "wants_practices": True,
                        "wants_checkin_prompts": False,
                        "weekdays": 127,
                        "discreet_preview": False,
                        "silent": False,
                        "content_seed": i,
                        "content_position": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            await connection.execute(
                insert(Schedule),
                [
                    {
                        "person_id": i,
                        "local_time": due.time(),
                        "next_due_at": due,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(text("SELECT setval('people_id_seq', max(id)) FROM people"))
            # Only these tables: a bare ANALYZE takes locks on every schema in the database,
            # which can deadlock with test runs that truncate their own schema.
            await connection.execute(text("ANALYZE people, schedules, deliveries"))


async def make_bot(double: BotDouble) -> Bot:
    bot = Bot("123:BENCH", request=double)
    await bot.initialize()
    return bot


def dispatcher_for(
    engine: AsyncEngine, bot: Bot, rate: float | None, clock: Callable[[], datetime]
) -> Dispatcher:
    return make_dispatcher(create_session_factory(engine), bot, clock, rate=rate)


async def throughput(backend: Backend, count: int) -> dict[str, Any]:
    due = datetime(2026, 3, 2, 9, tzinfo=UTC)
    engine = await fresh_database(backend)
    await add_people(engine, count, due)
    double = BotDouble(validate=False)
    bot = await make_bot(double)
    dispatcher = dispatcher_for(engine, bot, None, lambda: due + timedelta(seconds=30))
    started = time.perf_counter()
    sent = 0
    while sent < count:
        stats = await dispatcher.tick()
        if stats.sent == 0:
            break
        sent += stats.sent
    elapsed = time.perf_counter() - started
    await bot.shutdown()
    await engine.dispose()
    return {
        "due": count,
        "sent": sent,
        "seconds": round(elapsed, 2),
        "per_second": round(sent / elapsed),
    }


async def run_clocked(
    dispatcher: Dispatcher, until_sent: int, double: BotDouble, tick: float, limit_s: float
) -> None:
    """Tick like the JobQueue does, on the real clock, until everything has been sent."""
    deadline = time.monotonic() + limit_s
    while len(double.calls_to("sendMessage")) < until_sent and time.monotonic() < deadline:
        started = time.monotonic()
        await dispatcher.tick()
        await asyncio.sleep(max(0.0, tick - (time.monotonic() - started)))


def send_times(double: BotDouble) -> list[float]:
    return [call.at for call in double.calls_to("sendMessage")]


async def lateness(backend: Backend, count: int, rate: float) -> dict[str, Any]:
    engine = await fresh_database(backend)
    due_wall = time.time() + 1.5
    due = datetime.fromtimestamp(due_wall, UTC).replace(microsecond=0) + timedelta(seconds=1)
    await add_people(engine, count, due)
    double = BotDouble(validate=False)
    bot = await make_bot(double)
    dispatcher = dispatcher_for(engine, bot, rate, lambda: datetime.now(UTC))
    await run_clocked(dispatcher, count, double, tick=1.0, limit_s=count / rate + 30)
    due_ts = due.timestamp()
    late = sorted(t - due_ts for t in send_times(double))
    await bot.shutdown()
    await engine.dispose()
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan")
    return {
        "due": count,
        "rate": rate,
        "sent": len(late),
        "last_after_s": round(late[-1], 3) if late else None,
        "floor_plus_1_s": round(count / rate + 1, 3),
        "p99_s": round(p99, 3),
        "early": sum(1 for x in late if x < 0),
    }


async def idle_tick(backend: Backend, count: int) -> dict[str, Any]:
    engine = await fresh_database(backend)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    await add_people(engine, count, tomorrow)
    double = BotDouble(validate=False)
    bot = await make_bot(double)
    dispatcher = dispatcher_for(engine, bot, 30, lambda: datetime.now(UTC))
    for _ in range(5):
        await dispatcher.tick()
    samples = []
    for _ in range(50):
        started = time.perf_counter()
        await dispatcher.tick()
        samples.append((time.perf_counter() - started) * 1000)
    await bot.shutdown()
    await engine.dispose()
    return {
        "schedules": count,
        "median_ms": round(statistics.median(samples), 3),
        "max_ms": round(max(samples), 3),
    }


async def memory(backend: Backend, sizes: list[int]) -> dict[str, Any]:
    process = psutil.Process()
    out: dict[str, Any] = {}
    engine = await fresh_database(backend)
    double = BotDouble(validate=False, record=False)
    bot = await make_bot(double)
    due = datetime(2026, 3, 2, 9, tzinfo=UTC)
    dispatcher = dispatcher_for(engine, bot, None, lambda: due + timedelta(seconds=30))
    await dispatcher.tick()
    added = 0
    for size in sizes:
        if size > added:
            await add_people(engine, size - added, due, start_id=added + 1)
            added = size
        while (await dispatcher.tick()).sent:
            pass
        gc.collect()
        out[str(size)] = round(process.memory_info().rss / 2**20, 1)
    await bot.shutdown()
    await engine.dispose()
    out["growth_mb"] = round(out[str(sizes[-1])] - out[str(sizes[0])], 1)
    return out


def memory_in_fresh_process(backend: Backend, sizes: list[int]) -> dict[str, Any]:
    """Measured in a new interpreter, so earlier benchmarks' allocations don't count."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench.dispatch_bench",
            "--memory-only",
            backend.name,
            backend.url,
            ",".join(map(str, sizes)),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return dict(json.loads(result.stdout))


async def rate_limited(backend: Backend, count: int, limit: float) -> dict[str, Any]:
    engine = await fresh_database(backend)
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    await add_people(engine, count, due)
    double = BotDouble(validate=False)
    double.set_rate_limit(limit)
    bot = await make_bot(double)
    dispatcher = dispatcher_for(engine, bot, limit, lambda: datetime.now(UTC))
    await run_clocked(dispatcher, count, double, tick=1.0, limit_s=count / limit + 30)
    times = send_times(double)
    await bot.shutdown()
    await engine.dispose()
    span = max(times) - min(times) if len(times) > 1 else float("nan")
    achieved = (len(times) - 1) / span if span else float("nan")
    return {
        "limit": limit,
        "sent": len(times),
        "achieved_per_s": round(achieved, 2),
        "of_limit_pct": round(100 * achieved / limit, 1),
        "429s": double.rate_limited,
    }


async def bench(backend: Backend, quick: bool) -> dict[str, Any]:
    big = [1000, 5000] if quick else [10_000, 100_000]
    results: dict[str, Any] = {"backend": backend.name}
    results["throughput"] = [await throughput(backend, n) for n in big]
    results["lateness_heavy"] = await lateness(backend, 150 if quick else 600, 30)
    results["lateness_light"] = await lateness(backend, 20, 30)
    results["idle_tick"] = await idle_tick(backend, big[-1])
    results["memory_mb"] = memory_in_fresh_process(backend, [0, *big])
    results["rate_limit"] = await rate_limited(backend, 150 if quick else 450, 30)
    return results


def print_table(all_results: list[dict[str, Any]]) -> None:
    for r in all_results:
        print(f"== {r['backend']}")
        for t in r["throughput"]:
            print(
                f"throughput        {t['due']:>7} due: {t['per_second']:>6} msg/s "
                f"({t['sent']} sent in {t['seconds']} s)   target >= 2500"
            )
        h = r["lateness_heavy"]
        print(
            f"lateness heavy    {h['due']} due at {h['rate']}/s: last after {h['last_after_s']} s"
            f" (floor+1 = {h['floor_plus_1_s']} s), early {h['early']}"
        )
        light = r["lateness_light"]
        print(
            f"lateness light    {light['due']} due: p99 {light['p99_s']} s, "
            f"early {light['early']}   target p99 <= 1 s, none early"
        )
        i = r["idle_tick"]
        print(
            f"idle tick         {i['schedules']} not due: median {i['median_ms']} ms, "
            f"max {i['max_ms']} ms   target <= 5 ms"
        )
        m = r["memory_mb"]
        sizes = ", ".join(f"{k}: {v} MB" for k, v in m.items() if k != "growth_mb")
        print(f"memory (RSS)      {sizes}; growth {m['growth_mb']} MB   target <= 50 MB")
        q = r["rate_limit"]
        print(
            f"429 double at {q['limit']}/s  achieved {q['achieved_per_s']}/s "
            f"({q['of_limit_pct']}%), 429s {q['429s']}   target >= 95%, 0"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument(
        "--memory-only", nargs=3, metavar=("NAME", "URL", "SIZES"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.memory_only:
        name, url, sizes = args.memory_only
        backend = Backend(name, url)
        print(json.dumps(asyncio.run(memory(backend, [int(n) for n in sizes.split(",")]))))
        return 0
    backends = []
    with tempfile.TemporaryDirectory() as folder:
        if args.backend in {"sqlite", "all"}:
            backends.append(Backend("sqlite", f"sqlite+aiosqlite:///{folder}/bench.sqlite3"))
        if args.backend in {"postgresql", "all"}:
            reason = prepare_postgres()
            drop_postgres_schema()
            if reason is None:
                backends.append(Backend("postgresql", POSTGRES_URL))
            else:
                print(f"skipping PostgreSQL: {reason}", file=sys.stderr)
        results = []
        for backend in backends:
            results.append(asyncio.run(bench(backend, args.quick)))
    machine = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
    else:
        print(f"machine: {machine}")
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
