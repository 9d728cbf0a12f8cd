"""How long /mydata and /checkins hold the event loop for a five-year history.

Prints figures, asserts nothing. One person with six reminders a day for five years, each
answered with a check-in and a note, on a fresh SQLite file; the real handlers run against the
strict double while a probe task measures how late the loop wakes it (the delay every other
person's tap would see).

    python -m tests.bench.heavy_bench
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.migrate import upgrade
from reminderbot.storage.models import CheckIn, Delivery, Person, Schedule
from tests.bench.dispatch_bench import add_people
from tests.support.harness import BotHarness, FakeClock

YEARS = 5
PER_DAY = 6
USER = 10_000_001  # add_people's first person


async def fill(engine: object, now: datetime) -> int:
    await add_people(engine, 1, now)  # type: ignore[arg-type]
    days = YEARS * 365
    rows = days * PER_DAY
    start = now - timedelta(days=days)
    async with engine.begin() as connection:  # type: ignore[attr-defined]
        schedule_id = (await connection.execute(Schedule.__table__.select())).first().id
        chunk = 5000
        for base in range(0, rows, chunk):
            ids = range(base + 1, min(base + chunk, rows) + 1)
            await connection.execute(
                insert(Delivery),
                [
                    {
                        "id": i,
                        "person_id": 1,
                        "schedule_id": schedule_id,
                        "due_at": start + timedelta(hours=4 * i),
                        "kind": "affirmation",
                        "content_id": "a1",
                        "status": "sent",
                        "telegram_message_id": i,
                        "claimed_at": start,
                        "attempts": 1,
                        "uncertain": 0,
                    }
                    for i in ids
                ],
            )
            await connection.execute(
                insert(CheckIn),
                [
                    {
                        "person_id": 1,
                        "delivery_id": i,
                        "mood": ("steady", "heavy", "need_space", "open")[i % 4],
                        "note": "a few words of my own, kept for me",
                        "created_at": start + timedelta(hours=4 * i, minutes=5),
                        "updated_at": start + timedelta(hours=4 * i, minutes=5),
                    }
                    for i in ids
                ],
            )
    return rows


async def loop_stall(action: object) -> tuple[float, float]:
    """(wall seconds, longest the loop was held) while ``action`` runs."""
    worst = 0.0
    running = True

    async def probe() -> None:
        nonlocal worst
        while running:
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    task = asyncio.create_task(probe())
    started = time.perf_counter()
    await action  # type: ignore[misc]
    wall = time.perf_counter() - started
    running = False
    await task
    return wall, worst


async def main() -> None:
    folder = Path(tempfile.mkdtemp())
    engine = create_engine(f"sqlite+aiosqlite:///{folder / 'heavy.sqlite3'}")
    await upgrade(engine)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    rows = await fill(engine, clock.now)
    print(f"history: {rows} reminders and {rows} check-ins with notes ({YEARS} years)")
    async with BotHarness.running(create_session_factory(engine), clock) as harness:
        # The machine's own noise: the same probe while nothing happens.
        wall, held = await loop_stall(asyncio.sleep(3))
        print(f"idle:      {wall * 1000:7.1f} ms in all, loop held at most {held * 1000:6.1f} ms")
        for command in ("/mydata", "/checkins"):
            for attempt in (1, 2):
                clock.advance(minutes=2)  # past the cooldown
                wall, held = await loop_stall(harness.command(USER, command))
                print(
                    f"{command} #{attempt}: {wall * 1000:7.1f} ms in all, loop held at most "
                    f"{held * 1000:6.1f} ms"
                )
    await engine.dispose()
    assert Person  # the table add_people fills


if __name__ == "__main__":
    asyncio.run(main())
