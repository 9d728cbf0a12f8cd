"""Several instances on one database behave as one bot.

Each instance here is its own engine (its own connections and sessions), as separate processes
would be. On PostgreSQL the send rate is one rate for all of them; on both databases the state
that spans two updates of a person who said yes lives in the database, so the second update may
reach another instance.
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot

from reminderbot.content import load_catalog
from reminderbot.delivery.dispatcher import LEASE, Dispatcher
from reminderbot.delivery.reminder import checkin_data
from reminderbot.delivery.shared_rate import (
    LOCK_CLASS,
    SENDER_NAME_PREFIX,
    SendingLeader,
    leader_for,
)
from reminderbot.sandbox.state import Person as SandboxPerson
from reminderbot.sandbox.state import SandboxState
from reminderbot.sandbox.webhook import SECRET_HEADER
from reminderbot.storage import repositories
from reminderbot.storage.db import SessionFactory, create_engine, create_session_factory
from reminderbot.storage.migrate import upgrade
from reminderbot.storage.models import CheckIn, Delivery, DeliveryStatus, Mood, Person, Schedule
from reminderbot.telegram import callbacks
from reminderbot.telegram.app import run_tick
from tests.bench.dispatch_bench import add_people
from tests.support import databases
from tests.support.botdouble import BotDouble
from tests.support.harness import REPO, BotHarness, FakeClock, make_dispatcher
from tests.test_e2e import (
    Sandbox,
    Words,
    eventually,
    eventually_async,
    next_reminder,
    onboard,
    press,
    with_text,
)
from tests.test_e2e import _settings as e2e_settings

ALEX = 4201
DUE = datetime(2026, 3, 2, 9, tzinfo=UTC)


# --------------------------------------------------------------------------- instances
@pytest.fixture
def postgres_url(postgres_skip_reason: str | None) -> str:
    if postgres_skip_reason is not None:
        pytest.skip(postgres_skip_reason)
    return databases.POSTGRES_URL


@pytest.fixture
async def pg_engines(postgres_url: str) -> AsyncIterator[list[AsyncEngine]]:
    """Three instances' engines on one emptied PostgreSQL database."""
    engines = [databases.engine_for(postgres_url) for _ in range(3)]
    await databases.truncate_postgres(engines[0])
    yield engines
    for engine in engines:
        await engine.dispose()


async def bot_on(double: BotDouble) -> Bot:
    bot = Bot("123:MULTI", request=double)
    await bot.initialize()
    return bot


def instance(
    engine: AsyncEngine, bot: Bot, rate: float | None, clock: Callable[[], datetime]
) -> Dispatcher:
    """One instance's dispatcher, wired as the app wires it (leader election included)."""
    dispatcher = make_dispatcher(create_session_factory(engine), bot, clock, rate=rate)
    dispatcher.leader = leader_for(engine)
    return dispatcher


def busiest_second(times: list[float]) -> int:
    """The most sends in any one-second window (a window starting at each send is enough)."""
    times = sorted(times)
    most, j = 0, 0
    for i, start in enumerate(times):
        j = max(j, i)
        while j < len(times) and times[j] < start + 1.0:
            j += 1
        most = max(most, j - i)
    return most


async def statuses(engine: AsyncEngine) -> Counter[str]:
    async with create_session_factory(engine)() as session:
        rows = await session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)
        )
        return Counter({str(status): int(count) for status, count in rows.all()})


# --------------------------------------------------------------------------- one send rate
@pytest.mark.postgres
async def test_three_instances_together_stay_within_the_send_rate_each_reminder_once(
    pg_engines: list[AsyncEngine],
) -> None:
    rate, people = 20.0, 70
    await add_people(pg_engines[0], people, DUE)
    telegram = BotDouble()  # one Telegram for all three; it takes every send, to count them
    bots = [await bot_on(telegram) for _ in pg_engines]
    clock = FakeClock(DUE + timedelta(seconds=30))
    dispatchers = [instance(e, b, rate, clock) for e, b in zip(pg_engines, bots, strict=True)]

    async def run(dispatcher: Dispatcher) -> None:
        deadline = asyncio.get_running_loop().time() + 30
        while len(telegram.calls_to("sendMessage")) < people:
            assert asyncio.get_running_loop().time() < deadline, "reminders did not all go out"
            await dispatcher.tick()
            await asyncio.sleep(0.25)

    try:
        await asyncio.gather(*(run(d) for d in dispatchers))
    finally:
        for dispatcher, bot in zip(dispatchers, bots, strict=True):
            if dispatcher.leader is not None:
                await dispatcher.leader.release()
            await bot.shutdown()

    sends = telegram.calls_to("sendMessage")
    assert busiest_second([call.at for call in sends]) <= rate
    per_chat = Counter(call.params["chat_id"] for call in sends)
    assert len(per_chat) == people and set(per_chat.values()) == {1}
    assert await statuses(pg_engines[0]) == {DeliveryStatus.SENT.value: people}
    assert not telegram.violations


class SilentTelegram(BotDouble):
    """Takes a send and never answers: the instance that made it hangs until it is killed."""

    def __init__(self) -> None:
        super().__init__()
        self.reached = asyncio.Event()

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if url.endswith("/sendMessage"):
            self.reached.set()
            await asyncio.Event().wait()
        return await super().do_request(url, method, *args, **kwargs)


_SENDING_LOCK = (
    " FROM pg_locks WHERE locktype = 'advisory' AND classid = :lock_class AND objsubid = 2"
    " AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295)"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


async def kill_leader_session(engine: AsyncEngine) -> int:
    """What kill -9 does to the sending instance's database session: it ends, with its lock."""
    params = {"lock_class": LOCK_CLASS}
    async with engine.connect() as connection:
        killed = await connection.execute(
            text("SELECT pg_terminate_backend(pid)" + _SENDING_LOCK), params
        )
        count = len(killed.all())
        await connection.commit()
        # The backend ends a moment after the signal; the lock goes with it.
        for _ in range(100):
            held = await connection.execute(text("SELECT count(*)" + _SENDING_LOCK), params)
            await connection.commit()
            if held.scalar_one() == 0:
                return count
            await asyncio.sleep(0.05)
    raise AssertionError("the killed session still holds the sending lock")


@pytest.mark.postgres
async def test_when_the_sending_instance_dies_another_sends_its_claims_after_the_lease(
    pg_engines: list[AsyncEngine],
) -> None:
    people = 12
    await add_people(pg_engines[0], people, DUE)
    clock = FakeClock(DUE + timedelta(seconds=30))
    hanging, telegram = SilentTelegram(), BotDouble()
    bot_a, bot_b = await bot_on(hanging), await bot_on(telegram)
    first = instance(pg_engines[0], bot_a, 30.0, clock)
    second = instance(pg_engines[1], bot_b, 30.0, clock)
    try:
        # The first instance leads, claims everyone, and hangs on its first send.
        stuck = asyncio.create_task(first.tick())
        await asyncio.wait_for(hanging.reached.wait(), timeout=10)
        # The other instance does not send while the first still leads.
        assert (await second.tick()).claimed == 0
        assert telegram.calls_to("sendMessage") == []

        # kill -9: the first instance's session (and lock) ends, and it never runs again.
        assert await kill_leader_session(pg_engines[2]) == 1
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        # The second leads at its next tick; the claims wait for their lease to run out.
        await second.tick()
        assert telegram.calls_to("sendMessage") == []
        assert first.leader is not None and not await first.leader.is_leader()

        clock.advance(seconds=LEASE.total_seconds() + 1)
        await second.tick()
    finally:
        for dispatcher in (first, second):
            if dispatcher.leader is not None:
                await dispatcher.leader.release()
        await bot_a.shutdown()
        await bot_b.shutdown()

    per_chat = Counter(call.params["chat_id"] for call in telegram.calls_to("sendMessage"))
    assert len(per_chat) == people and set(per_chat.values()) == {1}
    assert await statuses(pg_engines[0]) == {DeliveryStatus.SENT.value: people}


async def test_on_sqlite_there_is_no_leader_and_one_process_paces_itself(
    tmp_path: Any, sqlite_template: Any
) -> None:
    engine = databases.engine_for(databases.sqlite_copy(sqlite_template, tmp_path))
    try:
        assert leader_for(engine) is None
    finally:
        await engine.dispose()


async def sender_names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        result = await connection.execute(
            text(
                "SELECT application_name FROM pg_stat_activity"
                " WHERE application_name LIKE :prefix || '%' AND datname = current_database()"
            ),
            {"prefix": SENDER_NAME_PREFIX},
        )
        return [str(name) for name in result.scalars()]


@pytest.mark.postgres
async def test_a_released_lead_passes_to_the_next_instance(pg_engines: list[AsyncEngine]) -> None:
    one, two = SendingLeader(pg_engines[0]), SendingLeader(pg_engines[1])
    try:
        assert await one.is_leader()
        assert not await two.is_leader()
        # An operator sees which instance sends (other test runs may share this database).
        ours = f"{SENDER_NAME_PREFIX}{os.uname()[1]}:{os.getpid()}"
        assert (await sender_names(pg_engines[2])).count(ours) == 1
        await one.release()  # a clean shutdown
        assert await two.is_leader()
        assert not await one.is_leader()
    finally:
        await one.release()
        await two.release()


# --------------------------------------------------------------------------- state across updates
@pytest.fixture
async def other_instance(database_url: str) -> AsyncIterator[SessionFactory]:
    """A second instance's sessions on the same database, through its own engine."""
    engine = databases.engine_for(database_url)
    yield create_session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def two(
    sessions: SessionFactory, other_instance: SessionFactory, clock: FakeClock
) -> AsyncIterator[tuple[BotHarness, BotHarness]]:
    """Two instances of one bot: one Telegram, one database, nothing else shared."""
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(BotHarness.running(sessions, clock))
        second = await stack.enter_async_context(
            BotHarness.running(other_instance, clock, double=first.double)
        )
        yield first, second


async def person(harness: BotHarness) -> Person:
    found = await harness.person(ALEX)
    assert found is not None
    return found


def timezone_question(harness: BotHarness) -> str:
    settings = harness.state.settings
    return harness.text(
        "settings.ask_timezone",
        time=settings.default_reminder_time.strftime("%H:%M"),
        timezone=settings.default_timezone,
    )


async def test_the_timezone_question_asked_by_one_instance_is_answered_through_another(
    two: tuple[BotHarness, BotHarness],
) -> None:
    first, second = two
    await first.join(ALEX)
    assert first.last_text(ALEX) == timezone_question(first)

    await second.say(ALEX, "Berlin")

    when = second.text("settings.when.times", times="09:00", timezone="Europe/Berlin")
    assert second.last_text(ALEX) == second.text(
        "settings.timezone_set", timezone="Europe/Berlin", when=when
    )
    assert (await person(first)).timezone == "Europe/Berlin"
    # Answered: the next plain text, through either instance, is no longer read as a place.
    await first.say(ALEX, "Paris")
    assert first.last_text(ALEX) == first.text("errors.free_text")
    assert (await person(second)).timezone == "Europe/Berlin"


async def test_an_unknown_place_keeps_the_question_open_on_every_instance(
    two: tuple[BotHarness, BotHarness],
) -> None:
    first, second = two
    await first.join(ALEX)
    await second.say(ALEX, "Qwxz")
    assert second.last_text(ALEX) == second.text("settings.timezone_unknown")
    await first.say(ALEX, "Hamburg")
    assert (await person(second)).timezone == "Europe/Berlin"


async def test_a_question_left_unanswered_for_a_day_is_no_longer_waiting(
    two: tuple[BotHarness, BotHarness], clock: FakeClock
) -> None:
    first, second = two
    await first.join(ALEX)
    clock.advance(days=1, seconds=1)
    await second.say(ALEX, "Berlin")
    assert second.last_text(ALEX) == second.text("errors.free_text")
    assert (await person(second)).timezone == "UTC"


async def test_the_timezone_button_closes_the_question_for_every_instance(
    two: tuple[BotHarness, BotHarness],
) -> None:
    first, second = two
    await first.join(ALEX)
    zone = first.state.settings.timezone_choices[0]
    await second.press(ALEX, callbacks.settings_data("tz", zone))
    await first.say(ALEX, "Berlin")
    assert first.last_text(ALEX) == first.text("errors.free_text")
    assert (await person(first)).timezone == zone


async def test_nothing_is_stored_for_someone_who_has_not_said_yes(
    two: tuple[BotHarness, BotHarness],
) -> None:
    first, second = two
    await first.command(ALEX, "/start")
    await second.say(ALEX, "Berlin")
    assert second.last_text(ALEX) == second.text("errors.free_text_no_data")
    assert await first.person(ALEX) is None


async def test_consent_given_through_another_instance_than_the_welcome(
    two: tuple[BotHarness, BotHarness],
) -> None:
    first, second = two
    await first.command(ALEX, "/start")
    await second.press(ALEX, callbacks.consent_data(True))
    assert second.last_text(ALEX) == timezone_question(second)
    assert (await person(first)).consent.value == "given"


async def test_a_note_after_a_tap_through_another_instance_is_kept(
    two: tuple[BotHarness, BotHarness], clock: FakeClock
) -> None:
    first, second = two
    await first.join(ALEX)
    await first.command(ALEX, "/timezone", "UTC")
    clock.set(DUE)
    assert (await first.tick()).sent == 1
    delivery_id = (await first.deliveries(ALEX))[-1].id
    await first.press(ALEX, checkin_data(delivery_id, Mood.STEADY))
    assert first.last_text(ALEX) == first.text("notes.offer")

    await second.say(ALEX, "a quiet morning together")

    assert second.last_text(ALEX) == second.text("notes.kept")
    async with second.state.sessions() as session:
        notes = (await session.execute(select(CheckIn.note))).scalars().all()
    assert notes == ["a quiet morning together"]


async def test_a_database_out_of_reach_is_an_outage_for_the_tick_not_a_lost_lead(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on port 1: what a stopped PostgreSQL looks like to an instance.
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    double = BotDouble()
    bot = await bot_on(double)
    dispatcher = instance(engine, bot, 30.0, FakeClock(DUE))
    try:
        assert [await run_tick(dispatcher) for _ in range(3)] == [False, False, False]
    finally:
        await bot.shutdown()
        await engine.dispose()
    outage = [r for r in caplog.records if "cannot reach the database" in r.getMessage()]
    assert len(outage) == 1
    assert double.calls_to("sendMessage") == []


# --------------------------------------------------------------------------- end to end
# Three `reminderbot run` processes in webhook mode on one PostgreSQL database, behind the
# sandbox's round robin, which holds one flood limit (30 sends a second) across all of them.
E2E_PEOPLE = 60
E2E_FIRST_CHAT = 10_000_001  # add_people gives people 1..N the chats 10_000_001..
A = 111  # one of the sandbox's own people, for the conversations


@dataclass
class Deployment:
    sandbox: Sandbox
    engine: AsyncEngine  # the bots' database, for the test's own reads and writes
    words: Words

    @property
    def state(self) -> SandboxState:
        return self.sandbox.state

    async def sender_pid(self) -> int | None:
        names = await sender_names(self.engine)
        return int(names[0].rsplit(":", 1)[1]) if len(names) == 1 else None

    async def count(self, status: DeliveryStatus) -> int:
        return (await statuses(self.engine))[status.value]

    def reminders_per_chat(self) -> Counter[int]:
        return Counter(
            int(call.chat_id)
            for call in self.state.calls_to("sendMessage", ok=True)
            if call.chat_id is not None and int(call.chat_id) >= E2E_FIRST_CHAT
        )

    def handled_by(self, since: int) -> list[str]:
        """Which instance took each update delivered since attempt number ``since``."""
        return [a.target for a in self.state.webhook_attempts[since:] if a.delivered]


@pytest.fixture
async def e2e_database(postgres_url: str) -> AsyncIterator[str]:
    """A database of its own for the bot processes (a process cannot be given a schema),
    migrated before they start, dropped after."""
    name = f"reminderbot_e2e_{os.getpid()}"
    admin = create_engine(postgres_url)
    drop = text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    async with admin.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(drop)
        await connection.execute(text(f"CREATE DATABASE {name}"))
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    try:
        yield url
    finally:
        async with admin.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(drop)
        await admin.dispose()


@pytest.fixture
async def deployment(e2e_database: str) -> AsyncIterator[Deployment]:
    engine = create_engine(e2e_database)
    words = Words(load_catalog(REPO / "messages"), e2e_settings().practice_name)
    try:
        async with Sandbox.open(e2e_database) as sandbox:
            for i in range(E2E_PEOPLE):
                chat = E2E_FIRST_CHAT + i
                sandbox.state.add_person(
                    SandboxPerson(user_id=chat, first_name=f"P{i}", label=f"P{i}", started=True)
                )
            await sandbox.start_webhook_bots(3, env={"REMINDERBOT_TICK_SECONDS": "0.5"})
            yield Deployment(sandbox, engine, words)
            assert sandbox.state.violations == []
            # A clean stop (SIGINT) ends with 0; -9 only for an instance a test killed.
            assert set(await sandbox.stop_webhook_bots()) <= {0, -9}
    finally:
        await engine.dispose()


async def due_together(deployment: Deployment) -> None:
    """About 60 people, each with a reminder due at the same moment, two seconds from now."""
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    await add_people(deployment.engine, E2E_PEOPLE, due)


@pytest.mark.e2e
@pytest.mark.postgres
async def test_e2e_three_instances_send_each_of_60_reminders_once_with_no_429(
    deployment: Deployment,
) -> None:
    await due_together(deployment)
    await eventually_async(
        lambda: _at_least(deployment, DeliveryStatus.SENT, E2E_PEOPLE), seconds=30
    )
    await asyncio.sleep(2.0)  # later ticks, on any instance, send nothing more

    counts = deployment.reminders_per_chat()
    assert len(counts) == E2E_PEOPLE and set(counts.values()) == {1}
    assert [c for c in deployment.state.calls_to("sendMessage", ok=False)] == []


@pytest.mark.e2e
@pytest.mark.postgres
async def test_e2e_three_instances_a_batch_due_and_replies_flowing_get_no_429(
    deployment: Deployment,
) -> None:
    """Reminders and replies share Telegram's budget (30 sends in any second): while 60
    reminders go out, people write /help on any instance, three a second."""
    state = deployment.state
    await due_together(deployment)
    writers = [E2E_FIRST_CHAT + i for i in range(E2E_PEOPLE)]
    for i in range(24):  # eight seconds of replies, from before the batch to after it
        state.send_text(writers[(i * 7) % E2E_PEOPLE], "/help")
        await asyncio.sleep(1 / 3)
    await eventually_async(
        lambda: _at_least(deployment, DeliveryStatus.SENT, E2E_PEOPLE), seconds=30
    )
    await asyncio.sleep(2.0)

    counts = deployment.reminders_per_chat()
    assert len(counts) == E2E_PEOPLE
    # Each got one reminder; the /help replies went to the same chats.
    reminders = Counter(
        int(call.chat_id)
        for call in state.calls_to("sendMessage", ok=True)
        if call.chat_id is not None and "ci:" in str(call.params.get("reply_markup", ""))
    )
    assert set(reminders.values()) == {1} and len(reminders) == E2E_PEOPLE
    assert [c.method for c in state.calls if c.status == 429] == []
    assert len(state.calls_to("sendMessage", ok=True)) == E2E_PEOPLE + 24


async def _at_least(deployment: Deployment, status: DeliveryStatus, count: int) -> bool:
    return await deployment.count(status) >= count


@pytest.mark.e2e
@pytest.mark.postgres
async def test_e2e_kill_9_of_the_sending_instance_at_a_due_minute_loses_nothing(
    deployment: Deployment,
) -> None:
    sandbox = deployment.sandbox
    await due_together(deployment)
    await eventually(lambda: len(deployment.reminders_per_chat()) >= 10, seconds=20)
    sender = await deployment.sender_pid()
    index = [bot.process.pid for bot in sandbox.webhook_bots].index(sender)
    assert await sandbox.kill_webhook_bot(index) == -9
    killed_at = datetime.now(UTC)  # any claim after this is another instance's

    # Another instance takes over and sends what the dead one had not claimed; its claims
    # wait for their lease (run out here at once, as two minutes would).
    async def taken_over() -> bool:
        pid = await deployment.sender_pid()
        return pid is not None and pid != sender

    await eventually_async(taken_over, seconds=10)

    async def only_the_dead_ones_claims_left() -> bool:
        """Everyone else's reminder went out; what is still claimed was claimed before the
        kill (by the dead instance), so running its lease out touches nothing live."""
        async with create_session_factory(deployment.engine)() as session:
            rows = (await session.execute(select(Delivery.status, Delivery.claimed_at))).all()
        open_claims = [at for status, at in rows if status is DeliveryStatus.CLAIMED]
        sent = sum(status is DeliveryStatus.SENT for status, _ in rows)
        return (
            sent + len(open_claims) == E2E_PEOPLE
            and all(at < killed_at for at in open_claims)
            and not await _due_schedules(deployment)
        )

    await eventually_async(only_the_dead_ones_claims_left, seconds=20)
    await sandbox.expire_leases()
    await eventually_async(
        lambda: _at_least(deployment, DeliveryStatus.SENT, E2E_PEOPLE), seconds=20
    )

    counts = deployment.reminders_per_chat()
    assert len(counts) == E2E_PEOPLE  # nobody lost
    # Only what was in flight at the kill may arrive twice: outcomes are committed per chunk
    # of rate/10 messages (3 at 30/s), so at most that chunk.
    assert sum(counts.values()) - E2E_PEOPLE <= 3
    assert deployment.state.calls_to("sendMessage", ok=False) == []


async def _due_schedules(deployment: Deployment) -> int:
    async with create_session_factory(deployment.engine)() as session:
        query = select(func.count()).where(Schedule.next_due_at <= datetime.now(UTC))
        return int((await session.execute(query)).scalar_one())


@pytest.mark.e2e
@pytest.mark.postgres
async def test_e2e_consent_timezone_and_note_each_span_two_instances(
    deployment: Deployment,
) -> None:
    state, words = deployment.state, deployment.words
    start = len(state.webhook_attempts)
    await onboard(deployment.sandbox, words, A)  # /start through one, the yes through another
    state.send_text(A, "Berlin")  # the timezone answer through a third
    times = e2e_settings().default_reminder_time.strftime("%H:%M")
    when = words("settings.when.times", times=times, timezone="Europe/Berlin")
    answer = words("settings.timezone_set", timezone="Europe/Berlin", when=when)
    await eventually(lambda: with_text(state, A, answer))
    assert len(set(deployment.handled_by(start))) == 3

    reminder = await next_reminder(deployment.sandbox, A)
    before = len(state.webhook_attempts)
    press(state, A, reminder, words("buttons.mood_steady"))
    await eventually(lambda: with_text(state, A, words("notes.offer")))
    state.send_text(A, "a quiet morning together")
    await eventually(lambda: with_text(state, A, words("notes.kept")))
    tap, note = deployment.handled_by(before)
    assert tap != note
    async with create_session_factory(deployment.engine)() as session:
        notes = (await session.execute(select(CheckIn.note))).scalars().all()
    assert notes == ["a quiet morning together"]


@pytest.mark.e2e
@pytest.mark.postgres
async def test_e2e_a_post_with_a_wrong_secret_is_refused_and_changes_nothing(
    deployment: Deployment,
) -> None:
    stranger = 333
    update = {
        "update_id": 999_999,
        "message": {
            "message_id": 1,
            "date": int(datetime.now(UTC).timestamp()),
            "chat": {"id": stranger, "type": "private", "first_name": "S"},
            "from": {"id": stranger, "is_bot": False, "first_name": "S"},
            "text": "/start",
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }
    async with aiohttp.ClientSession() as client:
        for headers in ({SECRET_HEADER: "not-the-secret"}, {}):
            url = deployment.sandbox.webhook_bots[0].url
            async with client.post(url, json=update, headers=headers) as response:
                assert response.status in (401, 403)
    await asyncio.sleep(1.0)
    assert [c for c in deployment.state.calls if c.chat_id == stranger] == []
    async with create_session_factory(deployment.engine)() as session:
        assert await repositories.person_by_telegram_id(session, stranger) is None
