"""The offline Telegram double: a real PTB Bot and Application talk to it as to Telegram."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.support import factories
from tests.support.botdouble import BotApiRefused, BotDouble

TOKEN = "123456:TEST-token"
ALEX, SAM = 501, 502
MARKUP = InlineKeyboardMarkup(
    [
        [InlineKeyboardButton("Yes", callback_data="consent:yes")],
        [InlineKeyboardButton("Read", url="https://example.org/read")],
    ]
)


@pytest.fixture
def double() -> BotDouble:
    return BotDouble()


@pytest.fixture
async def bot(double: BotDouble) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, request=double, get_updates_request=double)
    await bot.initialize()
    yield bot
    await bot.shutdown()


async def test_initialize_asks_get_me(bot: Bot, double: BotDouble) -> None:
    assert bot.username == "reminder_test_bot" and bot.id == 1000
    assert [c.method for c in double.calls] == ["getMe"]


async def test_send_message_is_recorded_and_answered_like_telegram(
    bot: Bot, double: BotDouble
) -> None:
    first = await bot.send_message(ALEX, "one", reply_markup=MARKUP, disable_notification=True)
    second = await bot.send_message(ALEX, "two")
    other = await bot.send_message(SAM, "three")

    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.chat.id == ALEX and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.id == bot.id
    assert first.text == "one" and first.reply_markup == MARKUP
    assert first.date.tzinfo is not None and abs(time.time() - first.date.timestamp()) < 5

    call = double.calls_to("sendMessage", ALEX)[0]
    assert call.params == {
        "chat_id": ALEX,
        "text": "one",
        "reply_markup": MARKUP.to_dict(),
        "disable_notification": True,
    }
    assert BotDouble.buttons(call) == [
        [("Yes", "consent:yes")],
        [("Read", "https://example.org/read")],
    ]
    assert [c.params["text"] for c in double.messages_to(ALEX)] == ["one", "two"]
    assert double.last_text(ALEX) == "two" and double.last_text(SAM) == "three"
    assert double.message_id_of(call) == 1
    with pytest.raises(AssertionError):
        double.last_text(999)


async def test_reply_keyboards_are_not_echoed_into_the_message(bot: Bot) -> None:
    sent = await bot.send_message(ALEX, "pick", reply_markup=ReplyKeyboardMarkup([["a", "b"]]))
    assert sent.reply_markup is None


async def test_edits_must_target_a_message_that_was_sent(bot: Bot, double: BotDouble) -> None:
    sent = await bot.send_message(ALEX, "before", reply_markup=MARKUP)

    edited = await bot.edit_message_text("after", chat_id=ALEX, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "after" and edited.edit_date is not None
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard

    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("after", chat_id=ALEX, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=ALEX, message_id=sent.message_id + 1)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=SAM, message_id=sent.message_id)

    marked = await bot.edit_message_reply_markup(ALEX, sent.message_id, reply_markup=MARKUP)
    assert isinstance(marked, Message) and marked.reply_markup == MARKUP
    assert len(double.calls_to("editMessageText")) == 1
    assert double.attempts_to("editMessageText") == 4


async def test_answer_callback_query_and_commands_answer_true(bot: Bot, double: BotDouble) -> None:
    assert await bot.answer_callback_query("q1", text="Saved") is True
    commands = [BotCommand("start", "Begin"), BotCommand("pause", "Pause")]
    assert await bot.set_my_commands(commands) is True
    assert await bot.delete_my_commands() is True
    assert await bot.set_my_description("About") is True
    assert await bot.delete_webhook() is True
    assert await bot.get_updates(timeout=0) == ()

    (answer,) = double.calls_to("answerCallbackQuery")
    assert answer.params == {"callback_query_id": "q1", "text": "Saved"}
    (set_commands,) = double.calls_to("setMyCommands")
    assert set_commands.params["commands"] == [c.to_dict() for c in commands]


async def test_send_document_and_photo_record_the_upload(bot: Bot, double: BotDouble) -> None:
    document = await bot.send_document(
        ALEX, InputFile(b'{"a": 1}', filename="export.json"), caption="Your data"
    )
    assert document.document is not None and document.document.file_name == "export.json"
    assert document.caption == "Your data"
    photo = await bot.send_photo(ALEX, b"\x89PNG fake", caption="Chart")
    assert photo.photo and photo.message_id == 2

    sent_document, sent_photo = double.messages_to(ALEX)
    assert sent_document.method == "sendDocument"
    assert sent_document.files == {"document": b'{"a": 1}'}
    assert sent_document.filenames == {"document": "export.json"}
    assert sent_document.params == {"chat_id": ALEX, "caption": "Your data"}
    assert sent_photo.files == {"photo": b"\x89PNG fake"}
    assert double.last_text(ALEX) == "Chart"

    resent = await bot.send_document(SAM, document.document.file_id)
    assert double.calls_to("sendDocument", SAM)[0].files == {}
    assert resent.document is not None


async def test_a_call_the_spec_refuses_fails_loudly(bot: Bot, double: BotDouble) -> None:
    with pytest.raises(AssertionError, match="4097 characters"):
        await bot.send_message(ALEX, "x" * 4097)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("a", callback_data="é" * 33)]])
    with pytest.raises(BotApiRefused, match="66 bytes"):
        await bot.send_message(ALEX, "hi", reply_markup=too_long)
    with pytest.raises(AssertionError, match="unknown method"):
        await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": ALEX})

    assert len(double.violations) == 3
    assert "sendMessage: text: 4097 characters, allowed 1-4096" in double.violations
    assert double.calls_to("sendMessage") == []  # refused calls never reach Telegram


async def test_validation_can_be_switched_off() -> None:
    double = BotDouble(validate=False)
    async with Bot(TOKEN, request=double, get_updates_request=double) as bot:
        await bot.send_message(ALEX, "x" * 5000)
    assert double.violations == [] and len(double.calls_to("sendMessage")) == 1


async def test_without_recording_only_the_count_is_kept() -> None:
    double = BotDouble(validate=False, record=False)
    async with Bot(TOKEN, request=double, get_updates_request=double) as bot:
        sent = await bot.send_message(ALEX, "hi")
        await bot.edit_message_text("edited", chat_id=ALEX, message_id=sent.message_id)
    assert double.calls == [] and double.answered == 3  # getMe, send, edit


# ---------------------------------------------------------------------- faults
async def test_429_raises_retry_after_with_telegrams_delay(bot: Bot, double: BotDouble) -> None:
    double.fail_next("sendMessage", error="429", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ALEX, "hi")
    assert caught.value.retry_after == timedelta(seconds=7)
    await bot.send_message(ALEX, "hi")  # only the next call failed

    assert double.attempts_to("sendMessage") == 2
    assert len(double.calls_to("sendMessage")) == 1
    assert double.calls[1].fault == "429" and double.calls[1].result is None


async def test_403_400_timeout_and_network_faults(bot: Bot, double: BotDouble) -> None:
    double.fail_next("sendMessage", error="403")
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(ALEX, "hi")
    double.fail_next("SENDMESSAGE", error="400_chat_not_found")  # names are case-insensitive
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(ALEX, "hi")
    double.fail_next("sendmessage", error="timeout")
    with pytest.raises(TimedOut):
        await bot.send_message(ALEX, "hi")
    double.fail_next("sendMessage", error="network")
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(ALEX, "hi")
    assert not isinstance(caught.value, TimedOut)
    assert double.calls_to("sendMessage") == []
    assert double.attempts_to("sendMessage") == 4


async def test_faults_can_target_one_chat_and_repeat(bot: Bot, double: BotDouble) -> None:
    double.fail_next("sendMessage", chat_id=SAM, error="403", times=2)
    await bot.send_message(ALEX, "fine")
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(SAM, "blocked")
    await bot.send_message(SAM, "unblocked")
    assert [c.params["text"] for c in double.messages_to(SAM)] == ["unblocked"]
    with pytest.raises(ValueError, match="no such Bot API method"):
        double.fail_next("sendTelepathy", error="403")


async def test_rate_limit_answers_429_above_the_rate(bot: Bot, double: BotDouble) -> None:
    now = [100.0]
    double.monotonic = lambda: now[0]
    double.set_rate_limit(3)

    delays = []
    for i in range(5):
        try:
            await bot.send_message(ALEX, f"m{i}")
        except RetryAfter as exc:
            delays.append(exc.retry_after)
    assert delays == [timedelta(seconds=1)] * 2 and double.rate_limited == 2
    assert len(double.calls_to("sendMessage")) == 3

    now[0] += 0.5  # still inside the same second
    with pytest.raises(RetryAfter):
        await bot.send_message(ALEX, "again")
    now[0] += 0.6  # the first three have left the window
    await bot.send_message(ALEX, "later")
    assert await bot.answer_callback_query("q") is True  # only sends are limited

    double.set_rate_limit(None)
    for _ in range(10):
        await bot.send_message(ALEX, "unlimited")
    assert double.rate_limited == 3


async def test_latency_delays_each_call(bot: Bot, double: BotDouble) -> None:
    double.latency = 0.05
    started = time.perf_counter()
    await asyncio.gather(*(bot.send_message(ALEX, "hi") for _ in range(3)))
    assert 0.05 <= time.perf_counter() - started < 0.5  # concurrent calls sleep side by side


async def test_reset_forgets_everything(bot: Bot, double: BotDouble) -> None:
    sent = await bot.send_message(ALEX, "hi")
    double.fail_next("sendMessage", error="403")
    double.reset()
    assert double.calls == [] and double.violations == [] and double.rate_limited == 0
    await bot.send_message(ALEX, "no fault left")
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=ALEX, message_id=sent.message_id)


# ---------------------------------------------------------------------- with an Application
async def test_an_application_with_factory_updates() -> None:
    double = BotDouble()
    app = ApplicationBuilder().token(TOKEN).request(double).get_updates_request(double).build()

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and context.args is not None
        await update.message.reply_text(f"args={','.join(context.args)}", reply_markup=MARKUP)

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        replied_to = update.message.reply_to_message
        await update.message.reply_text(
            update.message.text.upper() + (" (reply)" if replied_to else "")
        )

    async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("ok")
        await query.edit_message_text(f"pressed {query.data}")

    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(press))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        bot = app.bot
        await app.process_update(factories.command_update(bot, ALEX, "/start", "a b"))
        sent = double.messages_to(ALEX)[-1]
        assert sent.params["text"] == "args=a,b"
        message_id = double.message_id_of(sent)

        await app.process_update(
            factories.callback_update(bot, ALEX, "consent:yes", message_id=message_id)
        )
        assert double.calls_to("answerCallbackQuery")[0].params["text"] == "ok"
        (edit,) = double.calls_to("editMessageText", ALEX)
        assert edit.params["message_id"] == message_id
        assert edit.params["text"] == "pressed consent:yes"

        original = factories.text_update(bot, ALEX, "first").message
        await app.process_update(factories.text_update(bot, ALEX, "hello", reply_to=original))
        assert double.last_text(ALEX) == "HELLO (reply)"

    assert double.violations == []


def test_factories_count_up_and_bind_the_bot() -> None:
    bot = Bot(TOKEN, request=BotDouble())
    first = factories.command_update(bot, ALEX, "/start")
    second = factories.text_update(bot, ALEX, "hi")
    assert second.update_id > first.update_id
    assert first.message is not None and second.message is not None
    assert second.message.message_id > first.message.message_id
    assert first.message.text == "/start" and first.message.date.tzinfo is not None
    assert first.message.parse_entities() == {first.message.entities[0]: "/start"}
    assert first.get_bot() is bot and first.message.get_bot() is bot

    group = factories.command_update(bot, ALEX, "/start", chat_type="group")
    assert group.effective_chat is not None and group.effective_chat.id < 0

    press = factories.callback_update(bot, SAM, "x:1", message_id=7, message_text="Pick")
    query = press.callback_query
    assert query is not None and query.data == "x:1" and query.from_user.id == SAM
    assert isinstance(query.message, Message) and query.message.message_id == 7
    assert query.message.chat.id == SAM and query.get_bot() is bot

    document = factories.document_update(bot, ALEX, file_name="a.csv", caption="c")
    assert document.message is not None and document.message.document is not None
    assert document.message.document.file_name == "a.csv"
