"""Dispatcher benchmark: prints a table of figures (or JSON with --json).

    python -m tests.bench.dispatch_bench            # SQLite, and PostgreSQL when reachable
    python -m tests.bench.dispatch_bench --quick    # smaller sizes, for a smoke run
    python -m tests.bench.dispatch_bench --json
    python -m tests.bench.dispatch_bench --people 1000000 --due 50000   # one size, see below

Everything runs in this process against the offline Bot double (no network). Figures:
- throughput: unthrottled sends per second with N schedules due in the same minute;
- lateness: with rate R and N due at once, when the last message leaves, against N/R' + 1 s,
  R' being the reminders' share of R (``pacing.reminder_rate``: 25.85/s at 30);
  and with a light load (fewer due than R), p99 lateness and whether any left early;
- idle tick: the cost of one tick with N schedules that are not due;
- memory: resident set size after a full cycle at 0, 10k and 100k people;
- 429s: achieved rate against a double that answers 429 above 30/s, and 429s received.

With --people N (and --due M, default N/20) it measures at that size instead: M of the N people
due at once (the rest tomorrow) sent unthrottled; one idle tick with all N not due; the resident
memory a fresh process grows by from an empty database to N people and those sends; and
``reminderbot run``'s start-up with N people (app_bench's start-up, each person with two sent
reminders behind them). Targets: throughput >= 2,500 msg/s, idle tick max <= 5 ms, memory growth
<= 100 MB, start-up <= 2 s.
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
from reminderbot.delivery.pacing import reminder_rate
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.migrate import upgrade
from reminderbot.storage.models import Person, Schedule
from tests.support.botdouble import BotDouble
from tests.support.databases import POSTGRES_URL, drop_postgres_schema, prepare_postgres
from tests.support.harness import make_dispatcher

REPO = Path(__file__).resolve().parents[2]
BENCH_SCHEMA = "reminderbot_bench"
THROUGHPUT_DUE = datetime(2026, 3, 2, 9, tzinfo=UTC)


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


async def throughput(backend: Backend, count: int, people: int | None = None) -> dict[str, Any]:
    """``count`` due at once among ``people`` (the others due the next day), at THROUGHPUT_DUE.
    The database is left as it ends: every schedule due the next day."""
    due = THROUGHPUT_DUE
    engine = await fresh_database(backend)
    await add_people(engine, count, due)
    if people is not None and people > count:
        await add_people(engine, people - count, due + timedelta(days=1), start_id=count + 1)
    # Counting sends is enough here: a double noting 100,000 calls (each a cycle of objects)
    # left this process a million objects to collect, and the runs after it paused for that.
    double = BotDouble(validate=False, record=False)
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
        "people": people or count,
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


class Stalls:
    """Where a late run lost its time, so an outlier explains itself: the slowest claim and
    outcome write (each holds back every send after it), when the first claim ran against the
    due time, and how late this process's event loop woke (a stall of the machine, not the
    code, shows here as well)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.claim_s = 0.0
        self.record_s = 0.0
        self.first_claim_at: float | None = None
        self.loop_lag_s = 0.0
        claim, flush = dispatcher._claim, dispatcher.recorder.flush

        async def timed_claim(stats: Any, *, end_pauses: bool = False) -> Any:
            started = time.perf_counter()
            claimed = await claim(stats, end_pauses=end_pauses)
            self.claim_s = max(self.claim_s, time.perf_counter() - started)
            if claimed and self.first_claim_at is None:
                self.first_claim_at = time.time()
            return claimed

        async def timed_flush(sessions: Any) -> None:
            started = time.perf_counter()
            await flush(sessions)
            self.record_s = max(self.record_s, time.perf_counter() - started)

        dispatcher._claim = timed_claim  # type: ignore[method-assign]
        dispatcher.recorder.flush = timed_flush  # type: ignore[method-assign]

    async def watch_loop(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.01)
            self.loop_lag_s = max(self.loop_lag_s, time.perf_counter() - started - 0.01)


async def lateness(backend: Backend, count: int, rate: float) -> dict[str, Any]:
    # What earlier runs left behind is not the bot's: a full garbage collection over it in the
    # middle of this run once stalled the sends (0.6 s on a quiet machine with 1.3 million
    # objects left by a recording double, more on a busy one).
    gc.collect()
    engine = await fresh_database(backend)
    due_wall = time.time() + 1.5
    due = datetime.fromtimestamp(due_wall, UTC).replace(microsecond=0) + timedelta(seconds=1)
    await add_people(engine, count, due)
    double = BotDouble(validate=False)
    bot = await make_bot(double)
    dispatcher = dispatcher_for(engine, bot, rate, lambda: datetime.now(UTC))
    stalls = Stalls(dispatcher)
    watcher = asyncio.create_task(stalls.watch_loop())
    try:
        await run_clocked(dispatcher, count, double, tick=1.0, limit_s=count / rate + 30)
    finally:
        watcher.cancel()
    due_ts = due.timestamp()
    late = sorted(t - due_ts for t in send_times(double))
    await bot.shutdown()
    await engine.dispose()
    p99 = late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan")
    first = stalls.first_claim_at
    return {
        "due": count,
        "rate": rate,
        "sent": len(late),
        "last_after_s": round(late[-1], 3) if late else None,
        # Reminders leave at reminder_rate(R), below R: room for replies and jitter.
        "floor_plus_1_s": round(count / reminder_rate(rate) + 1, 3),
        "p99_s": round(p99, 3),
        "early": sum(1 for x in late if x < 0),
        "claimed_before_due_s": round(due_ts - first, 3) if first is not None else None,
        "slowest_claim_s": round(stalls.claim_s, 3),
        "slowest_record_s": round(stalls.record_s, 3),
        "loop_lag_max_s": round(stalls.loop_lag_s, 3),
    }


def stall_note(run: dict[str, Any]) -> str:
    return (
        f"(claimed {run['claimed_before_due_s']} s before due; slowest claim "
        f"{run['slowest_claim_s']} s, write {run['slowest_record_s']} s; event loop late by "
        f"up to {run['loop_lag_max_s']} s)"
    )


def _wall_clock() -> datetime:
    return datetime.now(UTC)


def _after_throughput() -> datetime:
    return THROUGHPUT_DUE + timedelta(seconds=30)


async def idle_tick(
    backend: Backend, count: int, *, after_throughput: bool = False
) -> dict[str, Any]:
    """``after_throughput``: measure on the database ``throughput`` left (``count`` people, all
    due the next day, its reminders sent), on its clock, instead of filling a fresh one."""
    now = _after_throughput if after_throughput else _wall_clock
    if after_throughput:
        engine = create_engine(
            backend.url,
            connect_args=(
                {"server_settings": {"search_path": BENCH_SCHEMA}}
                if backend.name == "postgresql"
                else None
            ),
        )
    else:
        engine = await fresh_database(backend)
        await add_people(engine, count, datetime.now(UTC) + timedelta(days=1))
    double = BotDouble(validate=False)
    bot = await make_bot(double)
    dispatcher = dispatcher_for(engine, bot, 30, now)
    for _ in range(5):
        await dispatcher.tick()
    samples = []
    for _ in range(50):
        started = time.perf_counter()
        stats = await dispatcher.tick()
        samples.append((time.perf_counter() - started) * 1000)
        if stats.claimed or stats.sent or stats.skipped:
            raise RuntimeError("the idle tick found something due: its figure would be wrong")
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


async def memory_at(backend: Backend, people: int, due_count: int) -> dict[str, Any]:
    """RSS from an empty database to ``people`` people with ``due_count`` of them sent and the
    rest waiting for tomorrow, then idle ticks: what running at that size costs in memory."""
    process = psutil.Process()
    engine = await fresh_database(backend)
    double = BotDouble(validate=False, record=False)
    bot = await make_bot(double)
    due = datetime(2026, 3, 2, 9, tzinfo=UTC)
    dispatcher = dispatcher_for(engine, bot, None, lambda: due + timedelta(seconds=30))
    await dispatcher.tick()
    gc.collect()
    before = process.memory_info().rss / 2**20
    await add_people(engine, due_count, due)
    await add_people(engine, people - due_count, due + timedelta(days=1), start_id=due_count + 1)
    sent = 0
    while (stats := await dispatcher.tick()).sent:
        sent += stats.sent
    for _ in range(20):
        await dispatcher.tick()
    gc.collect()
    after = process.memory_info().rss / 2**20
    await bot.shutdown()
    await engine.dispose()
    return {
        "people": people,
        "sent": sent,
        "before_mb": round(before, 1),
        "after_mb": round(after, 1),
        "growth_mb": round(after - before, 1),
    }


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


def memory_at_in_fresh_process(backend: Backend, people: int, due: int) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.bench.dispatch_bench",
            "--memory-at",
            backend.name,
            backend.url,
            f"{people},{due}",
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


async def bench_at_size(backend: Backend, people: int, due: int, runs: int) -> dict[str, Any]:
    """Throughput, idle tick, memory and start-up with ``people`` in the database."""
    from tests.bench.app_bench import startup  # app_bench imports this module

    results: dict[str, Any] = {"backend": backend.name, "people": people, "due": due}
    results["throughput"] = await throughput(backend, due, people)
    results["idle_tick"] = await idle_tick(backend, people, after_throughput=True)
    results["memory_mb"] = memory_at_in_fresh_process(backend, people, due)
    (results["startup"],) = await startup(backend, [people], runs)
    return results


def print_size_table(all_results: list[dict[str, Any]]) -> None:
    for r in all_results:
        print(f"== {r['backend']}, {r['people']:,} people, {r['due']:,} due at once")
        t = r["throughput"]
        print(
            f"throughput        {t['per_second']:>6} msg/s ({t['sent']:,} sent in "
            f"{t['seconds']} s)   target >= 2500"
        )
        i = r["idle_tick"]
        print(
            f"idle tick         {i['schedules']:,} not due: median {i['median_ms']} ms, "
            f"max {i['max_ms']} ms   target max <= 5 ms"
        )
        m = r["memory_mb"]
        print(
            f"memory (RSS)      {m['before_mb']} MB empty, {m['after_mb']} MB after "
            f"{m['sent']:,} sent; growth {m['growth_mb']} MB   target <= 100 MB"
        )
        s = r["startup"]
        p, h = s["polling_s"], s["healthy_s"]
        print(
            f"start-up          polling median {p['median']} s, max {p['max']} s; healthy "
            f"median {h['median']} s, max {h['max']} s ({s['runs']} runs)   target <= 2 s"
        )


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
        print(f"                  {stall_note(light)}")
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
            f"({q['of_limit_pct']}%), 429s {q['429s']}   target >= 85%, 0"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument(
        "--people", type=int, help="measure at this many people instead (e.g. 1000000)"
    )
    parser.add_argument("--due", type=int, help="with --people: how many are due at once")
    parser.add_argument("--runs", type=int, default=3, help="with --people: start-ups (3)")
    parser.add_argument(
        "--memory-only", nargs=3, metavar=("NAME", "URL", "SIZES"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--memory-at", nargs=3, metavar=("NAME", "URL", "PEOPLE,DUE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.memory_only:
        name, url, sizes = args.memory_only
        backend = Backend(name, url)
        print(json.dumps(asyncio.run(memory(backend, [int(n) for n in sizes.split(",")]))))
        return 0
    if args.memory_at:
        name, url, sizes = args.memory_at
        people, due = (int(n) for n in sizes.split(","))
        print(json.dumps(asyncio.run(memory_at(Backend(name, url), people, due))))
        return 0
    if args.due is not None and args.people is None:
        parser.error("--due needs --people")
    if args.people is not None:
        due = args.due if args.due is not None else max(1, args.people // 20)
        if not 0 < due <= args.people:
            parser.error("--due must be between 1 and --people")
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
        load_before = os.getloadavg()
        results = []
        for backend in backends:
            if args.people is not None:
                results.append(asyncio.run(bench_at_size(backend, args.people, due, args.runs)))
            else:
                results.append(asyncio.run(bench(backend, args.quick)))
    machine = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
    else:
        print(f"machine: {machine}")
        (print_size_table if args.people is not None else print_table)(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
