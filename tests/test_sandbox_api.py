"""One fake Telegram: the offline double and the sandbox server answer through the same code.

Where the two used to disagree, the choice follows the real Bot API; each such choice has a test
here, named after what Telegram does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest, Forbidden, RetryAfter

from reminderbot.botapi.spec import BotApiSpec
from reminderbot.sandbox import api
from reminderbot.sandbox.server import start_server
from reminderbot.sandbox.state import Person, SandboxState
from tests.support.botdouble import BotDouble

TOKEN = "123456:TEST-token"
ALEX, SAM = 501, 502
MARKUP = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="consent:yes")]])


@pytest.fixture
def double() -> BotDouble:
    return BotDouble()


@pytest.fixture
async def bot(double: BotDouble) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, request=double) as bot:
        yield bot


def started(*user_ids: int) -> SandboxState:
    """A sandbox (not open world) in which these people have written to the bot."""
    return SandboxState(
        [Person(user_id=u, first_name="P", label="P", started=True) for u in user_ids]
    )


async def call(state: SandboxState, method: str, **params: Any) -> api.Answer:
    return await api.answer(state, BotApiSpec.load(), method, params, wire=False)


# ---------------------------------------------------------------------- one implementation
async def test_the_double_and_the_server_both_answer_through_sandbox_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answered: list[str] = []
    original = api.answer

    async def counting(state: SandboxState, spec: BotApiSpec, method: str, *a: Any, **k: Any):  # type: ignore[no-untyped-def]
        answered.append(method)
        return await original(state, spec, method, *a, **k)

    monkeypatch.setattr(api, "answer", counting)
    double = BotDouble()
    async with Bot(TOKEN, request=double) as bot:
        await bot.send_message(ALEX, "from the double")
    assert answered == ["getMe", "sendMessage"]

    server = await start_server(state=started(ALEX))
    try:
        async with Bot(server.token, base_url=server.bot_api_url) as served:
            await served.send_message(ALEX, "from the server")
    finally:
        await server.close()
    assert answered[2:] == ["getMe", "sendMessage"]


async def test_the_double_keeps_its_messages_in_a_sandbox_state(
    bot: Bot, double: BotDouble
) -> None:
    sent = await bot.send_message(ALEX, "before", reply_markup=MARKUP)
    await bot.edit_message_text("after", chat_id=ALEX, message_id=sent.message_id)
    stored = double.state.chats[ALEX].messages[sent.message_id]
    assert stored.message["text"] == "after" and stored.edits == 1
    assert "reply_markup" not in stored.message

    double.state.add_fault("blocked", chat_id=SAM)  # the sandbox's own fault, seen by PTB
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(SAM, "hi")
    assert double.calls_to("sendMessage", SAM) == [] and double.attempts_to("sendMessage") == 2


# ---------------------------------------------------------------------- where they disagreed
async def test_a_second_answer_to_the_same_button_press_is_refused(bot: Bot) -> None:
    # The double used to accept any number of answers; Telegram takes one per query.
    assert await bot.answer_callback_query("q1", text="Saved") is True
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("q1", text="Saved again")
    assert await bot.answer_callback_query("q2") is True


async def test_a_late_answer_has_telegrams_wording() -> None:
    # "query ID" as Telegram writes it (PTB lowercases all but the first letter when raising).
    answer = await call(SandboxState(), "answerCallbackQuery", callback_query_id="never")
    assert answer.body() == {
        "ok": False,
        "error_code": 400,
        "description": (
            "Bad Request: query is too old and response timeout expired or query ID is invalid"
        ),
    }


async def test_a_caption_cannot_be_put_on_a_text_message() -> None:
    # The server used to add one; Telegram refuses, as the double did.
    state = started(ALEX)
    sent = await call(state, "sendMessage", chat_id=ALEX, text="plain")
    assert isinstance(sent.result, dict)
    message_id = sent.result["message_id"]
    refused = await call(
        state, "editMessageCaption", chat_id=ALEX, message_id=message_id, caption="c"
    )
    assert refused.error is not None and refused.error.description == (
        "Bad Request: there is no caption in the message to edit"
    )
    assert "caption" not in state.chats[ALEX].messages[message_id].message


async def test_get_me_says_a_new_bot_may_join_groups() -> None:
    # The server said False; BotFather allows groups until /setjoingroups turns it off.
    answer = await call(SandboxState(), "getMe")
    assert isinstance(answer.result, dict)
    assert answer.result["can_join_groups"] is True
    assert answer.result["can_read_all_group_messages"] is False


async def test_the_flood_limit_counts_every_kind_of_message_but_not_chat_actions(
    bot: Bot, double: BotDouble
) -> None:
    # The double used to count only sendMessage, sendDocument and sendPhoto.
    now = [100.0]
    double.monotonic = lambda: now[0]
    double.set_rate_limit(1)
    await bot.send_message(ALEX, "one")
    with pytest.raises(RetryAfter):
        await bot.send_location(ALEX, latitude=1.0, longitude=2.0)
    assert await bot.send_chat_action(ALEX, "typing") is True
    assert double.rate_limited == 1


async def test_message_ids_are_never_reused_after_reset(bot: Bot, double: BotDouble) -> None:
    first = await bot.send_message(ALEX, "one")
    double.reset()
    second = await bot.send_message(ALEX, "two")
    assert second.message_id == first.message_id + 1


# ---------------------------------------------------------------------- nothing kept
async def test_without_recording_nothing_is_kept_per_call() -> None:
    double = BotDouble(validate=False, record=False)
    async with Bot(TOKEN, request=double) as bot:
        for chat_id in range(1, 51):
            sent = await bot.send_message(chat_id, "hi", reply_markup=MARKUP)
            edited = await bot.edit_message_text(
                "edited", chat_id=chat_id, message_id=sent.message_id
            )
            assert not isinstance(edited, bool) and edited.text == "edited"
            assert await bot.delete_message(chat_id, sent.message_id) is True
            assert await bot.answer_callback_query(f"q{chat_id}") is True
        await bot.send_document(ALEX, InputFile(b"{}", filename="data.json"))
    state = double.state
    assert double.calls == [] and double.answered == 1 + 50 * 4 + 1
    assert (state.chats, state.files, state.callback_queries) == ({}, {}, {})
    assert state.updates == [] and state.faults == [] and state.violations == []
