"""The real bot, end to end: ``reminderbot run`` as its own process against the sandbox Bot API.

Each test drives the bot the way a person would (typing, opening links, pressing buttons) through
the sandbox's state, and asserts on what that person sees and on the calls the bot made. The only
shortcut is the sandbox's "make my next reminder due now", which writes the bot's own database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from reminderbot.config import CONFIG_ENV, DEFAULT_CONFIG_PATH, Settings, load_settings
from reminderbot.content import Catalog, load_catalog
from reminderbot.sandbox.due_now import due_now_hook
from reminderbot.sandbox.runner import (
    PUBLIC_WEBHOOK_URL,
    WebhookBot,
    start_bot,
    start_webhook_bot,
    start_webhook_bots,
    stop_process,
)
from reminderbot.sandbox.server import DueNowHook, RunningServer, start_server
from reminderbot.sandbox.state import CallRecord, SandboxState, StoredMessage
from reminderbot.sandbox.views import invite_payloads
from reminderbot.services.consent import STORED_LINES
from reminderbot.services.retention import RetentionPolicy
from reminderbot.services.schedules import MAX_DAILY_TIMES
from reminderbot.storage import crypto, keys, repositories
from reminderbot.storage.db import create_engine, create_session_factory
from reminderbot.storage.models import Delivery, DeliveryStatus, utcnow
from reminderbot.telegram import callbacks

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
A, B = 111, 222
EN = "en"
# A negative ("nothing arrives") is judged over this many seconds: many dispatcher ticks.
QUIET_SECONDS = 3.0
T = TypeVar("T")


# ---------------------------------------------------------------------- words, as the bot says them
def _settings() -> Settings:
    # The bot runs with cwd = REPO, so it reads the same config file (or REMINDERBOT_CONFIG).
    return load_settings(None if os.environ.get(CONFIG_ENV) else REPO / DEFAULT_CONFIG_PATH)


@dataclass(frozen=True)
class Words:
    catalog: Catalog
    practice_name: str

    def __call__(self, key: str, **params: object) -> str:
        return self.catalog.text(key, EN, practice_name=self.practice_name, **params)

    def prefix(self, key: str, placeholder: str, **params: object) -> str:
        """The words before ``{placeholder}``, for a text that holds a time or a list."""
        return self(key, **params, **{placeholder: "\0"}).split("\0")[0]

    def welcome(self, key: str = "onboarding.welcome") -> str:
        kept = RetentionPolicy.of(_settings()).words()  # the periods the running bot reads
        stored = "\n".join(self(f"onboarding.stored.{line}", **kept) for line in STORED_LINES)
        return self(key, stored=stored, kept=self("retention.welcome", **kept))

    def timezone_question(self) -> str:
        settings = _settings()
        return self(
            "settings.ask_timezone",
            time=settings.default_reminder_time.strftime("%H:%M"),
            timezone=settings.default_timezone,
        )


@pytest.fixture(scope="module")
def words() -> Words:
    return Words(load_catalog(REPO / "messages"), _settings().practice_name)


# ---------------------------------------------------------------------- the sandbox and the bot
@dataclass
class Sandbox:
    """The sandbox Bot API server, the bot's database, and the bot processes run against them.

    One long-polling bot: ``start_bot``. Several instances in webhook mode, with the server
    delivering updates to them in turn: ``start_webhook_bots(n)``. ``Sandbox.open(url)`` gives
    one with no bot running (any database URL, e.g. PostgreSQL) and stops every bot at the end.
    """

    server: RunningServer
    database_url: str
    due_now_hook: DueNowHook
    process: asyncio.subprocess.Process | None = None
    exits: list[int] = field(default_factory=list)
    webhook_bots: list[WebhookBot] = field(default_factory=list)
    webhook_secret: str = "e2e-webhook-secret"

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, database_url: str) -> AsyncIterator[Sandbox]:
        server = await start_server()
        running = cls(server, database_url, due_now_hook(database_url))
        try:
            yield running
        finally:
            try:
                await running.stop_bot()
                await running.stop_webhook_bots()
            finally:
                await server.close()

    @property
    def state(self) -> SandboxState:
        return self.server.state

    async def start_webhook_bots(
        self, count: int, env: dict[str, str] | None = None
    ) -> list[WebhookBot]:
        """``count`` ``reminderbot run`` processes in webhook mode; returns once every one has
        set the webhook. ``env`` adds to their environment (e.g. a send rate)."""
        before = len(self.state.calls_to("setWebhook", ok=True))
        bots = await start_webhook_bots(
            self.server,
            self.database_url,
            count,
            secret=self.webhook_secret,
            env=env,
            cwd=REPO,
        )
        self.webhook_bots.extend(bots)
        await self._until_webhooks_set(bots, before + count)
        return bots

    async def _until_webhooks_set(self, bots: list[WebhookBot], calls: int) -> None:
        def ready() -> bool:
            exited = [b.process.returncode for b in bots if b.process.returncode is not None]
            assert not exited, f"an instance exited before setting the webhook: {exited}"
            return len(self.state.calls_to("setWebhook", ok=True)) >= calls

        await eventually(ready, seconds=60)

    async def kill_webhook_bot(self, index: int) -> int:
        """kill -9 of one instance; its port then refuses connections, so the server skips it."""
        bot = self.webhook_bots[index]
        bot.process.kill()
        return await bot.process.wait()

    async def restart_webhook_bot(self, index: int, env: dict[str, str] | None = None) -> None:
        """Start instance ``index`` again on its old address (its place in the round robin)."""
        old = self.webhook_bots[index]
        before = len(self.state.calls_to("setWebhook", ok=True))
        new = await start_webhook_bot(
            self.server,
            self.database_url,
            secret=self.webhook_secret,
            listen=old.listen,
            env=env,
            cwd=REPO,
        )
        self.webhook_bots[index] = new
        await self._until_webhooks_set([new], before + 1)

    async def stop_webhook_bots(self) -> list[int]:
        """SIGINT to every instance still running; their exit codes."""
        codes = [await stop_process(bot.process) for bot in self.webhook_bots]
        self.webhook_bots = []
        return codes

    async def start_bot(self) -> None:
        polls = len(self.state.calls_to("getUpdates"))
        self.process = await start_bot(self.server, self.database_url, cwd=REPO)
        # Polling has begun once a new getUpdates arrives: from then on updates are seen.
        await eventually(lambda: len(self.state.calls_to("getUpdates")) > polls, seconds=30)

    async def kill_bot(self) -> None:
        """kill -9: no shutdown, no last commit."""
        assert self.process is not None
        self.process.kill()
        self.exits.append(await self.process.wait())
        self.process = None

    async def stop_bot(self) -> None:
        if self.process is not None:
            process, self.process = self.process, None
            self.exits.append(await stop_process(process))

    async def due_now(self, user_id: int) -> None:
        await self.due_now_hook(user_id)

    # The bot's own database, read (and once written) the way due_now_hook does it.
    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        saved = crypto.current()
        engine = create_engine(self.database_url)
        try:
            # The bot made this database: people are found by the hash key it chose.
            await keys.unlock(engine)
            async with create_session_factory(engine).begin() as session:
                yield session
        finally:
            await engine.dispose()
            crypto.use(*saved)

    async def reachable(self, user_id: int) -> bool | None:
        async with self.session() as session:
            person = await repositories.person_by_telegram_id(session, user_id)
        return None if person is None else person.reachable

    async def deliveries(self) -> list[Delivery]:
        async with self.session() as session:
            return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())

    async def expire_leases(self) -> None:
        """What two minutes of waiting would do: every claim's lease has run out."""
        async with self.session() as session:
            claimed = select(Delivery).where(Delivery.status == DeliveryStatus.CLAIMED)
            for row in (await session.execute(claimed)).scalars():
                row.retry_at = utcnow() - timedelta(seconds=1)


@pytest.fixture
async def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sandbox]:
    # bot_environment copies os.environ: a fast tick keeps due-now reminders quick.
    monkeypatch.setenv("REMINDERBOT_TICK_SECONDS", "0.2")
    async with Sandbox.open(f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}") as running:
        await running.start_bot()
        yield running
    # A clean stop (SIGINT) ends with exit code 0; a kill -9 is -9 and expected where used.
    assert running.exits[-1:] == [0]


# ---------------------------------------------------------------------- waiting and looking
async def eventually(check: Callable[[], T | None], seconds: float = 10.0) -> T:
    """Poll until ``check`` returns something truthy; return it."""
    deadline = time.monotonic() + seconds
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)
    return value


async def eventually_async(check: Callable[[], Awaitable[T | None]], seconds: float = 10.0) -> T:
    """``eventually`` for a check that reads the database."""
    deadline = time.monotonic() + seconds
    while not (value := await check()):
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.1)
    return value


def buttons(message: StoredMessage) -> dict[str, str]:
    """The inline buttons the person sees under a message: label -> callback data."""
    rows = (message.message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["text"]: b["callback_data"] for row in rows for b in row if "callback_data" in b}


def press(state: SandboxState, chat_id: int, message: StoredMessage, label: str) -> str:
    """Tap the button labelled ``label``; returns the callback query id."""
    data = buttons(message).get(label)
    assert data is not None, f"no button {label!r} under {buttons(message)}"
    return state.press_button(chat_id, message.message_id, data).id


def answered(state: SandboxState, query_id: str) -> bool:
    return state.callback_queries[query_id].answered


def text_of(message: StoredMessage) -> str:
    return str(message.message.get("text", ""))


def with_text(state: SandboxState, chat_id: int, text: str) -> StoredMessage | None:
    return next((m for m in state.bot_messages(chat_id) if text_of(m) == text), None)


def reminders(state: SandboxState, chat_id: int) -> list[StoredMessage]:
    """Bot messages carrying check-in buttons: the reminders."""
    return [
        m
        for m in state.bot_messages(chat_id)
        if any(d.startswith("ci:") for d in buttons(m).values())
    ]


def sends_to(state: SandboxState, chat_id: int, *, ok: bool | None = None) -> list[CallRecord]:
    return [c for c in state.calls_to("sendMessage", ok=ok) if c.chat_id == chat_id]


async def onboard(sandbox: Sandbox, words: Words, chat_id: int) -> None:
    """/start, then "yes": the person is in and has been asked for their timezone."""
    state = sandbox.state
    state.send_text(chat_id, "/start")
    welcome = await eventually(lambda: with_text(state, chat_id, words.welcome()))
    query = press(state, chat_id, welcome, words("buttons.consent_yes"))
    await eventually(lambda: answered(state, query))
    await eventually(lambda: with_text(state, chat_id, words("onboarding.consented")))
    await eventually(lambda: with_text(state, chat_id, words.timezone_question()))


async def next_reminder(sandbox: Sandbox, chat_id: int, seconds: float = 8.0) -> StoredMessage:
    """Make the person's next reminder due now and wait for exactly one more to arrive."""
    before = len(reminders(sandbox.state, chat_id))
    await sandbox.due_now(chat_id)
    await eventually(lambda: len(reminders(sandbox.state, chat_id)) > before, seconds=seconds)
    found = reminders(sandbox.state, chat_id)
    assert len(found) == before + 1
    return found[-1]


async def stays_quiet(state: SandboxState, chat_id: int, seconds: float = QUIET_SECONDS) -> None:
    """No sendMessage attempt at all reaches this chat for ``seconds``."""
    before = len(sends_to(state, chat_id))
    await asyncio.sleep(seconds)
    assert len(sends_to(state, chat_id)) == before


# ---------------------------------------------------------------------- the scenarios
async def test_onboarding(sandbox: Sandbox, words: Words) -> None:
    state = sandbox.state
    state.send_text(A, "/start")
    welcome = await eventually(lambda: with_text(state, A, words.welcome()))
    assert set(buttons(welcome)) == {words("buttons.consent_yes"), words("buttons.consent_no")}

    query = press(state, A, welcome, words("buttons.consent_yes"))
    await eventually(lambda: answered(state, query))
    await eventually(lambda: with_text(state, A, words("onboarding.consented")))
    # The choice is made: the buttons go, and the words agreed to stay.
    await eventually(lambda: buttons(welcome) == {})
    assert text_of(welcome) == words.welcome()
    question = await eventually(lambda: with_text(state, A, words.timezone_question()))
    # Places on the buttons ("New York"), the IANA names in their data.
    offered = buttons(question)
    for zone in _settings().timezone_choices:
        place = zone.rsplit("/", 1)[-1].replace("_", " ")
        assert offered[place] == callbacks.settings_data("tz", zone), offered
    assert state.bot_messages(B) == []
    assert state.violations == []


async def test_a_reminder_arrives_at_its_time(sandbox: Sandbox, words: Words) -> None:
    state = sandbox.state
    await onboard(sandbox, words, A)
    assert reminders(state, A) == []

    reminder = await next_reminder(sandbox, A, seconds=5)
    labels = set(buttons(reminder))
    moods = {words(f"buttons.mood_{m}") for m in ("steady", "heavy", "need_space", "open")}
    assert moods | {words("buttons.pause")} == labels
    assert reminder.message.get("has_protected_content") is True
    # Exactly one: later ticks do not send the same occurrence again.
    await asyncio.sleep(1.0)
    assert len(reminders(state, A)) == 1
    assert len(sends_to(state, A, ok=False)) == 0
    assert state.violations == []


async def test_a_check_in(sandbox: Sandbox, words: Words) -> None:
    state = sandbox.state
    await onboard(sandbox, words, A)
    reminder = await next_reminder(sandbox, A)
    body = text_of(reminder)

    steady = words("buttons.mood_steady")
    query = press(state, A, reminder, steady)
    await eventually(lambda: answered(state, query))
    await eventually(lambda: reminder.edits > 0)
    assert text_of(reminder) == body + "\n\n" + words("checkin.recorded_line", mood=steady)
    shown = buttons(reminder)
    assert words("buttons.chosen", label=steady) in shown and steady not in shown
    assert words("buttons.pause") in shown  # a pause stays one tap away
    toast = state.chats[A].toasts[-1]
    assert (toast.callback_query_id, toast.text) == (
        query,
        words("answers.checked_in", mood=steady),
    )
    await eventually(lambda: with_text(state, A, words("notes.offer")))
    assert state.violations == []


async def test_a_pause_is_honoured(sandbox: Sandbox, words: Words) -> None:
    state = sandbox.state
    await onboard(sandbox, words, A)
    reminder = await next_reminder(sandbox, A)

    query = press(state, A, reminder, words("buttons.pause"))
    await eventually(lambda: answered(state, query))
    menu = await eventually(lambda: with_text(state, A, words("pause.choose")))
    query = press(state, A, menu, words("buttons.pause_3d"))
    await eventually(lambda: answered(state, query))
    await eventually(lambda: menu.edits > 0)
    assert text_of(menu).startswith(words.prefix("pause.done_until", "until"))
    assert buttons(menu) == {}
    assert state.chats[A].toasts[-1].text == words("answers.paused")

    sent_before = len(sends_to(state, A))
    await sandbox.due_now(A)
    # The dispatcher saw the occurrence and skipped it, rather than simply not getting to it.
    skipped = await eventually_async(lambda: _skipped(sandbox), seconds=5)
    assert [row.reason for row in skipped] == ["paused"]
    await stays_quiet(state, A)
    assert len(sends_to(state, A)) == sent_before
    assert len(reminders(state, A)) == 1
    assert state.violations == []


async def _skipped(sandbox: Sandbox) -> list[Delivery]:
    return [r for r in await sandbox.deliveries() if r.status is DeliveryStatus.SKIPPED]


async def test_a_429_is_waited_out(sandbox: Sandbox, words: Words) -> None:
    state = sandbox.state
    await onboard(sandbox, words, A)
    state.add_fault("retry_after", method="sendMessage", chat_id=A, retry_after=2)
    before = len(sends_to(state, A))

    await next_reminder(sandbox, A, seconds=10)
    refused, accepted = sends_to(state, A)[before:]
    assert (refused.status, refused.retry_after) == (429, 2)
    assert accepted.status == 200
    assert accepted.at - refused.at >= 2.0  # Telegram's retry_after was honoured
    await asyncio.sleep(1.0)
    assert len(reminders(state, A)) == 1
    assert len(sends_to(state, A)) == before + 2
    assert state.violations == []


async def test_a_blocked_person_is_left_alone_until_they_write(
    sandbox: Sandbox, words: Words
) -> None:
    state = sandbox.state
    await onboard(sandbox, words, A)
    state.add_fault("blocked", method="sendMessage", chat_id=A, count=None)
    before = len(sends_to(state, A))

    await sandbox.due_now(A)
    refused = await eventually(lambda: sends_to(state, A)[before:])
    assert [c.status for c in refused] == [403]
    await eventually_async(lambda: _is_false(sandbox.reachable(A)))
    await sandbox.due_now(A)  # nothing is scheduled for them any more
    await stays_quiet(state, A)
    assert len(sends_to(state, A)) == before + 1
    assert reminders(state, A) == []

    # Writing again means they unblocked the bot (the sandbox lifts the fault, as Telegram does).
    state.send_text(A, "/help")
    most = words(f"numbers.{MAX_DAILY_TIMES}")
    help_start = words.prefix("help.text", "contacts", most=most)
    await eventually(lambda: text_of(state.bot_messages(A)[-1]).startswith(help_start))
    assert await sandbox.reachable(A) is True
    reminder = await next_reminder(sandbox, A)
    assert reminder.message.get("has_protected_content") is True
    assert state.violations == []


async def _is_false(value: Awaitable[bool | None]) -> bool:
    return await value is False


async def test_kill_9_while_idle_loses_nothing(sandbox: Sandbox, words: Words) -> None:
    state = sandbox.state
    await onboard(sandbox, words, A)
    await sandbox.kill_bot()
    assert sandbox.exits == [-9]

    await sandbox.due_now(A)  # falls due while the bot is down
    await sandbox.start_bot()
    await eventually(lambda: reminders(state, A), seconds=8)
    await asyncio.sleep(1.0)
    assert len(reminders(state, A)) == 1
    (row,) = await sandbox.deliveries()
    assert (row.status, row.uncertain) == (DeliveryStatus.SENT, 0)
    assert state.violations == []


async def test_kill_9_mid_send_sends_again_once_the_lease_runs_out(
    sandbox: Sandbox, words: Words
) -> None:
    state = sandbox.state
    await onboard(sandbox, words, A)
    # The reminder's request reaches "Telegram" and hangs there: its fate is unknown.
    state.add_fault("outage", method="sendMessage", chat_id=A, mode="hang", count=1, duration=30)
    before = len(sends_to(state, A))
    await sandbox.due_now(A)
    await eventually(lambda: sends_to(state, A)[before:])
    await sandbox.kill_bot()
    state.clear_faults()

    # The claim's lease is two minutes; let it run out in the database instead of waiting.
    (row,) = await sandbox.deliveries()
    assert (row.status, row.reason) == (DeliveryStatus.CLAIMED, "in_flight")
    await sandbox.expire_leases()

    await sandbox.start_bot()
    await eventually(lambda: reminders(state, A), seconds=8)
    await asyncio.sleep(1.0)
    assert 1 <= len(reminders(state, A)) <= 2
    assert len(reminders(state, A)) == 1  # the hung request never became a message here
    assert [c.status for c in sends_to(state, A)[before:]] == [0, 200]
    (row,) = await sandbox.deliveries()
    assert (row.status, row.uncertain) == (DeliveryStatus.SENT, 1)
    assert state.violations == []


async def test_two_paired_partners(sandbox: Sandbox, words: Words) -> None:
    state = sandbox.state
    username = str(state.bot_user["username"])
    await onboard(sandbox, words, A)

    state.send_text(A, "/pair")
    hours = max(1, round(_settings().invite_ttl.total_seconds() / 3600))
    await eventually(lambda: with_text(state, A, words("pairing.invite_made", hours=hours)))
    forward = await eventually(
        lambda: next(
            (m for m in state.bot_messages(A) if invite_payloads(m.message, username)), None
        )
    )
    (token,) = invite_payloads(forward.message, username)
    link = f"https://t.me/{username}?start={token}"
    assert text_of(forward) == words("pairing.invite_forward", link=link)
    assert not forward.message.get("has_protected_content")  # it is meant to be forwarded

    state.open_deep_link(B, token)
    invited = words.welcome("pairing.invited_welcome")
    welcome = await eventually(lambda: with_text(state, B, invited))
    query = press(state, B, welcome, words("pairing.buttons.begin_and_connect"))
    await eventually(lambda: answered(state, query))
    assert state.chats[B].toasts[-1].text == words("pairing.answers.connected")
    await eventually(lambda: with_text(state, B, words("onboarding.consented")))
    assert text_of(welcome) == invited  # the words agreed to stay
    couple_offer = {words("pairing.buttons.couple_yes"), words("pairing.buttons.couple_no")}
    connected = words("pairing.connected")
    told_b = await eventually(lambda: with_text(state, B, connected))
    told_a = await eventually(lambda: with_text(state, A, connected))
    assert set(buttons(told_a)) == set(buttons(told_b)) == couple_offer
    assert told_a.message.get("has_protected_content") is True  # a partner's line stays private

    # A rests their own reminders: B hears nothing of it, and B's reminders go on.
    b_sends = len(sends_to(state, B))
    state.send_text(A, "/pause")
    scope = await eventually(lambda: with_text(state, A, words("pairing.pause_scope")))
    query = press(state, A, scope, words("pairing.buttons.scope_mine"))
    await eventually(lambda: answered(state, query))
    await eventually(lambda: text_of(scope) == words("pause.choose"))
    query = press(state, A, scope, words("buttons.pause_3d"))
    await eventually(lambda: answered(state, query))
    await eventually(lambda: text_of(scope).startswith(words.prefix("pause.done_until", "until")))
    await sandbox.due_now(A)
    await stays_quiet(state, B)
    assert len(sends_to(state, B)) == b_sends
    assert reminders(state, A) == []

    await next_reminder(sandbox, B)
    assert reminders(state, A) == []
    assert state.violations == []


async def test_webhook_mode_through_the_sandbox(
    tmp_path: Path, words: Words, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One instance in webhook mode: updates arrive by POST, none by getUpdates, and an update
    sent while the instance is down waits for it."""
    monkeypatch.setenv("REMINDERBOT_TICK_SECONDS", "0.2")
    async with Sandbox.open(f"sqlite+aiosqlite:///{tmp_path / 'hook.db'}") as sandbox:
        state = sandbox.state
        (instance,) = await sandbox.start_webhook_bots(1)
        assert (state.webhook_url, state.webhook_secret) == (
            PUBLIC_WEBHOOK_URL,
            sandbox.webhook_secret,
        )
        await onboard(sandbox, words, A)
        delivered = [a for a in state.webhook_attempts if a.delivered]
        assert len(delivered) == 2  # /start and the consent press
        assert {a.target for a in delivered} == {instance.url}
        assert state.calls_to("getUpdates") == []
        await next_reminder(sandbox, A)

        assert await sandbox.kill_webhook_bot(0) == -9
        state.send_text(A, "/help")
        await eventually(lambda: state.webhook_attempts[-1].error == "Connection refused")
        await sandbox.restart_webhook_bot(0)
        most = words(f"numbers.{MAX_DAILY_TIMES}")
        help_start = words.prefix("help.text", "contacts", most=most)
        await eventually(lambda: text_of(state.bot_messages(A)[-1]).startswith(help_start))
        assert await sandbox.stop_webhook_bots() == [0]
        assert state.webhook_url == PUBLIC_WEBHOOK_URL  # a stopping replica leaves it set
        assert state.violations == []
