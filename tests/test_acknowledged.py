"""What the bot acknowledges, it keeps (issue 19): real ``reminderbot run`` processes in webhook
mode against the sandbox, killed or stopped in the middle of a burst of check-in taps.

Telegram forgets an update once it got a 200 for it, and sends it again otherwise. So every
update answered 200 must be kept, even by a process killed a moment later; one that was not
answered comes again and must then change nothing a second time; and a stopping process answers
503 to new updates and is gone within 10 seconds.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.content import load_catalog
from reminderbot.sandbox.state import JsonDict
from reminderbot.sandbox.state import Person as SandboxPerson
from reminderbot.sandbox.webhook import SECRET_HEADER
from reminderbot.storage import crypto, keys
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.models import CheckIn, Delivery, DeliveryStatus, Mood, Person
from tests.bench.dispatch_bench import add_people
from tests.support.harness import REPO
from tests.test_e2e import Sandbox, Words, eventually, eventually_async, reminders
from tests.test_e2e import _settings as e2e_settings
from tests.test_multi_instance import e2e_database, postgres_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

FIRST_CHAT = 10_000_001  # add_people gives person i the chat 10_000_000 + i
# Reminders go out fast here (the sandbox's flood limit is lifted while they do): the tests
# are about the taps.
FAST = {
    "REMINDERBOT_TICK_SECONDS": "0.2",
    "REMINDERBOT_PAID_BROADCAST": "true",
    "REMINDERBOT_SEND_RATE_PER_SECOND": "1000",
}


@pytest.fixture
def words() -> Words:
    return Words(load_catalog(REPO / "messages"), e2e_settings().practice_name)


@dataclass
class Taps:
    """One tap per person, each an update the sandbox delivers (or one a test posts)."""

    by_chat: dict[int, int]  # chat -> the tap's update_id

    def chats_of(self, update_ids: set[int]) -> set[int]:
        return {chat for chat, update_id in self.by_chat.items() if update_id in update_ids}


@pytest.fixture(autouse=True)
def _keys_put_back() -> Iterator[None]:
    """``reminded`` borrows the running bot's hash key; the next test gets the usual ones."""
    saved = crypto.current()
    yield
    crypto.use(*saved)


async def reminded(sandbox: Sandbox, engine: AsyncEngine, people: int) -> None:
    """``people`` people who said yes, each with a reminder in their chat."""
    state = sandbox.state
    # The bot made this database: people are found by the hash key it chose.
    await keys.unlock(engine)
    for i in range(people):
        chat = FIRST_CHAT + i
        state.add_person(
            SandboxPerson(user_id=chat, first_name=f"P{i}", label=f"P{i}", started=True)
        )
    state.rate_limit.overall_per_second = None
    await add_people(
        engine, people, datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    )
    await eventually(
        lambda: all(reminders(state, FIRST_CHAT + i) for i in range(people)), seconds=60
    )
    state.rate_limit.overall_per_second = 30


def tap_everyone(sandbox: Sandbox, words: Words, people: int, label: str) -> Taps:
    state = sandbox.state
    by_chat = {}
    for i in range(people):
        chat = FIRST_CHAT + i
        (reminder,) = reminders(state, chat)
        data = _button(reminder.message, words(label))
        state.press_button(chat, reminder.message_id, data)
        by_chat[chat] = int(state.updates[-1]["update_id"])
    return Taps(by_chat)


def _button(message: JsonDict, label: str) -> str:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    (data,) = [b["callback_data"] for row in rows for b in row if b["text"] == label]
    return str(data)


def answered_200(sandbox: Sandbox) -> set[int]:
    return {a.update_id for a in sandbox.state.webhook_attempts if a.delivered}


async def checked_in(engine: AsyncEngine) -> dict[int, Mood]:
    """chat -> the mood kept for their reminder."""
    async with create_session_factory(engine)() as session:
        rows = await session.execute(
            select(Person.chat_id, CheckIn.mood).join(CheckIn, CheckIn.person_id == Person.id)
        )
        return {int(chat): mood for chat, mood in rows.all()}


def assert_no_second_effect(sandbox: Sandbox, words: Words, taps: Taps) -> None:
    """Each tap answered at most once, and at most one note offer per person, whatever was
    delivered twice (the first tap offers a note once)."""
    state = sandbox.state
    answers = Counter(
        str(call.params.get("callback_query_id"))
        for call in state.calls_to("answerCallbackQuery", ok=True)
    )
    assert [query for query, count in answers.items() if count > 1] == []
    offers = Counter(
        call.chat_id
        for call in state.calls_to("sendMessage", ok=True)  # a 429 and its retry are one
        if call.params.get("text") == words("notes.offer")
    )
    assert [chat for chat, count in offers.items() if count > 1] == []
    assert set(offers) <= set(taps.by_chat)
    assert state.violations == []


@pytest.fixture
async def one_instance(tmp_path: Path) -> AsyncIterator[tuple[Sandbox, AsyncEngine]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'burst.db'}"
    engine = create_engine(url)
    try:
        async with Sandbox.open(url) as sandbox:
            await sandbox.start_webhook_bots(1, env=FAST)
            yield sandbox, engine
    finally:
        await engine.dispose()


BURST = 300


async def test_kill_9_during_a_burst_loses_no_update_it_answered_200(
    one_instance: tuple[Sandbox, AsyncEngine], words: Words
) -> None:
    sandbox, engine = one_instance
    await reminded(sandbox, engine, BURST)
    taps = tap_everyone(sandbox, words, BURST, "buttons.mood_steady")
    await eventually(lambda: len(answered_200(sandbox)) >= BURST // 4, seconds=60)

    assert await sandbox.kill_webhook_bot(0) == -9
    acknowledged = taps.chats_of(answered_200(sandbox))
    assert len(acknowledged) < BURST, "the burst ended before the kill; nothing was tested"
    # Read before anything could be sent again: every tap answered 200 is in the database.
    kept = await checked_in(engine)
    assert sorted(acknowledged - set(kept)) == []

    # What was not answered comes again to the restarted instance, and each tap takes
    # effect once: nobody is missing, nothing happened twice.
    await sandbox.restart_webhook_bot(0, env=FAST)
    await eventually_async(lambda: _all_checked_in(engine, BURST), seconds=90)
    assert set((await checked_in(engine)).values()) == {Mood.STEADY}
    await eventually(lambda: not sandbox.state.pending_updates(), seconds=30)
    assert_no_second_effect(sandbox, words, taps)


async def _all_checked_in(engine: AsyncEngine, people: int) -> bool:
    return len(await checked_in(engine)) == people


async def test_sigterm_during_a_burst_answers_503_exits_within_10_s_and_keeps_every_200(
    one_instance: tuple[Sandbox, AsyncEngine], words: Words
) -> None:
    sandbox, engine = one_instance
    await reminded(sandbox, engine, BURST)
    taps = tap_everyone(sandbox, words, BURST, "buttons.mood_heavy")
    await eventually(lambda: len(answered_200(sandbox)) >= BURST // 4, seconds=60)

    process = sandbox.webhook_bots[0].process
    signalled = time.monotonic()
    attempts_before = len(sandbox.state.webhook_attempts)
    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), 30)
    took = time.monotonic() - signalled
    assert code == 0
    assert took < 10.0, f"SIGTERM took {took:.1f} s"
    after_signal = sandbox.state.webhook_attempts[attempts_before:]
    # Updates that reached it while it stopped were handed back with 503, not taken.
    assert any(a.status == 503 for a in after_signal), [a.status for a in after_signal]

    acknowledged = taps.chats_of(answered_200(sandbox))
    kept = await checked_in(engine)
    assert sorted(acknowledged - set(kept)) == []

    await sandbox.restart_webhook_bot(0, env=FAST)  # on its old address
    await eventually_async(lambda: _all_checked_in(engine, BURST), seconds=90)
    assert set((await checked_in(engine)).values()) == {Mood.HEAVY}
    await eventually(lambda: not sandbox.state.pending_updates(), seconds=30)
    assert_no_second_effect(sandbox, words, taps)


async def test_sigterm_while_telegram_answers_429_exits_within_10_s(
    one_instance: tuple[Sandbox, AsyncEngine], words: Words
) -> None:
    """A reply waiting out a 429 and a batch of reminders refused with 429 do not hold the
    stop: new updates get 503 at once, and the process is gone within 10 s."""
    sandbox, engine = one_instance
    state = sandbox.state
    people = 40
    await reminded(sandbox, engine, people)
    # From now on Telegram refuses every send for 30 s with "retry after 30".
    state.add_fault("retry_after", count=None, duration=60, retry_after=30)
    await add_people(engine, people, datetime.now(UTC) + timedelta(seconds=1), start_id=people + 1)
    chat = FIRST_CHAT
    state.send_text(chat, "/help")  # its reply waits out the 429 (telegram/retries)
    await eventually(lambda: any(c.status == 429 for c in state.calls_to("sendMessage")))
    await asyncio.sleep(1.0)

    process = sandbox.webhook_bots[0].process
    url = sandbox.webhook_bots[0].url
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.3)
    update = {
        "update_id": 9_000_000,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": {"id": chat, "type": "private", "first_name": "P0"},
            "from": {"id": chat, "is_bot": False, "first_name": "P0"},
            "text": "/help",
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    }
    async with aiohttp.ClientSession() as client:
        headers = {SECRET_HEADER: sandbox.webhook_secret, "Content-Type": "application/json"}
        try:
            async with client.post(url, data=json.dumps(update), headers=headers) as response:
                assert response.status == 503
        except aiohttp.ClientConnectorError:
            # The stop is quick enough (the 429 waits are cut at once) that the server may be
            # closed already: not acknowledged either, so Telegram sends the update again.
            pass
    code = await asyncio.wait_for(process.wait(), 30)
    took = time.monotonic() - signalled
    assert code == 0
    assert took < 10.0, f"SIGTERM took {took:.1f} s"
    # The refused update changed nothing; the reminders refused with 429 are still owed.
    async with create_session_factory(engine)() as session:
        sent = await session.scalar(
            select(func.count()).where(Delivery.status == DeliveryStatus.SENT)
        )
    assert sent is not None and sent >= people


# --------------------------------------------------------------------------- three replicas
@pytest.mark.postgres
async def test_taps_of_one_person_sent_to_three_replicas_at_once_end_with_the_last(
    e2e_database: str,  # noqa: F811
    words: Words,
) -> None:
    """Heavy (update n) then Steady (n+1), posted at the same moment to different replicas:
    every person ends with Steady, and nobody is told the database is down."""
    people = 20
    engine = create_engine(e2e_database)
    try:
        async with Sandbox.open(e2e_database) as sandbox:
            await sandbox.start_webhook_bots(3, env=FAST)
            await reminded(sandbox, engine, people)
            state = sandbox.state
            urls = [bot.url for bot in sandbox.webhook_bots]
            posts: list[tuple[str, JsonDict]] = []
            for i in range(people):
                chat = FIRST_CHAT + i
                (reminder,) = reminders(state, chat)
                pair = []
                for step, label in enumerate(("buttons.mood_heavy", "buttons.mood_steady")):
                    data = _button(reminder.message, words(label))
                    state.press_button(chat, reminder.message_id, data)
                    update = state.updates[-1]
                    # Posted by the test, to a replica of its choosing: the sandbox's own
                    # delivery (one update of a chat at a time) never sees it.
                    state.confirm_update(int(update["update_id"]))
                    pair.append((urls[(i + step) % 3], update))
                # For half the people the newer tap goes on the wire first.
                posts.extend(reversed(pair) if i % 2 else pair)
            headers = {SECRET_HEADER: sandbox.webhook_secret, "Content-Type": "application/json"}
            async with aiohttp.ClientSession() as client:

                async def post(url: str, update: JsonDict) -> int:
                    async with client.post(url, data=json.dumps(update), headers=headers) as r:
                        return r.status

                statuses = await asyncio.gather(*(post(url, body) for url, body in posts))
            assert set(statuses) == {200}
            kept = await checked_in(engine)
            assert kept == {FIRST_CHAT + i: Mood.STEADY for i in range(people)}
            down = words("errors.database_down")
            assert [c for c in state.calls_to("sendMessage") if c.params.get("text") == down] == []
            assert state.violations == []
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- long polling
async def test_kill_9_of_a_polling_process_loses_no_update_it_fetched(
    tmp_path: Path, words: Words, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long polling confirms an update (the next getUpdates' offset) only once it is handled:
    what a killed process had fetched but not finished is fetched again, and what it had
    finished changes nothing the second time."""
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)
    url = f"sqlite+aiosqlite:///{tmp_path / 'polling.db'}"
    engine = create_engine(url)
    try:
        async with Sandbox.open(url) as sandbox:
            await sandbox.start_bot()
            await reminded(sandbox, engine, BURST)
            taps = tap_everyone(sandbox, words, BURST, "buttons.mood_open")
            await eventually_async(lambda: _at_least_checked_in(engine, BURST // 4), seconds=60)
            await sandbox.kill_bot()
            assert len(await checked_in(engine)) < BURST, "all handled before the kill"

            await sandbox.start_bot()
            await eventually_async(lambda: _all_checked_in(engine, BURST), seconds=90)
            assert set((await checked_in(engine)).values()) == {Mood.OPEN}
            await eventually(lambda: not sandbox.state.updates, seconds=30)  # all confirmed
            assert_no_second_effect(sandbox, words, taps)
    finally:
        await engine.dispose()


async def _at_least_checked_in(engine: AsyncEngine, people: int) -> bool:
    return len(await checked_in(engine)) >= people
