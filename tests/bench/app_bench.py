"""Application benchmark: start-up time, and check-in tap to answer latency. Prints a table.

    python -m tests.bench.app_bench                 # SQLite, and PostgreSQL when reachable
    python -m tests.bench.app_bench --quick         # smaller sizes, for a smoke run
    python -m tests.bench.app_bench --json

Figures:
- start-up: from launching ``reminderbot run`` (its own process, exactly as an operator starts
  it) against the sandbox's Bot API server until its first getUpdates reaches that server
  ("polling") and until its /healthz answers 200 ("healthy"), with 0 and with 100,000 people in
  the database (each with a schedule due tomorrow and two sent reminders behind them). Median
  and maximum over a few runs, and the CPU time the bot used until healthy (what a busy machine
  does not inflate). Target: <= 2 s, and flat (no slower with 100,000 people).
- tap: in this process, the Application built as in production over the offline Bot double;
  each of many people taps a mood under a reminder they received. The time from
  ``process_update`` starting until answerCallbackQuery reaches the double, p50 and p99, for a
  first tap and for a second tap that changes the answer. Target: p99 <= 25 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.delivery.reminder import checkin_data
from reminderbot.sandbox.runner import bot_environment, free_port, stop_process
from reminderbot.sandbox.server import RunningServer, start_server
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.migrate import upgrade
from reminderbot.storage.models import Delivery, DeliveryStatus, Mood, Schedule
from tests.bench.dispatch_bench import Backend, add_people, remove_sqlite
from tests.support import factories
from tests.support.botdouble import BotDouble
from tests.support.databases import POSTGRES_URL, drop_postgres_schema, prepare_postgres
from tests.support.harness import BotHarness, FakeClock

REPO = Path(__file__).resolve().parents[2]
# A process cannot be given a schema, so start-up on PostgreSQL gets a database of its own.
STARTUP_DATABASE = "reminderbot_bench_startup"
TAP_SCHEMA = "reminderbot_bench_app"
FIRST_USER = 10_000_000  # add_people's telegram_user_id and chat_id are this plus the person id
MOODS = (Mood.STEADY, Mood.HEAVY, Mood.NEED_SPACE, Mood.OPEN)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


# ---------------------------------------------------------------------- preparing a database
async def add_past_deliveries(engine: AsyncEngine, per_person: int) -> int:
    """``per_person`` sent reminders for every schedule, on the days before today."""
    async with engine.begin() as connection:
        schedules = (await connection.execute(select(Schedule.id, Schedule.person_id))).all()
        today = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0)
        # Built and inserted a slice at a time: at a million people the whole list of rows
        # would take gigabytes.
        step = max(1, 10_000 // max(1, per_person))
        for start in range(0, len(schedules), step):
            rows = [
                {
                    "person_id": person_id,
                    "schedule_id": schedule_id,
                    "due_at": today - timedelta(days=day + 1),
                    "kind": "affirmation",
                    "content_id": None,
                    "status": DeliveryStatus.SENT,
                    "telegram_message_id": day + 1,
                    "claimed_at": today - timedelta(days=day + 1),
                    "attempts": 1,
                    "uncertain": 0,
                    "finished_at": today - timedelta(days=day + 1),
                }
                for schedule_id, person_id in schedules[start : start + step]
                for day in range(per_person)
            ]
            if rows:
                await connection.execute(insert(Delivery), rows)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as connection:
            await connection.execute(text("ANALYZE people, schedules, deliveries"))
    return len(schedules) * per_person


async def _recreate_postgres_database(name: str) -> str:
    admin = create_engine(POSTGRES_URL)
    try:
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            await connection.execute(text(f"CREATE DATABASE {name}"))
    finally:
        await admin.dispose()
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + name


async def _drop_postgres_database(name: str) -> None:
    admin = create_engine(POSTGRES_URL)
    try:
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        await admin.dispose()


async def prepared_database(backend: Backend, people: int) -> str:
    """A migrated database with ``people`` people, schedules due tomorrow and past reminders;
    returns the URL ``reminderbot run`` is given."""
    if backend.name == "sqlite":
        remove_sqlite(backend.url)
        url = backend.url
    else:
        url = await _recreate_postgres_database(STARTUP_DATABASE)
    engine = create_engine(url)
    try:
        await upgrade(engine)
        if people:
            await add_people(engine, people, datetime.now(UTC) + timedelta(days=1))
            await add_past_deliveries(engine, per_person=2)
    finally:
        await engine.dispose()
    return url


# ---------------------------------------------------------------------- start-up
async def _healthy(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def one_start(server: RunningServer, database_url: str) -> dict[str, float]:
    """Launch ``reminderbot run``; seconds until it polls and until /healthz says 200."""
    listen = f"127.0.0.1:{free_port()}"
    health = f"http://{listen}/healthz"
    polls_before = len(server.state.calls_to("getUpdates"))
    env = {"REMINDERBOT_LISTEN": listen, "REMINDERBOT_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reminderbot",
        "run",
        cwd=REPO,
        env=bot_environment(server, database_url, env),
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    polling = healthy = cpu = None
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
            while polling is None or healthy is None:
                if process.returncode is not None:
                    err = (await process.communicate())[1].decode()
                    raise RuntimeError(f"reminderbot run exited {process.returncode}: {err}")
                now = time.perf_counter() - started
                if polling is None and len(server.state.calls_to("getUpdates")) > polls_before:
                    polling = now
                if healthy is None and await _healthy(http, health):
                    healthy = time.perf_counter() - started
                    # CPU the bot used to get there: what a busy machine does not inflate.
                    times = psutil.Process(process.pid).cpu_times()
                    cpu = times.user + times.system
                if now > 60:
                    raise RuntimeError("reminderbot run was not ready within 60 s")
                await asyncio.sleep(0.005)
    finally:
        code = await stop_process(process)
    if code != 0:
        raise RuntimeError(f"reminderbot run stopped with exit code {code}")
    assert polling is not None and healthy is not None and cpu is not None
    return {"polling_s": polling, "healthy_s": healthy, "cpu_s": float(cpu)}


async def startup(backend: Backend, sizes: list[int], runs: int) -> list[dict[str, Any]]:
    # Byte-compiled first, as ``pip install`` leaves it: under PYTHONDONTWRITEBYTECODE every
    # start would otherwise compile the package's sources again.
    compileall.compile_dir(REPO / "reminderbot", quiet=1)
    server = await start_server()
    out = []
    try:
        for people in sizes:
            url = await prepared_database(backend, people)
            await one_start(server, url)  # a first start, not counted: file caches warm
            samples = [await one_start(server, url) for _ in range(runs)]
            row: dict[str, Any] = {"people": people, "runs": runs}
            for key in ("polling_s", "healthy_s", "cpu_s"):
                values = [s[key] for s in samples]
                row[key] = {
                    "median": round(statistics.median(values), 3),
                    "max": round(max(values), 3),
                }
            out.append(row)
    finally:
        await server.close()
        if backend.name == "postgresql":
            await _drop_postgres_database(STARTUP_DATABASE)
    return out


# ---------------------------------------------------------------------- tap to answer
class TimedDouble(BotDouble):
    """The benchmark double, noting when each answerCallbackQuery arrives: the wall clock, and
    this process's CPU time (all threads: SQLite works in aiosqlite's)."""

    def __init__(self) -> None:
        super().__init__(validate=False)
        self.answered_at: list[tuple[float, float]] = []

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if url.endswith("/answerCallbackQuery"):
            self.answered_at.append((time.perf_counter(), time.process_time()))
        return await super().do_request(url, method, *args, **kwargs)


async def tap_engine(backend: Backend) -> AsyncEngine:
    if backend.name == "sqlite":
        remove_sqlite(backend.url)
        engine = create_engine(backend.url)
    else:
        admin = create_engine(backend.url)
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {TAP_SCHEMA} CASCADE"))
            await connection.execute(text(f"CREATE SCHEMA {TAP_SCHEMA}"))
        await admin.dispose()
        engine = create_engine(
            backend.url, connect_args={"server_settings": {"search_path": TAP_SCHEMA}}
        )
    await upgrade(engine)
    return engine


async def _drop_tap_schema(backend: Backend) -> None:
    if backend.name == "postgresql":
        admin = create_engine(backend.url)
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {TAP_SCHEMA} CASCADE"))
        await admin.dispose()


async def _timed_taps(
    harness: BotHarness, double: TimedDouble, taps: list[tuple[int, int, int, Mood]]
) -> tuple[list[float], list[float]]:
    """Each tap (person, delivery, message, mood) in turn; milliseconds to its answer, on the
    wall clock and in CPU time (the part a busy machine does not inflate)."""
    latencies, cpu = [], []
    for person_id, delivery_id, message_id, mood in taps:
        update = factories.callback_update(
            harness.bot,
            FIRST_USER + person_id,
            checkin_data(delivery_id, mood),
            message_id=message_id,
        )
        answers = len(double.answered_at)
        started, cpu_started = time.perf_counter(), time.process_time()
        await harness.application.process_update(update)
        if len(double.answered_at) != answers + 1:
            raise RuntimeError("a tap was not answered exactly once")
        answered, cpu_answered = double.answered_at[-1]
        latencies.append((answered - started) * 1000)
        cpu.append((cpu_answered - cpu_started) * 1000)
    return latencies, cpu


async def tap_latency(backend: Backend, people: int, tapping: int) -> dict[str, Any]:
    engine = await tap_engine(backend)
    due = datetime(2026, 3, 2, 9, tzinfo=UTC)
    await add_people(engine, tapping, due)
    if people > tapping:
        await add_people(engine, people - tapping, due + timedelta(days=1), start_id=tapping + 1)
    clock = FakeClock(due + timedelta(seconds=30))
    double = TimedDouble()
    sessions = create_session_factory(engine)
    try:
        async with BotHarness.running(sessions, clock, double=double) as harness:
            sent = 0
            while sent < tapping:
                stats = await harness.tick()
                if not stats.sent:
                    raise RuntimeError(f"only {sent} of {tapping} reminders went out")
                sent += stats.sent
            clock.advance(minutes=5)  # someone reads the reminder a few minutes later
            async with sessions.begin() as session:
                query = select(Delivery.person_id, Delivery.id, Delivery.telegram_message_id)
                sent_to = sorted((p, d, m or 0) for p, d, m in await session.execute(query))
            first = [(p, d, m, MOODS[p % len(MOODS)]) for p, d, m in sent_to]
            again = [(p, d, m, MOODS[(p + 1) % len(MOODS)]) for p, d, m, _ in first[::2]]
            warm_up = min(20, len(first) // 10)
            await _timed_taps(harness, double, first[:warm_up])
            statements = 0

            def count(*_: Any) -> None:
                nonlocal statements
                statements += 1

            event.listen(engine.sync_engine, "before_cursor_execute", count)
            first_ms, first_cpu = await _timed_taps(harness, double, first[warm_up:])
            first_statements, statements = statements, 0
            again_ms, again_cpu = await _timed_taps(harness, double, again)
            event.remove(engine.sync_engine, "before_cursor_execute", count)
    finally:
        await engine.dispose()
        await _drop_tap_schema(backend)

    def figures(samples: list[float], cpu: list[float], statements: int) -> dict[str, float]:
        return {
            "taps": len(samples),
            "sql_per_tap": round(statements / len(samples), 1),
            "p50_ms": round(statistics.median(samples), 2),
            "p99_ms": round(percentile(samples, 0.99), 2),
            "max_ms": round(max(samples), 2),
            "cpu_p50_ms": round(statistics.median(cpu), 2),
            "cpu_p99_ms": round(percentile(cpu, 0.99), 2),
        }

    return {
        "people": people,
        "first_tap": figures(first_ms, first_cpu, first_statements),
        "changed_tap": figures(again_ms, again_cpu, statements),
    }


# ---------------------------------------------------------------------- the table
def print_table(machine: dict[str, Any], results: list[dict[str, Any]]) -> None:
    print(f"machine: {machine}")
    for r in results:
        print(f"== {r['backend']}")
        for s in r.get("startup", []):
            p, h, c = s["polling_s"], s["healthy_s"], s["cpu_s"]
            print(
                f"start-up   {s['people']:>7} people: polling median {p['median']} s, "
                f"max {p['max']} s; healthy median {h['median']} s, max {h['max']} s "
                f"(CPU median {c['median']} s; {s['runs']} runs)   target <= 2 s, flat"
            )
        if "tap" in r:
            t = r["tap"]
            for label in ("first_tap", "changed_tap"):
                f = t[label]
                print(
                    f"tap->answer {label.replace('_', ' '):<11} ({f['taps']} taps, "
                    f"{t['people']} people): p50 {f['p50_ms']} ms, p99 {f['p99_ms']} ms, "
                    f"max {f['max_ms']} ms (CPU p50 {f['cpu_p50_ms']} ms, p99 {f['cpu_p99_ms']} "
                    f"ms); {f['sql_per_tap']} SQL statements a tap   target p99 <= 25 ms"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "all"], default="all")
    parser.add_argument("--only", choices=["startup", "tap", "all"], default="all")
    parser.add_argument("--runs", type=int, default=5, help="start-ups per size (default 5)")
    args = parser.parse_args()
    people = 5_000 if args.quick else 100_000
    tapping = 300 if args.quick else 2_000
    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        backends = []
        if args.backend in {"sqlite", "all"}:
            backends.append(Backend("sqlite", f"sqlite+aiosqlite:///{folder}/bench.sqlite3"))
        if args.backend in {"postgresql", "all"}:
            reason = prepare_postgres()
            drop_postgres_schema()
            if reason is None:
                backends.append(Backend("postgresql", POSTGRES_URL))
            else:
                print(f"skipping PostgreSQL: {reason}", file=sys.stderr)
        for backend in backends:
            result: dict[str, Any] = {"backend": backend.name}
            if args.only in {"startup", "all"}:
                result["startup"] = asyncio.run(startup(backend, [0, people], args.runs))
            if args.only in {"tap", "all"}:
                result["tap"] = asyncio.run(tap_latency(backend, people, tapping))
            results.append(result)
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
        print_table(machine, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
