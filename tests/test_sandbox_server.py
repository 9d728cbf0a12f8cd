"""The sandbox's local Bot API server, driven by a real python-telegram-bot ``Bot`` over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardMarkup
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest

from reminderbot.sandbox.runner import start_bot, stop_process
from reminderbot.sandbox.server import CONTROL_HEADER, RunningServer, start_server
from reminderbot.sandbox.state import JsonDict, SandboxState, callback_buttons

A, B = 111, 222
# What the page sends with every change; a form on another web site cannot send it.
CONTROL_HEADERS = {CONTROL_HEADER: "1"}


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    running = await start_server()
    yield running
    await running.close()


@pytest.fixture
async def bot(server: RunningServer) -> AsyncIterator[Bot]:
    async with Bot(
        server.token, base_url=server.bot_api_url, base_file_url=server.bot_file_url
    ) as real_bot:
        yield real_bot


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def control(
    http: aiohttp.ClientSession, server: RunningServer, verb: str, path: str, body: Any = None
) -> Any:
    async with http.request(
        verb, f"{server.url}/sandbox/api{path}", json=body, headers=CONTROL_HEADERS
    ) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def say(http: aiohttp.ClientSession, server: RunningServer, chat_id: int, text: str) -> Any:
    return await control(http, server, "POST", f"/chats/{chat_id}/messages", {"text": text})


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d.upper(), callback_data=d)] for d in data])


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------- the Bot API, as PTB sees it
async def test_get_me_is_the_sandbox_bot(server: RunningServer, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.username) == (1000, True, "reminder_sandbox_bot")
    assert server.state.violations == []


async def test_a_conversation_round_trip_is_visible_through_the_control_api(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    await say(http, server, A, "/start")
    (update,) = await bot.get_updates(timeout=1)
    assert update.message is not None and update.message.text == "/start"
    assert update.message.entities[0].type == "bot_command"
    assert update.message.from_user is not None and update.message.from_user.id == A

    sent = await bot.send_message(
        A, "Would you like reminders?", reply_markup=keyboard("yes", "no")
    )
    assert sent.from_user is not None and sent.from_user.id == 1000
    assert sent.message_id == update.message.message_id + 1  # one counter per chat

    chat = await control(http, server, "GET", f"/chats/{A}")
    shown = chat["messages"][-1]
    assert shown["from_bot"] and shown["text"] == "Would you like reminders?"
    assert [row[0]["callback_data"] for row in shown["buttons"]] == ["yes", "no"]

    pressed = await control(
        http,
        server,
        "POST",
        f"/chats/{A}/press",
        {"message_id": sent.message_id, "callback_data": "yes"},
    )
    (press,) = await bot.get_updates(offset=update.update_id + 1, timeout=1)
    query = press.callback_query
    assert query is not None and query.data == "yes" and query.id == pressed["callback_query_id"]
    assert query.message is not None and query.message.message_id == sent.message_id

    assert await bot.answer_callback_query(query.id, text="Saved")
    answer = await control(http, server, "GET", f"/callbacks/{query.id}")
    assert answer == {
        "callback_query_id": query.id,
        "answered": True,
        "text": "Saved",
        "show_alert": False,
    }
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query.id)

    edited = await bot.edit_message_text("Reminders are on.", chat_id=A, message_id=sent.message_id)
    assert isinstance(edited, type(sent)) and edited.edit_date is not None
    chat = await control(http, server, "GET", f"/chats/{A}")
    shown = chat["messages"][-1]
    assert shown["text"] == "Reminders are on." and shown["edited"]
    assert shown["buttons"] == []  # Telegram drops a keyboard that the edit does not resend
    assert chat["toasts"][0]["text"] == "Saved"
    assert server.state.violations == []


async def test_edits_fail_as_telegram_fails_them(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    await say(http, server, A, "hello")
    sent = await bot.send_message(A, "Same words", reply_markup=keyboard("a"))
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=A, message_id=999)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text(
            "Same words", chat_id=A, message_id=sent.message_id, reply_markup=keyboard("a")
        )
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("x", chat_id=A, message_id=sent.message_id - 1)
    markup_only = await bot.edit_message_reply_markup(
        chat_id=A, message_id=sent.message_id, reply_markup=keyboard("b")
    )
    assert not isinstance(markup_only, bool) and markup_only.text == "Same words"
    assert (
        server.state.messages(A)[-1].message["reply_markup"]["inline_keyboard"][0][0][
            "callback_data"
        ]
        == "b"
    )


async def test_documents_and_photos_are_uploaded_and_offered_for_download(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    await say(http, server, A, "/mydata")
    payload = json.dumps({"person": {"timezone": "Europe/Berlin"}}).encode()
    sent = await bot.send_document(A, payload, filename="mydata.json", caption="Your data")
    assert sent.document is not None and sent.document.file_name == "mydata.json"
    assert sent.document.file_size == len(payload) and sent.caption == "Your data"
    photo = await bot.send_photo(A, png(3, 2))
    assert [(p.width, p.height) for p in photo.photo] == [(3, 2)]

    chat = await control(http, server, "GET", f"/chats/{A}")
    document = chat["messages"][-2]["document"]
    async with http.get(f"{server.url}{document['url']}?download=1") as response:
        assert await response.read() == payload
        assert response.headers["Content-Disposition"] == 'attachment; filename="mydata.json"'
    async with http.get(f"{server.url}{chat['messages'][-1]['photo']['url']}") as response:
        assert response.content_type == "image/png"

    upload = server.state.calls_to("sendDocument")[0].params["document"]
    assert upload == {"upload": "mydata.json", "size": len(payload)}
    fetched = await bot.get_file(sent.document.file_id)
    assert bytes(await fetched.download_as_bytearray()) == payload
    assert server.state.violations == []


async def test_a_call_the_spec_forbids_is_refused_and_recorded(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server.state.send_text(A, "/start")
    too_long = "x" * 65  # callback_data is 1-64 bytes
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": too_long}]]}
    form = {"chat_id": str(A), "text": "hi", "reply_markup": json.dumps(markup)}
    async with http.post(f"{server.bot_api_url}{server.token}/sendMessage", data=form) as response:
        body = await response.json()
    assert response.status == 400 and body["ok"] is False and body["error_code"] == 400
    assert body["description"].startswith("Bad Request: ") and "64" in body["description"]
    (violation,) = server.state.violations
    assert violation.method == "sendMessage" and "callback_data" in violation.problems[0]
    assert server.state.bot_messages(A) == []

    async with http.post(
        f"{server.bot_api_url}{server.token}/sendMessage", json={"chat_id": A, "txt": "hi"}
    ) as response:
        assert response.status == 400
    async with http.post(f"{server.bot_api_url}{server.token}/sendMessages", json={}) as response:
        assert response.status == 404
    assert [v.method for v in server.state.violations] == [
        "sendMessage",
        "sendMessage",
        "sendMessages",
    ]


async def test_json_bodies_are_accepted(server: RunningServer, http: aiohttp.ClientSession) -> None:
    server.state.send_text(A, "hi")
    async with http.post(
        f"{server.bot_api_url}{server.token}/sendMessage", json={"chat_id": A, "text": "json"}
    ) as response:
        body = await response.json()
    assert body["ok"] and body["result"]["text"] == "json"
    assert server.state.violations == []


async def test_a_bot_cannot_write_first(server: RunningServer, bot: Bot) -> None:
    with pytest.raises(Forbidden, match="can't initiate conversation"):
        await bot.send_message(A, "hello?")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(999, "hello?")


# ---------------------------------------------------------------------- long polling
async def test_long_poll_returns_as_soon_as_someone_writes(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10, read_timeout=15))
    await asyncio.sleep(0.2)
    await say(http, server, B, "are you there?")
    updates = await asyncio.wait_for(poll, 5)
    assert time.monotonic() - started < 2
    assert [u.message.text for u in updates if u.message] == ["are you there?"]


async def test_long_poll_answers_empty_after_its_timeout(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 3


async def test_offset_confirms_and_allowed_updates_filters(server: RunningServer, bot: Bot) -> None:
    server.state.send_text(A, "one")
    server.state.send_text(A, "two")
    _, second = await bot.get_updates()
    assert [u.update_id for u in await bot.get_updates(offset=second.update_id)] == [
        second.update_id
    ]
    assert await bot.get_updates(offset=second.update_id + 1) == ()
    sent = await bot.send_message(A, "pick", reply_markup=keyboard("a"))
    server.state.press_button(A, sent.message_id, "a")
    assert await bot.get_updates(allowed_updates=["message"]) == ()


async def test_a_second_bot_instance_ends_the_first_ones_long_poll(
    server: RunningServer, bot: Bot
) -> None:
    older = asyncio.create_task(bot.get_updates(timeout=10, read_timeout=15))
    await asyncio.sleep(0.2)
    async with Bot(server.token, base_url=server.bot_api_url) as second:
        newer = asyncio.create_task(second.get_updates(timeout=1))
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await asyncio.wait_for(older, 5)
        assert await newer == ()


async def test_a_deep_link_sends_start_with_its_payload(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    await control(http, server, "POST", f"/chats/{B}/start", {"payload": "inv_abc-123"})
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.text == "/start inv_abc-123"
    assert update.message.entities[0].length == len("/start")
    assert update.message.chat.id == B


async def test_invite_links_in_bot_messages_are_pointed_out_to_the_page(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    server.state.send_text(A, "/pair")
    await bot.send_message(A, "Send this: https://t.me/reminder_sandbox_bot?start=tok_1")
    chat = await control(http, server, "GET", f"/chats/{A}")
    assert chat["messages"][-1]["invite_payloads"] == ["tok_1"]


# ---------------------------------------------------------------------- faults
async def test_retry_after_is_raised_with_its_delay_then_the_call_succeeds(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    server.state.send_text(A, "hi")
    await control(
        http,
        server,
        "POST",
        "/faults",
        {"kind": "retry_after", "method": "sendMessage", "retry_after": 7},
    )
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(A, "first try")
    assert caught.value.retry_after == timedelta(seconds=7)
    await bot.send_message(A, "second try")
    refused, accepted = server.state.calls_to("sendMessage")
    assert (refused.status, refused.retry_after) == (429, 7)
    assert accepted.status == 200 and accepted.at >= refused.at


async def test_blocked_until_the_person_writes_again(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    server.state.send_text(A, "hi")
    server.state.send_text(B, "hi")
    await control(http, server, "POST", "/faults", {"kind": "blocked", "chat_id": A, "count": None})
    for _ in range(2):
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await bot.send_message(A, "still there?")
    await bot.send_message(B, "other people are unaffected")
    await say(http, server, A, "/start")
    await bot.send_message(A, "welcome back")
    assert [m.message["text"] for m in server.state.bot_messages(A)] == ["welcome back"]


async def test_chat_not_found_for_the_next_call_only(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    server.state.send_text(A, "hi")
    await control(http, server, "POST", "/faults", {"kind": "chat_not_found", "count": 1})
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(A, "one")
    await bot.send_message(A, "two")


@pytest.mark.parametrize("mode", ["reset", "bad_gateway"])
async def test_an_outage_is_a_network_error_until_it_ends(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession, mode: str
) -> None:
    server.state.send_text(A, "hi")
    await control(
        http,
        server,
        "POST",
        "/faults",
        {"kind": "outage", "mode": mode, "count": None, "duration": 0.5},
    )
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(A, "during")
    assert not isinstance(caught.value, TimedOut)
    with pytest.raises(NetworkError):
        await bot.get_updates()  # an outage takes down every method
    await asyncio.sleep(0.6)
    await bot.send_message(A, "after")


async def test_a_hanging_outage_times_out(server: RunningServer) -> None:
    server.state.send_text(A, "hi")
    request = HTTPXRequest(read_timeout=0.3)
    async with Bot(server.token, base_url=server.bot_api_url, request=request) as impatient:
        server.state.add_fault("outage", mode="hang", count=1, duration=2.0)
        with pytest.raises(TimedOut):
            await impatient.send_message(A, "hello?")


async def test_the_rate_limit_answers_429_until_the_window_passes(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    server.state.send_text(A, "hi")
    await control(http, server, "PUT", "/rate-limit", {"overall_per_second": 2})
    await bot.send_message(A, "1")
    await bot.send_message(A, "2")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(A, "3")
    assert caught.value.retry_after == timedelta(seconds=1)
    await asyncio.sleep(1.0)
    await bot.send_message(A, "3")
    calls = await control(http, server, "GET", "/calls?method=sendMessage")
    assert [c["status"] for c in calls] == [200, 200, 429, 200]
    assert calls[3]["at"] - calls[2]["at"] >= 1.0
    assert await bot.send_chat_action(A, "typing")  # not a send: not counted


async def test_a_wrong_token_is_refused_when_one_is_required() -> None:
    running = await start_server(token="1000:right")
    try:
        async with Bot("1000:right", base_url=running.bot_api_url) as good:
            assert (await good.get_me()).id == 1000
        with pytest.raises(InvalidToken):
            async with Bot("1000:wrong", base_url=running.bot_api_url):
                pass
    finally:
        await running.close()


# ---------------------------------------------------------------------- webhook delivery
class Instance:
    """One bot instance's webhook endpoint, as plain aiohttp: it records what the sandbox POSTs."""

    def __init__(self) -> None:
        self.received: list[tuple[JsonDict, str | None]] = []
        self.status = 200
        self.hold: dict[int, asyncio.Event] = {}  # chat id -> answer only once this is set
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        update = await request.json()
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        held = self.hold.get(_update_chat(update))
        if held is not None:
            await held.wait()
        if self.status == 200:
            self.received.append((update, secret))
        return web.Response(status=self.status)

    async def start(self) -> Instance:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def stop(self) -> None:
        """Down: its port refuses connections from now on."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def texts(self) -> list[str]:
        return [update["message"]["text"] for update, _ in self.received if "message" in update]


def _update_chat(update: JsonDict) -> int:
    if "message" in update:
        return int(update["message"]["chat"]["id"])
    return int(update["callback_query"]["from"]["id"])


@pytest.fixture
async def instances() -> AsyncIterator[list[Instance]]:
    started = [await Instance().start() for _ in range(3)]
    yield started
    for instance in started:
        await instance.stop()


PUBLIC_URL = "https://bot.example/hook"  # what every instance sets; the balancer hides them


async def _webhook_to(
    http: aiohttp.ClientSession, server: RunningServer, bot: Bot, instances: list[Instance]
) -> None:
    await control(http, server, "PUT", "/webhook/targets", {"targets": [i.url for i in instances]})
    assert await bot.set_webhook(PUBLIC_URL, secret_token="s3cret", allowed_updates=["message"])


async def test_webhook_updates_go_round_robin_with_the_secret(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession, instances: list[Instance]
) -> None:
    server.state.send_text(A, "m0")  # waiting before the webhook is set: delivered, not dropped
    await _webhook_to(http, server, bot, instances)
    for n in range(1, 6):
        server.state.send_text(A, f"m{n}")
    await _eventually(lambda: sum(len(i.received) for i in instances) == 6, seconds=5)
    assert [i.texts() for i in instances] == [["m0", "m3"], ["m1", "m4"], ["m2", "m5"]]
    assert {secret for i in instances for _, secret in i.received} == {"s3cret"}
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.last_error_date) == (PUBLIC_URL, 0, None)
    # A second instance starting up sets the same URL again: nothing changes for the others.
    assert await bot.set_webhook(PUBLIC_URL, secret_token="s3cret", allowed_updates=["message"])
    server.state.send_text(B, "m6")
    await _eventually(lambda: sum(len(i.received) for i in instances) == 7, seconds=5)
    assert server.state.violations == []


async def test_an_instance_that_is_down_is_skipped_and_nothing_is_lost(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession, instances: list[Instance]
) -> None:
    await _webhook_to(http, server, bot, instances)
    await instances[1].stop()
    for n in range(6):
        server.state.send_text(A, f"m{n}")
    await _eventually(lambda: len(instances[0].received) + len(instances[2].received) == 6)
    for live in (instances[0], instances[2]):
        ids = [update["update_id"] for update, _ in live.received]
        assert ids == sorted(ids)  # one person's messages arrive in order
    assert sorted(instances[0].texts() + instances[2].texts()) == [f"m{n}" for n in range(6)]
    assert instances[0].received and instances[2].received  # both live ones share the load
    refused = [a for a in server.state.webhook_attempts if a.target == instances[1].url]
    assert refused and all(a.status is None and a.error for a in refused)
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_when_every_instance_is_down_updates_wait_and_then_arrive(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession, instances: list[Instance]
) -> None:
    await _webhook_to(http, server, bot, instances[:1])
    await instances[0].stop()
    server.state.send_text(A, "while down")
    await _eventually(lambda: len(server.state.webhook_attempts) >= 1, seconds=5)
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1 and info.last_error_message
    await control(http, server, "PUT", "/webhook/targets", {"targets": [instances[2].url]})
    await _eventually(lambda: instances[2].texts() == ["while down"], seconds=10)
    assert (await bot.get_webhook_info()).pending_update_count == 0


async def test_an_instance_that_refuses_the_update_gets_it_again_later(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession, instances: list[Instance]
) -> None:
    """A 401 (wrong secret) is an answer, not an outage: Telegram keeps the update and retries."""
    await _webhook_to(http, server, bot, instances[:1])
    instances[0].status = 401
    server.state.send_text(A, "refused")
    await _eventually(lambda: bool(server.state.webhook_attempts), seconds=5)
    assert server.state.webhook_attempts[0].status == 401
    assert "401" in str((await bot.get_webhook_info()).last_error_message)
    assert len(server.state.updates) == 1
    instances[0].status = 200
    await _eventually(lambda: instances[0].texts() == ["refused"], seconds=10)


async def test_one_slow_chat_does_not_hold_up_another_and_each_chat_stays_in_order(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession, instances: list[Instance]
) -> None:
    await _webhook_to(http, server, bot, instances[:1])
    release = asyncio.Event()
    instances[0].hold[A] = release
    server.state.send_text(A, "a1")
    server.state.send_text(A, "a2")
    server.state.send_text(B, "b1")
    await _eventually(lambda: instances[0].texts() == ["b1"], seconds=5)
    release.set()
    await _eventually(lambda: instances[0].texts() == ["b1", "a1", "a2"], seconds=5)


async def test_get_updates_is_a_conflict_while_a_webhook_is_set(
    server: RunningServer, bot: Bot
) -> None:
    assert await bot.set_webhook(PUBLIC_URL)
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_a_webhook_outside_this_computer_is_never_called(
    server: RunningServer, bot: Bot, http: aiohttp.ClientSession
) -> None:
    assert await bot.set_webhook(PUBLIC_URL)  # no instances given: nowhere local to deliver
    server.state.send_text(A, "stays here")
    await _eventually(lambda: bool(server.state.webhook_last_error or ""), seconds=5)
    assert server.state.webhook_attempts == [] and len(server.state.updates) == 1
    async with http.put(
        f"{server.url}/sandbox/api/webhook/targets",
        json={"targets": ["http://192.0.2.1/hook"]},
        headers=CONTROL_HEADERS,
    ) as response:
        assert response.status == 400


async def test_one_flood_limit_holds_across_all_instances(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    server.state.send_text(A, "hi")
    server.state.send_text(B, "hi")
    await control(http, server, "PUT", "/rate-limit", {"overall_per_second": 4})
    bots = [Bot(server.token, base_url=server.bot_api_url) for _ in range(3)]
    for each in bots:
        await each.initialize()
    try:
        results = await asyncio.gather(
            *(b.send_message(chat, "x") for b in bots for chat in (A, B)),
            return_exceptions=True,
        )
    finally:
        for each in bots:
            await each.shutdown()
    refused = [r for r in results if isinstance(r, RetryAfter)]
    assert len(results) - len(refused) == 4 and len(refused) == 2
    assert all(r.retry_after == timedelta(seconds=1) for r in refused)


# ---------------------------------------------------------------------- control API and page
async def test_the_due_now_hook_is_called_with_the_person(http: aiohttp.ClientSession) -> None:
    asked: list[int] = []

    async def due_now(user_id: int) -> str:
        asked.append(user_id)
        return "due at 12:00"

    running = await start_server(on_due_now=due_now, display_timezone="Europe/Berlin")
    try:
        state = await control(http, running, "GET", "/state")
        assert state["due_now"] is True
        answer = await control(http, running, "POST", f"/people/{B}/due-now", {})
        assert answer == {"result": "due at 12:00"} and asked == [B]
        clock = await control(http, running, "GET", "/clock")
        assert clock["timezone"] == "Europe/Berlin" and clock["utc"].endswith("+00:00")
    finally:
        await running.close()


async def test_without_a_hook_there_is_no_due_now(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    state = await control(http, server, "GET", "/state")
    assert state["due_now"] is False
    assert [c["label"] for c in state["chats"]] == ["Partner A", "Partner B"]
    async with http.post(
        f"{server.url}/sandbox/api/people/{A}/due-now", json={}, headers=CONTROL_HEADERS
    ) as response:
        assert response.status == 404
    unchanged = await control(http, server, "GET", f"/state?since={state['version']}")
    assert unchanged["unchanged"] is True


async def test_control_api_takes_json_only(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{server.url}/sandbox/api/chats/{A}/messages", data={"text": "hi"}, headers=CONTROL_HEADERS
    ) as response:
        assert response.status == 415
    assert server.state.updates == []


async def test_no_control_route_changes_anything_without_the_control_header(
    http: aiohttp.ClientSession,
) -> None:
    """What a form on any web page can send: a cross-site POST, form-encoded, no custom header."""
    hooked: list[int] = []

    async def due_now(user_id: int) -> str:
        hooked.append(user_id)
        return "due"

    running = await start_server(on_due_now=due_now)
    state = running.state
    try:
        state.add_fault("blocked", chat_id=A, count=None)
        state.record_violation("sendMessage", ["a bug"], {})
        state.send_text(B, "waiting")
        sent = _bot_message_with_button(state, B)
        changing = [
            (method, route.resource.canonical)
            for route in running.runner.app.router.routes()
            if (method := route.method) not in ("GET", "HEAD")
            and route.resource is not None
            and route.resource.canonical.startswith("/sandbox/api/")
        ]
        assert len(changing) >= 10  # every one of them, not a sample
        form = {
            "text": "injected",
            "payload": "x",
            "message_id": str(sent),
            "callback_data": "a",
            "user_id": "9",
            "first_name": "X",
            "kind": "outage",
            "overall_per_second": "1",
            "targets": "http://127.0.0.1:1/",
        }
        before = (len(state.updates), len(state.faults), len(state.violations), len(state.chats))
        for method, path in changing:
            url = running.url + path.format(chat_id=A, user_id=A, fault_id=1, query_id=1)
            async with http.request(method, url, data=form) as response:
                assert response.status == 403, (method, path, response.status)
        after = (len(state.updates), len(state.faults), len(state.violations), len(state.chats))
        assert after == before and hooked == []
        assert state.rate_limit.overall_per_second == 30
    finally:
        await running.close()


def _bot_message_with_button(state: SandboxState, chat_id: int) -> int:
    """A bot message with one button, put straight into the chat."""
    from reminderbot.sandbox import methods

    message = methods.call(
        state,
        "sendMessage",
        ["Message"],
        {
            "chat_id": chat_id,
            "text": "pick",
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        },
        {},
    )
    assert isinstance(message, dict)
    return int(message["message_id"])


async def test_the_bot_api_takes_only_this_runs_random_token(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    other = await start_server()
    try:
        assert other.token != server.token  # a new secret every run
    finally:
        await other.close()
    # A web page that knows the sandbox exists can guess the bot id and a fixed token, never this.
    for guess in ("1000:sandbox-local-only", "123:ABC", other.token):
        form = {"url": "http://127.0.0.1:9/attacker", "text": "hi", "chat_id": str(A)}
        for method in ("setWebhook", "sendMessage", "getUpdates"):
            async with http.post(f"{server.bot_api_url}{guess}/{method}", data=form) as response:
                assert response.status == 401, (guess, method)
    assert server.state.webhook_url == "" and server.state.bot_messages(A) == []
    async with http.get(f"{server.url}/file/bot{other.token}/files/x/y") as response:
        assert response.status == 401
    async with http.get(f"{server.url}/file/bot%C3%A9:x/files/x/y") as response:
        assert response.status == 401
    # The bot itself (form and multipart bodies, as PTB sends them) still gets through.
    server.state.send_text(A, "hi")
    async with Bot(server.token, base_url=server.bot_api_url) as real_bot:
        await real_bot.send_message(A, "still works")
        await real_bot.send_document(A, b"data", filename="d.txt")
    assert len(server.state.bot_messages(A)) == 2


def _non_loopback_addresses() -> list[str]:
    """This machine's own outward address, if it has one (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        try:
            udp.connect(("192.0.2.1", 9))
        except OSError:
            return []
        address = str(udp.getsockname()[0])
    return [] if address.startswith("127.") or address == "0.0.0.0" else [address]


async def test_it_binds_to_loopback_only(server: RunningServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    for address in server.runner.addresses:
        assert address[0] == "127.0.0.1"
    port = int(server.url.rsplit(":", 1)[1])
    for address in _non_loopback_addresses():
        with socket.socket() as client:
            client.settimeout(1)
            assert client.connect_ex((address, port)) != 0, address
    with pytest.raises(ValueError, match="loopback"):
        await start_server(host="0.0.0.0")


async def test_other_host_names_are_refused(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(
        f"{server.url}/sandbox/api/state", headers={"Host": "attacker.example"}
    ) as response:
        assert response.status == 421


async def test_the_page_is_served_with_its_script_and_styles(
    server: RunningServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/") as response:
        assert response.content_type == "text/html"
        page = await response.text()
    assert '<script src="/static/app.js"' in page and "<main" in page
    async with http.get(f"{server.url}/static/app.js") as response:
        assert response.content_type == "text/javascript"
        assert "/sandbox/api" in await response.text()
    async with http.get(f"{server.url}/static/style.css") as response:
        assert response.content_type == "text/css"
    async with http.get(f"{server.url}/static/..%2Fserver.py") as response:
        assert response.status == 404


async def test_state_can_be_shared_with_the_test(bot: Bot) -> None:
    state = SandboxState()
    running = await start_server(state=state)
    try:
        assert running.state is state
    finally:
        await running.close()


# ---------------------------------------------------------------------- the real bot, end to end
async def _eventually(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.mark.e2e
async def test_the_real_bot_onboards_through_the_sandbox(tmp_path: Path) -> None:
    running = await start_server()
    state = running.state
    bot_process = await start_bot(running, f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}")
    try:
        await _eventually(lambda: bool(state.calls_to("getUpdates")))
        state.send_text(A, "/start")
        await _eventually(lambda: any(m.message.get("reply_markup") for m in state.bot_messages(A)))
        welcome = next(m for m in state.bot_messages(A) if m.message.get("reply_markup"))
        consent = callback_buttons(welcome.message)[0]
        query = state.press_button(A, welcome.message_id, consent)
        await _eventually(lambda: query.answered)
        await _eventually(lambda: len(state.bot_messages(A)) > 1 or welcome.edits > 0)
        assert state.violations == []
        assert state.bot_messages(B) == []  # nothing reaches a person who never wrote
    finally:
        assert await stop_process(bot_process) == 0
        await running.close()


# ---------------------------------------------------------------------- `reminderbot sandbox`
REPO = Path(__file__).resolve().parents[1]


def test_a_port_in_use_is_one_sentence_and_exit_code_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "reminderbot", "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
            check=False,
        )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert str(port) in line and "--port" in line


@pytest.mark.e2e
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
async def test_a_stop_signal_ends_the_bot_too_and_removes_the_temporary_files(
    tmp_path: Path, signum: signal.Signals
) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    sandbox = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "reminderbot", "sandbox", "--port", "0"),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(temp)},  # where tempfile puts the database
        cwd=REPO,
    )
    children: list[psutil.Process] = []
    try:
        assert sandbox.stdout is not None
        line = (await asyncio.wait_for(sandbox.stdout.readline(), 60)).decode()
        found = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert found is not None, line
        async with aiohttp.ClientSession() as http:
            for _ in range(300):  # the bot is up once it polls
                async with http.get(f"{found[0]}/sandbox/api/calls?method=getUpdates") as answer:
                    if await answer.json():
                        break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("the bot never polled")
        children = psutil.Process(sandbox.pid).children(recursive=True)
        assert children and list(temp.iterdir())  # the bot and its database

        sandbox.send_signal(signum)
        assert await asyncio.wait_for(sandbox.wait(), 30) == 0
        _, alive = await asyncio.to_thread(psutil.wait_procs, children, 5)
        assert alive == []
        assert list(temp.iterdir()) == []
    finally:
        with contextlib.suppress(psutil.NoSuchProcess):
            children = children or psutil.Process(sandbox.pid).children(recursive=True)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        if sandbox.returncode is None:
            sandbox.kill()
            await sandbox.wait()


# ---------------------------------------------------------------------- the page in a real browser
def _chromium() -> str | None:
    return next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p),
        None,
    )


class _Page:
    """Just enough of the DevTools protocol to load the page, click and read it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> Any:
        message_id = next(self._ids)
        await self._ws.send_json({"id": message_id, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json()
            if message.get("id") == message_id:
                return message.get("result")

    async def js(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        return result["result"].get("value")

    async def until(self, expression: str, seconds: float = 10.0) -> Any:
        deadline = time.monotonic() + seconds
        while not (value := await self.js(expression)):
            assert time.monotonic() < deadline, f"never true in the page: {expression}"
            await asyncio.sleep(0.1)
        return value

    async def key(self, key: str, code: int, text: str = "") -> None:
        """A real key press, as the keyboard sends it (Tab moves focus, Enter presses)."""
        for kind in ("keyDown" if text else "rawKeyDown", "keyUp"):
            await self.send(
                "Input.dispatchKeyEvent",
                type=kind,
                key=key,
                code=key,
                windowsVirtualKeyCode=code,
                nativeVirtualKeyCode=code,
                **({"text": text} if text and kind == "keyDown" else {}),
            )

    async def focus_order(self, limit: int = 40) -> list[str]:
        """Where Tab takes keyboard focus, from the top of the page until it wraps around."""
        await self.js("document.activeElement.blur(); window.focus(); true")
        order: list[str] = []
        for _ in range(limit):
            await self.key("Tab", 9)
            where = await self.js(_DESCRIBE_FOCUS)
            if where in order or where == "BODY":
                break
            order.append(where)
        return order

    async def colours(self, selector: str, states: list[str]) -> list[JsonDict]:
        """Text, background and outline colours of every ``selector`` in a forced CSS state."""
        await self.send("DOM.enable")
        await self.send("CSS.enable")
        root = (await self.send("DOM.getDocument", depth=-1))["root"]["nodeId"]
        found = await self.send("DOM.querySelectorAll", nodeId=root, selector=selector)
        measured: list[JsonDict] = []
        for node in found["nodeIds"]:
            await self.send("CSS.forcePseudoState", nodeId=node, forcedPseudoClasses=states)
            await self.send("DOM.setAttributeValue", nodeId=node, name="data-probe", value="1")
            measured.append(await self.js(_MEASURE_PROBE))
            await self.send("DOM.removeAttribute", nodeId=node, name="data-probe")
            await self.send("CSS.forcePseudoState", nodeId=node, forcedPseudoClasses=[])
        return measured


_DESCRIBE_FOCUS = """(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return "BODY";
  const pane = e.closest(".phone")?.querySelector(".phone-title")?.textContent ?? "page";
  const what = e.matches(".messages") ? "messages" : e.matches("input") ? "input"
    : (e.textContent || "").trim();
  return pane + ": " + what;
})()"""

# Colours as the browser paints them: a transparent background shows its parent's.
_MEASURE_PROBE = """(() => {
  const e = document.querySelector("[data-probe]");
  const rgba = (text) => {
    const n = text.match(/[\\d.]+/g).map(Number);
    return [n[0], n[1], n[2], n.length > 3 ? n[3] : 1];
  };
  const over = (top, below) => [0, 1, 2].map((i) => top[i] * top[3] + below[i] * (1 - top[3]));
  const backdrop = (start) => {
    const layers = [];
    for (let node = start; node; node = node.parentElement) {
      const colour = rgba(getComputedStyle(node).backgroundColor);
      if (colour[3] > 0) layers.push(colour);
      if (colour[3] === 1) break;
    }
    return layers.reverse().reduce((below, top) => over(top, below), [255, 255, 255]);
  };
  const style = getComputedStyle(e);
  const background = backdrop(e);
  return {
    what: e.className || e.tagName,
    text: (e.textContent || "").trim().slice(0, 30),
    color: over(rgba(style.color), background),
    background,
    outline: style.outlineStyle === "none" ? null : rgba(style.outlineColor).slice(0, 3),
    around: backdrop(e.parentElement),
  };
})()"""


def _luminance(rgb: list[float]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: list[float], other: list[float]) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_is_computed_as_wcag_defines_it() -> None:
    assert round(contrast([255, 255, 255], [0, 0, 0]), 1) == 21.0
    assert round(contrast([255, 255, 255], [0xEE, 0xF5, 0xFC]), 2) == 1.10  # the figure
    assert round(contrast([0x76, 0x76, 0x76], [255, 255, 255]), 1) == 4.5


@pytest.fixture
async def page(server: RunningServer, tmp_path: Path) -> AsyncIterator[_Page]:
    binary = _chromium()
    if binary is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    browser = await asyncio.create_subprocess_exec(
        binary,
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--remote-debugging-port={port}",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with aiohttp.ClientSession() as http:
            targets: list[dict[str, Any]] = []
            for _ in range(100):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/json/list") as response:
                        targets = await response.json()
                if any(t["type"] == "page" for t in targets):
                    break
                await asyncio.sleep(0.1)
            target = next(t for t in targets if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tab = _Page(ws)
                await tab.send("Page.navigate", url=f"{server.url}/")
                await tab.until("document.querySelectorAll('.phone').length === 2")
                yield tab
    finally:
        browser.terminate()
        await browser.wait()


async def test_the_page_shows_chats_and_acts_as_the_people(
    server: RunningServer, bot: Bot, page: _Page
) -> None:
    await page.js(
        "const box = document.querySelector('#pane-111-input');"
        "box.value = '/pair'; box.form.requestSubmit(); true"
    )
    await _eventually(lambda: bool(server.state.updates), seconds=5)
    (update,) = await bot.get_updates()
    assert update.message is not None and update.message.text == "/pair"

    link = "https://t.me/reminder_sandbox_bot?start=inv_T1"
    sent = await bot.send_message(A, f"For your partner: {link}", reply_markup=keyboard("ok"))
    await page.until("document.querySelector('.invite') !== null")
    await page.js("document.querySelector('.keyboard button').click(); true")
    await page.js("document.querySelector('.invite').click(); true")
    await _eventually(lambda: len(server.state.updates) == 3, seconds=5)
    press, opened = (await bot.get_updates(offset=update.update_id + 1))[-2:]
    assert press.callback_query is not None and press.callback_query.data == "ok"
    assert opened.message is not None and opened.message.chat.id == B
    assert opened.message.text == "/start inv_T1"

    await bot.answer_callback_query(press.callback_query.id, text="Noted")
    await bot.edit_message_text("Sent to your partner.", chat_id=A, message_id=sent.message_id)
    toast = await page.until("document.querySelector('.toast:not([hidden])')?.textContent")
    assert toast == "Noted"
    shown = await page.until(
        "[...document.querySelectorAll('[aria-labelledby=pane-111-title] .msg.bot')]"
        ".map(e => e.textContent).find(t => t.includes('Sent to your partner.'))"
    )
    assert "edited" in shown
    assert server.state.violations == []


INTERACTIVE = ".keyboard button, .keyboard a, .invite, button[type=submit], .reply-keyboard button"
TEXT = ".msg .meta, .msg span, .top p, .composer-label, .toast, .typing, .phone-title, h1"


async def test_every_text_on_the_page_meets_wcag_aa_contrast(
    server: RunningServer, bot: Bot, page: _Page
) -> None:
    server.state.send_text(A, "/pair")
    link = "https://t.me/reminder_sandbox_bot?start=inv_T1"
    url_button = InlineKeyboardButton("Read more", url="https://example.org/")
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok"), url_button]])
    await bot.send_message(A, f"For your partner: {link}", reply_markup=markup)
    await bot.send_message(A, "Pick one", reply_markup=ReplyKeyboardMarkup([["Yes"]]))
    await page.until(
        "!!(document.querySelector('.invite') && document.querySelector('.keyboard a'))"
    )
    await page.until("document.querySelector('.reply-keyboard button') !== null")
    await page.js(
        "{ const t = document.querySelector('.toast'); t.textContent = 'Noted'; t.hidden = false; "
        "document.querySelector('.typing').hidden = false; } true"
    )
    checked: list[str] = []
    for selector, states in [(TEXT, [])] + [
        (INTERACTIVE, forced) for forced in ([], ["hover"], ["focus-visible"], ["active"])
    ]:
        for seen in await page.colours(selector, states):
            ratio = contrast(seen["color"], seen["background"])
            where = f"{seen['what']} {seen['text']!r} {states}: {ratio:.2f}:1"
            assert ratio >= 4.5, where
            if "focus-visible" in states:
                # The focus ring must stand out from what surrounds it (WCAG 1.4.11: 3:1).
                assert seen["outline"] is not None, where
                ring = contrast(seen["outline"], seen["around"])
                assert ring >= 3.0, f"{where}, focus ring {ring:.2f}:1"
            checked.append(where)
    assert len(checked) > 20


async def test_only_the_newest_keyboard_is_in_the_tab_order(
    server: RunningServer, bot: Bot, page: _Page
) -> None:
    server.state.send_text(A, "/start")
    older = await bot.send_message(A, "First question", reply_markup=keyboard("old1", "old2"))
    await bot.send_message(A, "Second question", reply_markup=keyboard("new1"))
    await page.until("document.querySelectorAll('.keyboard button').length === 3")
    assert await page.focus_order() == [
        "Partner A: messages",
        "Partner A: NEW1",
        "Partner A: input",
        "Partner A: Send",
        "Partner B: messages",
        "Partner B: input",
        "Partner B: Send",
    ]
    # Out of the tab order, not out of reach: Telegram still takes a tap on an old button.
    await page.js("[...document.querySelectorAll('.keyboard button')][0].click(); true")
    await _eventually(lambda: bool(server.state.callback_queries), seconds=5)
    (query,) = server.state.callback_queries.values()
    assert (query.message_id, query.data) == (older.message_id, "old1")
    # A newer message without buttons replaces the keyboard too.
    await bot.send_message(A, "Thanks")
    await page.until("document.querySelectorAll('.msg.bot').length === 3")
    assert "Partner A: NEW1" not in await page.focus_order()


async def test_focus_stays_on_the_keyboard_when_a_press_edits_the_message(
    server: RunningServer, bot: Bot, page: _Page
) -> None:
    server.state.send_text(A, "/start")
    sent = await bot.send_message(A, "How is today?", reply_markup=keyboard("steady", "heavy"))
    await page.until("document.querySelectorAll('.keyboard button').length === 2")
    await page.js("document.querySelectorAll('.keyboard button')[1].focus(); true")
    await page.key("Enter", 13, "\r")
    await _eventually(lambda: bool(server.state.callback_queries), seconds=5)
    await bot.edit_message_text(
        "How is today? Heavy.",
        chat_id=A,
        message_id=sent.message_id,
        reply_markup=keyboard("steady", "heavy ✓"),
    )
    await page.until("document.body.textContent.includes('Heavy.')")
    # The edit redraws the message; keyboard focus must not fall back to the top of the page.
    assert await page.js(_DESCRIBE_FOCUS) == "Partner A: HEAVY ✓"


async def test_the_status_line_clears_itself(tmp_path: Path, page: _Page) -> None:
    async def due_now(user_id: int) -> str:
        return f"due for {user_id}"

    running = await start_server(on_due_now=due_now)
    try:
        await page.send("Page.navigate", url=f"{running.url}/")
        await page.until("document.querySelectorAll('.due-now:not([hidden])').length === 2")
        await page.js("document.querySelector('.due-now').click(); true")
        assert await page.until("document.getElementById('status').textContent") == (
            f"Partner A: due for {A}"
        )
        started = time.monotonic()
        await page.until("document.getElementById('status').textContent === ''", seconds=20)
        assert time.monotonic() - started > 2  # long enough to read
    finally:
        await running.close()


async def test_a_server_that_stops_answering_shows_in_the_status_line(page: _Page) -> None:
    """A hung request must not freeze the page on what it showed last."""
    status = "document.getElementById('status').textContent"
    # Every poll from now on hangs: paused in the browser and never let through.
    await page.send("Fetch.enable", patterns=[{"urlPattern": "*/sandbox/api/state*"}])
    shown = await page.until(status, seconds=15)
    assert "not answering" in shown
    await page.send("Fetch.disable")  # the server answers again
    await page.until(f"{status} === ''", seconds=15)


# ---------------------------------------------------------------------- a phone, 390 px wide
_BROKEN_WORDS = """(() => {
  const found = [];
  for (const control of document.querySelectorAll("button, .keyboard a, a.download")) {
    if (!control.getClientRects().length) continue;  // not shown
    const walker = document.createTreeWalker(control, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (lines.size > 1) found.push(control.textContent.trim() + " breaks " + word[0]);
      }
    }
    if (control.scrollWidth > control.clientWidth + 1) {
      found.push(control.textContent.trim() + " is cut off");
    }
  }
  for (const list of document.querySelectorAll(".messages")) {
    if (list.scrollWidth > list.clientWidth + 1) found.push("a chat scrolls sideways");
  }
  return found;
})()"""


async def _phone(page: _Page) -> None:
    await page.send(
        "Emulation.setDeviceMetricsOverride",
        width=390,
        height=844,
        deviceScaleFactor=3,
        mobile=True,
    )
    assert await page.js("window.innerWidth") == 390


def _bot_menus() -> list[tuple[str, InlineKeyboardMarkup]]:
    """The bot's own menus with their real words, as the first minutes show them."""
    from reminderbot.telegram import menus
    from reminderbot.telegram.context import AppState
    from tests.support.harness import catalog, test_settings

    state = AppState(settings=test_settings(), catalog=catalog(), sessions=None)  # type: ignore[arg-type]
    return [
        ("Welcome", menus.consent_menu(state, "en")),
        menus.timezone_question(state, "en"),
        ("Settings", menus.main_menu(state, "en", paired=True)),
        ("Stop?", menus.stop_menu(state, "en")),
        ("Erase?", menus.delete_menu(state, "en")),
    ]


async def test_on_a_phone_no_button_breaks_a_word_and_timezones_are_places(
    server: RunningServer, bot: Bot, page: _Page
) -> None:
    await _phone(page)
    server.state.send_text(A, "/start")
    for text, markup in _bot_menus():
        await bot.send_message(A, text, reply_markup=markup)
    await bot.send_message(A, "Pick one", reply_markup=ReplyKeyboardMarkup([["Yes, that one"]]))
    await page.until("document.querySelector('.reply-keyboard button') !== null")
    await page.until(f"document.querySelectorAll('.msg.bot').length === {len(_bot_menus()) + 1}")
    assert await page.js(_BROKEN_WORDS) == []
    shown = await page.js(
        "[...document.querySelectorAll('.keyboard button')].map((b) => b.textContent)"
    )
    places = ["London", "Berlin", "New York", "Chicago", "Los Angeles", "Sydney"]
    assert [label for label in shown if label in places] == places
    assert not [label for label in shown if "/" in label or "_" in label]


async def test_hidden_parts_of_the_page_take_no_space(server: RunningServer, page: _Page) -> None:
    await _phone(page)
    server.state.send_text(A, "/start")
    await page.until("document.querySelectorAll('.msg').length === 1")
    taking_space = await page.js(
        "[...document.querySelectorAll('[hidden]')]"
        ".filter((e) => e.getBoundingClientRect().height > 0)"
        ".map((e) => e.className + ' ' + e.getBoundingClientRect().height + 'px')"
    )
    assert taking_space == []


async def test_old_download_links_leave_the_tab_order(
    server: RunningServer, bot: Bot, page: _Page
) -> None:
    server.state.send_text(A, "/mydata")
    await bot.send_document(A, b"{}", filename="first.json")
    await page.until("document.querySelectorAll('.msg.bot').length === 1")
    assert "Partner A: Download first.json (2 bytes)" in await page.focus_order()
    await bot.send_document(A, b"{ }", filename="second.json")
    await page.until("document.querySelectorAll('.msg.bot').length === 2")
    order = await page.focus_order()
    assert "Partner A: Download second.json (3 bytes)" in order
    assert "Partner A: Download first.json (2 bytes)" not in order
    # Out of the tab order, not out of reach: it is still a link that downloads.
    assert await page.js("document.querySelector('a[download]').getAttribute('href') !== null")


async def test_the_message_box_border_stands_out(page: _Page) -> None:
    """WCAG 1.4.11: what shows where to type needs 3:1 against what surrounds it."""
    measured = await page.js(
        "[...document.querySelectorAll('.composer-input')].map((e) => {"
        "  const n = (t) => t.match(/[\\d.]+/g).slice(0, 3).map(Number);"
        "  return [n(getComputedStyle(e).borderTopColor),"
        "          n(getComputedStyle(e.closest('.phone')).backgroundColor)]; })"
    )
    assert len(measured) == 2
    for border, around in measured:
        ratio = contrast(border, around)
        assert ratio >= 3.0, f"{ratio:.2f}:1"
