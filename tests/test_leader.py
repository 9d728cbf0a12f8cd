"""The sending leader at the edges: cut off from PostgreSQL without a FIN, or its lock session
ended mid-batch. Another instance takes over within 30 s, and two never send side by side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot

from reminderbot.delivery.dispatcher import Dispatcher
from reminderbot.metrics import Metrics
from reminderbot.storage.models import DeliveryStatus, utcnow
from tests.bench.dispatch_bench import add_people
from tests.support import databases
from tests.support.botdouble import BotDouble
from tests.support.relay import Relay
from tests.test_multi_instance import (  # noqa: F401 (pg_engines and postgres_url are fixtures)
    bot_on,
    instance,
    kill_leader_session,
    pg_engines,
    postgres_url,
    statuses,
)

pytestmark = pytest.mark.postgres


class Tagged(BotDouble):
    """One Telegram shared by the instances, recording which instance made each send."""

    def __init__(self, telegram: BotDouble, name: str, log: list[tuple[str, float]]) -> None:
        self.__dict__.update(telegram.__dict__)  # the same state, spec and records
        self._telegram, self._name, self._log = telegram, name, log

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if url.endswith("/sendMessage"):
            self._log.append((self._name, time.monotonic()))
        return await self._telegram.do_request(url, method, *args, **kwargs)


def gauge(metrics: Metrics, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", metrics.render().decode(), re.MULTILINE)
    assert found is not None, name
    return float(found[1])


async def keep_ticking(dispatcher: Dispatcher, until: asyncio.Event) -> None:
    """An instance's JobQueue: a tick every 0.2 s that never raises (as run_tick)."""
    while not until.is_set():
        with contextlib.suppress(Exception):
            await dispatcher.tick()
        await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def ticking(*dispatchers: Dispatcher) -> AsyncIterator[asyncio.Event]:
    done = asyncio.Event()
    tasks = [asyncio.create_task(keep_ticking(d, done)) for d in dispatchers]
    try:
        yield done
    finally:
        done.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_until_sent(engine: AsyncEngine, people: int, seconds: float) -> float:
    """Seconds until every reminder is recorded as sent (fails after ``seconds``)."""
    started = time.monotonic()
    while (await statuses(engine))[DeliveryStatus.SENT.value] < people:
        assert time.monotonic() - started < seconds, await statuses(engine)
        await asyncio.sleep(0.25)
    return time.monotonic() - started


@pytest.fixture
async def relayed_engine(
    postgres_url: str,  # noqa: F811 (the fixture)
) -> AsyncIterator[tuple[AsyncEngine, Relay]]:
    url = make_url(postgres_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    port = await relay.start()
    through = url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    engine = databases.engine_for(through)
    try:
        yield engine, relay
    finally:
        await relay.close()
        await engine.dispose()


async def test_a_leader_cut_off_without_a_fin_is_replaced_within_30_seconds(
    pg_engines: list[AsyncEngine],  # noqa: F811 (the fixture)
    relayed_engine: tuple[AsyncEngine, Relay],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    cut_engine, relay = relayed_engine
    telegram, sends = BotDouble(), []
    bots: list[Bot] = [
        await bot_on(Tagged(telegram, "cut", sends)),
        await bot_on(Tagged(telegram, "other", sends)),
    ]
    cut_off = instance(cut_engine, bots[0], 30.0, utcnow)
    other = instance(pg_engines[1], bots[1], 30.0, utcnow)
    try:
        await cut_off.tick()
        assert cut_off.sending and not (await other.tick()).claimed
        assert not other.sending

        relay.cut = True
        people = 20
        await add_people(pg_engines[0], people, datetime.now(UTC) + timedelta(seconds=1))
        async with ticking(cut_off, other):
            await asyncio.sleep(10)
            # Nobody sends yet, and /metrics on the instance still reached says so.
            metrics = Metrics()
            metrics.watch_sending(lambda: other.sending, other.oldest_overdue_seconds)
            assert gauge(metrics, "reminderbot_sending_leader") == 0
            assert gauge(metrics, "reminderbot_oldest_overdue_seconds") >= 5
            took = await wait_until_sent(pg_engines[0], people, seconds=45)
        assert 10 + took <= 30, f"another instance took over after {10 + took:.1f} s"
        assert other.sending and not cut_off.sending
    finally:
        await relay.close()
        for dispatcher in (cut_off, other):
            if dispatcher.leader is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(dispatcher.leader.release(), 10)
        for bot in bots:
            await bot.shutdown()

    per_chat = Counter(call.params["chat_id"] for call in telegram.calls_to("sendMessage"))
    assert len(per_chat) == people and set(per_chat.values()) == {1}
    assert {name for name, _ in sends} == {"other"}
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("reminderbot")]
    # The cut-off leader says once that it lost the lead; the other once that it took it.
    assert sum("lost the sending lock" in line for line in lines) == 1
    assert sum("now sends reminders" in line for line in lines) == 2


async def test_a_leader_whose_lock_session_ends_mid_batch_stops_before_its_next_chunk(
    pg_engines: list[AsyncEngine],  # noqa: F811 (the fixture)
    caplog: pytest.LogCaptureFixture,
) -> None:
    """pg_terminate_backend on the lock session while a batch sends: the old leader stops
    before its next chunk and hands back what it had not sent; the new one sends it. No two
    senders side by side beyond that one chunk, so Telegram answers no 429; each reminder
    once."""
    caplog.set_level(logging.INFO)
    people = 150  # more than one batch (two seconds at 30/s), so the other has work at once
    await add_people(pg_engines[0], people, datetime.now(UTC))
    telegram, sends = BotDouble(), []
    telegram.set_rate_limit(30)
    bots = [
        await bot_on(Tagged(telegram, "first", sends)),
        await bot_on(Tagged(telegram, "second", sends)),
    ]
    first = instance(pg_engines[0], bots[0], 30.0, utcnow)
    second = instance(pg_engines[1], bots[1], 30.0, utcnow)
    try:
        first_batch = asyncio.create_task(first.tick())
        while len(sends) < 15:
            assert not first_batch.done()
            await asyncio.sleep(0.02)
        assert await kill_leader_session(pg_engines[2]) == 1
        async with ticking(second):
            await asyncio.wait_for(first_batch, 10)
            await wait_until_sent(pg_engines[0], people, seconds=30)
    finally:
        for dispatcher in (first, second):
            if dispatcher.leader is not None:
                await dispatcher.leader.release()
        for bot in bots:
            await bot.shutdown()

    per_chat = Counter(call.params["chat_id"] for call in telegram.calls_to("sendMessage"))
    assert len(per_chat) == people and set(per_chat.values()) == {1}
    assert telegram.rate_limited == 0
    second_began = min(at for name, at in sends if name == "second")
    late = [at for name, at in sends if name == "first" and at > second_began]
    # At most the chunk it was sending when its session ended (its sends confirmed just
    # before); it checks again before the next one and stops.
    assert len(late) <= first.recheck_every, f"the old leader sent {len(late)} after"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("reminderbot")]
    assert sum("lost the sending lock" in line for line in lines) == 1
