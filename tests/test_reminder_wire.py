"""The dispatcher's fast way of sending a reminder (delivery/send.ReminderSender with the plain
keyboard of delivery/reminder.reminder_keyboard) puts on the wire exactly what
``bot.send_message`` with PTB's markup does, and gets PTB's own errors back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import RequestData

from reminderbot.content import ContentKind
from reminderbot.delivery.batch import Outgoing
from reminderbot.delivery.reminder import reminder_keyboard, reminder_markup, reminder_text
from reminderbot.delivery.send import ReminderSender
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import Mood
from tests.support.botdouble import BotDouble
from tests.support.harness import TOKEN, BotHarness, FakeClock, catalog

CHAT = 8700
DELIVERY = 123_456_789


def outgoing(*, silent: bool, discreet: bool) -> Outgoing:
    body = catalog().items("en", [ContentKind.AFFIRMATION])[0].text
    return Outgoing(
        delivery_id=DELIVERY,
        person_id=1,
        chat_id=CHAT,
        due_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        text=reminder_text(catalog(), "en", body, discreet=discreet),
        keyboard=reminder_keyboard(catalog(), "en", DELIVERY),
        silent=silent,
        uncertain=0,
        attempts=0,
        lease=datetime(2026, 3, 2, 9, 2, tzinfo=UTC),
    )


def wire_of(double: BotDouble) -> list[list[tuple[str, str]]]:
    """Every request's form values, in order, exactly as they would leave for Telegram."""
    seen: list[list[tuple[str, str]]] = []
    real = double.do_request

    async def do_request(url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        request_data: RequestData | None = args[0] if args else kwargs.get("request_data")
        if url.endswith("/sendMessage") and request_data is not None:
            seen.append(list(request_data.json_parameters.items()))
        return await real(url, method, *args, **kwargs)

    double.do_request = do_request  # type: ignore[method-assign]
    return seen


@pytest.fixture
async def bot() -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, request=BotDouble())
    await bot.initialize()
    yield bot
    await bot.shutdown()


def test_the_plain_keyboard_is_ptbs_markup_as_data() -> None:
    assert reminder_keyboard(catalog(), "en", DELIVERY) == (
        reminder_markup(catalog(), "en", DELIVERY).to_dict()
    )
    # The redrawn one after a tap differs only in the chosen button's label.
    chosen = reminder_markup(catalog(), "en", DELIVERY, chosen=Mood.HEAVY).to_dict()
    plain = reminder_keyboard(catalog(), "en", DELIVERY)
    differ = [
        (a["text"], b["text"])
        for row_a, row_b in zip(chosen["inline_keyboard"], plain["inline_keyboard"], strict=True)
        for a, b in zip(row_a, row_b, strict=True)
        if a != b
    ]
    assert len(differ) == 1


async def sent_both_ways(bot: Bot, message: Outgoing, *, protect: bool) -> list[Any]:
    double = bot.request
    assert isinstance(double, BotDouble)
    wire = wire_of(double)
    await bot.send_message(
        message.chat_id,
        message.text,
        reply_markup=reminder_markup(catalog(), "en", message.delivery_id),
        disable_notification=message.silent,
        protect_content=protect,
    )
    message_id = await ReminderSender(bot, protect_content=protect).send(message)
    assert message_id == 2  # the chat's second message: its id comes from Telegram's answer
    assert not double.violations
    return wire


@pytest.mark.parametrize(
    ("silent", "discreet", "protect"), [(False, False, True), (True, True, False)]
)
async def test_the_sender_puts_exactly_send_messages_request_on_the_wire(
    bot: Bot, silent: bool, discreet: bool, protect: bool
) -> None:
    wire = await sent_both_ways(bot, outgoing(silent=silent, discreet=discreet), protect=protect)
    assert len(wire) == 2 and wire[0] == wire[1]
    assert [name for name, _ in wire[1]] == [
        "chat_id",
        "text",
        "disable_notification",
        "protect_content",
        "reply_markup",
    ]


async def test_the_same_through_the_applications_bot(
    sessions: SessionFactory, clock: FakeClock
) -> None:
    """The Application's bot has Defaults and a rate limiter; a reminder's request is the same."""
    async with BotHarness.running(sessions, clock) as harness:
        wire = await sent_both_ways(
            harness.bot, outgoing(silent=True, discreet=False), protect=True
        )
    assert len(wire) == 2 and wire[0] == wire[1]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("429", RetryAfter),
        ("403", Forbidden),
        ("400_chat_not_found", BadRequest),
        ("timeout", TimedOut),
        ("network", NetworkError),
    ],
)
async def test_telegrams_refusals_raise_ptbs_own_errors(
    bot: Bot, fault: Any, error: type[TelegramError]
) -> None:
    double = bot.request
    assert isinstance(double, BotDouble)
    message = outgoing(silent=False, discreet=False)
    double.fail_next("sendMessage", error=fault)
    with pytest.raises(error) as by_ptb:
        await bot.send_message(CHAT, message.text)
    double.fail_next("sendMessage", error=fault)
    with pytest.raises(error) as by_sender:
        await ReminderSender(bot, protect_content=True).send(message)
    assert type(by_sender.value) is type(by_ptb.value)
    assert by_sender.value.message == by_ptb.value.message
