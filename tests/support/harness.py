"""The real Application, wired exactly as in production, against the strict offline double.

Tests act as a person would (send a command, press a button, type text) and assert on what the
double recorded, which is exactly what that person would see.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from telegram import Bot, Update

from reminderbot.config import Settings, SupportContact
from reminderbot.content import Catalog, load_catalog
from reminderbot.delivery.dispatcher import Dispatcher, TickStats
from reminderbot.delivery.pacing import Pacer
from reminderbot.storage import repositories
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import Delivery, Person
from reminderbot.telegram import callbacks
from reminderbot.telegram.app import (
    DISPATCHER_KEY,
    _post_init,
    build_application,
    release_leadership,
)
from reminderbot.telegram.context import AppState
from tests.support import factories
from tests.support.botdouble import BotDouble, RecordedCall

REPO = Path(__file__).resolve().parents[2]
TOKEN = "123456:TEST-token-never-logged"


@dataclass
class FakeClock:
    """The bot's clock: a Monday morning in UTC unless a test moves it."""

    now: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 7, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now

    def set(self, when: datetime) -> None:
        self.now = when


_catalog: Catalog | None = None


def catalog() -> Catalog:
    global _catalog
    if _catalog is None:
        _catalog = load_catalog(REPO / "messages", "en")
    return _catalog


def make_dispatcher(
    sessions: SessionFactory,
    bot: Bot,
    clock: Callable[[], datetime],
    *,
    rate: float | None = None,
    **kw: Any,
) -> Dispatcher:
    """A dispatcher with the settings tests and benchmarks share (stale after two hours,
    content protected); ``kw`` passes anything else the Dispatcher takes."""
    return Dispatcher(
        sessions=sessions,
        catalog=catalog(),
        bot=bot,
        rate=rate,
        stale_after=timedelta(hours=2),
        protect_content=True,
        clock=clock,
        **kw,
    )


def test_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "token": TOKEN,
        "practice_name": "Test Practice",
        "support_contacts": [
            SupportContact(name="Practice line", contact="+1 555 0100"),
            SupportContact(name="Crisis line", contact="988"),
        ],
        "default_timezone": "UTC",
        "messages_dir": REPO / "messages",
    }
    values.update(overrides)
    return Settings(**values)


class BotHarness:
    def __init__(self, state: AppState, double: BotDouble) -> None:
        self.state = state
        self.double = double
        self.application = build_application(
            state,
            token=TOKEN,
            base_url="https://api.telegram.org/bot",
            request=double,
            get_updates_request=double,
        )
        self.bot = self.application.bot

    @classmethod
    @asynccontextmanager
    async def running(
        cls,
        sessions: SessionFactory,
        clock: FakeClock,
        *,
        double: BotDouble | None = None,
        **settings: Any,
    ) -> AsyncIterator[BotHarness]:
        """The bot, ready. Pass another harness's ``double`` for a second instance of the same
        bot: one Telegram, so messages one instance sent can be edited by the other."""
        state = AppState(
            settings=test_settings(**settings),
            catalog=catalog(),
            sessions=sessions,
            clock=clock,
            run_dispatcher=False,
        )
        harness = cls(state, double or BotDouble())
        await harness.application.initialize()
        await _post_init(harness.application)
        # The fake clock only moves when a test moves it, so claiming ahead of the due time
        # (tested on the real clock in test_delivery) would make sends look early here.
        harness.dispatcher.lookahead = timedelta(0)
        # Likewise the per-chat second between sends is real time; tests that jump the fake
        # clock a day per tick would wait a real second each (tests/test_pacing_rotation.py
        # covers the per-chat spacing itself).
        harness.dispatcher.pacer = Pacer(None, per_chat_interval=0.0)
        try:
            yield harness
            assert not harness.double.violations, harness.double.violations
        finally:
            await release_leadership(harness.application)
            await harness.application.shutdown()

    @property
    def dispatcher(self) -> Dispatcher:
        dispatcher: Dispatcher = self.application.bot_data[DISPATCHER_KEY]
        return dispatcher

    def text(self, key: str, **params: object) -> str:
        return self.state.text(key, "en", **params)

    # ------------------------------------------------------------------ acting as a person
    async def process(self, update: Update) -> None:
        await self.application.process_update(update)

    async def command(self, user_id: int, command: str, args: str = "", **kw: Any) -> None:
        await self.process(factories.command_update(self.bot, user_id, command, args, **kw))

    async def say(self, user_id: int, text: str, **kw: Any) -> None:
        await self.process(factories.text_update(self.bot, user_id, text, **kw))

    async def press(self, user_id: int, data: str, *, message_id: int | None = None) -> None:
        """Press the button with this callback data on the latest message that has it."""
        if message_id is None:
            message_id = self.message_with_button(user_id, data)
        await self.process(
            factories.callback_update(self.bot, user_id, data, message_id=message_id)
        )

    async def press_label(self, user_id: int, label: str) -> None:
        data = self.button_data(user_id, label)
        await self.press(user_id, data)

    async def join(self, user_id: int) -> None:
        """/start and yes: the usual first minute."""
        await self.command(user_id, "/start")
        await self.press(user_id, callbacks.consent_data(True))

    async def tick(self) -> TickStats:
        return await self.dispatcher.tick()

    # ------------------------------------------------------------------ what they saw
    def seen(self, chat_id: int) -> list[RecordedCall]:
        return self.double.messages_to(chat_id)

    def last_text(self, chat_id: int) -> str:
        return self.double.last_text(chat_id)

    def all_texts(self, chat_id: int) -> list[str]:
        return [str(c.params.get("text", c.params.get("caption", ""))) for c in self.seen(chat_id)]

    def message_with_button(self, chat_id: int, data: str) -> int:
        for call in reversed(self.double.calls):
            if call.params.get("chat_id") != chat_id:
                continue
            if any(d == data for row in BotDouble.buttons(call) for _, d in row):
                return self.double.message_id_of(call)
        raise AssertionError(f"no message to {chat_id} has a button {data!r}")

    def button_data(self, chat_id: int, label: str) -> str:
        for call in reversed(self.double.calls):
            if call.params.get("chat_id") != chat_id:
                continue
            for row in BotDouble.buttons(call):
                for text, data in row:
                    if text == label:
                        return data
        raise AssertionError(f"no message to {chat_id} has a button labelled {label!r}")

    def last_buttons(self, chat_id: int) -> list[str]:
        for call in reversed(self.double.calls):
            if call.params.get("chat_id") == chat_id and BotDouble.buttons(call):
                return [text for row in BotDouble.buttons(call) for text, _ in row]
        return []

    def answers(self) -> list[str]:
        return [str(c.params.get("text", "")) for c in self.double.calls_to("answerCallbackQuery")]

    # ------------------------------------------------------------------ what is stored
    async def person(self, user_id: int) -> Person | None:
        async with self.state.sessions.begin() as session:
            return await repositories.person_by_telegram_id(session, user_id)

    async def deliveries(self, user_id: int) -> list[Delivery]:
        async with self.state.sessions.begin() as session:
            person = await repositories.person_by_telegram_id(session, user_id)
            if person is None:
                return []
            query = select(Delivery).where(Delivery.person_id == person.id).order_by(Delivery.id)
            return list((await session.execute(query)).scalars())
