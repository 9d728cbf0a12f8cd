"""A strict, recording, offline Telegram for tests (in the style of python-telegram-bot's own
suite, which replaces the request object so no test touches the network).

Every call is checked against the Bot API spec exactly as it would go on the wire (the form
values ``RequestData.json_parameters`` plus the multipart files); a call Telegram would refuse
raises :class:`BotApiRefused` (an ``AssertionError``) and is also remembered in ``violations``,
in case the bot's error handler swallowed it. Answers are realistic: full Message objects,
per-chat message ids, edits checked against what was really sent, and Telegram's own error
bodies for injected faults, so PTB raises its own RetryAfter / Forbidden / BadRequest.

Wiring a test::

    double = BotDouble()
    bot = Bot(TOKEN, request=double)          # or, for a whole Application:
    app = ApplicationBuilder().token(TOKEN).request(double).get_updates_request(double).build()
    await bot.initialize()                    # calls getMe on the double
    ...
    assert not double.violations

``BotDouble(validate=False)`` skips the spec check (benchmarks); ``record=False`` also keeps
nothing per call, only the ``answered`` count.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

from reminderbot.botapi.spec import BotApiSpec, BotApiViolation

BOT_ID = 1000
BOT_USERNAME = "reminder_test_bot"
BOT_USER: dict[str, Any] = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Reminder",
    "username": BOT_USERNAME,
}
Fault = Literal["429", "403", "400_chat_not_found", "400_query_too_old", "timeout", "network"]
SENDING = frozenset({"sendMessage", "sendDocument", "sendPhoto"})
_EDITS = frozenset({"editMessageText", "editMessageReplyMarkup", "editMessageCaption"})

# Telegram's own descriptions, so code that matches on them behaves as in production.
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
NO_TEXT = "Bad Request: there is no text in the message to edit"
NO_CAPTION = "Bad Request: there is no caption in the message to edit"
DELETE_NOT_FOUND = "Bad Request: message to delete not found"
# answerCallbackQuery after Telegram's answer window (a backlog, a restart, a slow moment).
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query id is invalid"


class BotApiRefused(TelegramError, AssertionError):
    """A call the real Bot API would refuse.

    A TelegramError so that PTB passes it through unchanged (it wraps any other exception from
    ``do_request`` in NetworkError, which the bot would treat as transient and retry), and an
    AssertionError so that a test sees a failed expectation, not a flaky network.
    """


@dataclass
class RecordedCall:
    method: str  # canonical camelCase, as in the spec
    params: dict[str, object]  # decoded from the wire form
    files: dict[str, bytes] = field(default_factory=dict)  # multipart field -> content
    filenames: dict[str, str] = field(default_factory=dict)  # multipart field -> file name
    at: float = 0.0  # wall-clock time (time.time()) when the call arrived
    result: object = None  # what the double answered (None for a fault)
    fault: str | None = None  # the injected or emulated error, if any


@dataclass
class _PlannedFault:
    method: str
    chat_id: int | None
    error: Fault
    retry_after: int
    times: int


class _Answer(Exception):
    """An error answer, as Telegram sends it."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            self.body["parameters"] = {"retry_after": retry_after}


class BotDouble(BaseRequest):
    def __init__(self, *, validate: bool = True, record: bool = True) -> None:
        self.validate = validate
        # record=False keeps nothing per call (a memory benchmark must measure the bot, not
        # this double's notebook); ``answered`` still counts every call.
        self.record = record
        self.answered = 0
        self.spec = BotApiSpec.load()
        self.calls: list[RecordedCall] = []
        self.violations: list[str] = []
        self.rate_limited = 0
        self.latency = 0.0
        self._faults: list[_PlannedFault] = []
        self._rate: float | None = None
        # The rate limit's clock; a test may swap in a fake one instead of sleeping.
        self.monotonic: Callable[[], float] = time.monotonic
        self._recent: deque[float] = deque()
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}

    # ------------------------------------------------------------------ BaseRequest
    @property
    def read_timeout(self) -> float | None:
        return 1.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        if self.latency:
            await asyncio.sleep(self.latency)
        api_method = url.rsplit("/", 1)[-1]
        files, filenames = _files(request_data)
        try:
            if self.validate:
                form = request_data.json_parameters if request_data is not None else {}
                params = self.spec.decode_wire(api_method, form)
                self.spec.validate(api_method, params, files)
            elif not self.spec.has_method(api_method):
                raise BotApiViolation(api_method, ["unknown method"])
            else:
                # Benchmarks: PTB's own values, skipping the JSON round trip (same values).
                params = dict(request_data.parameters) if request_data is not None else {}
        except BotApiViolation as exc:
            self.violations.append(str(exc))
            raise BotApiRefused(f"Telegram would refuse this call: {exc}") from exc
        canonical = self.spec.canonical(api_method) or api_method
        call = RecordedCall(canonical, params, files, filenames, at=time.time())
        self.answered += 1
        if self.record:
            self.calls.append(call)
        if canonical == "getUpdates":
            await self._long_poll(params)
        try:
            self._take_fault(call)
            self._check_rate(call)
            call.result = self._result(call)
        except _Answer as answer:
            call.fault = call.fault or str(answer.status)
            return answer.status, json.dumps(answer.body).encode()
        return 200, json.dumps({"ok": True, "result": call.result}).encode()

    # ------------------------------------------------------------------ answers
    def _result(self, call: RecordedCall) -> object:
        method, params = call.method, call.params
        if method == "getMe":
            return {
                **BOT_USER,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        if method == "getUpdates":
            return []
        if method in _EDITS:
            return self._edit(method, params)
        if method == "deleteMessage":
            return self._delete(params)
        if "Message" in self.spec.return_types(method):
            return self._new_message(call)
        return True

    def _new_message(self, call: RecordedCall) -> dict[str, Any]:
        chat_id = _int(call.params.get("chat_id"))
        if chat_id is None:  # "@channelusername": no numeric id to answer with
            raise _Answer(400, "Bad Request: chat not found")
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message_id = next(counter)
        chat: dict[str, Any] = (
            {"id": chat_id, "type": "private", "first_name": "Person"}
            if chat_id > 0
            else {"id": chat_id, "type": "group", "title": "Group"}
        )
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": BOT_USER,
        }
        params = call.params
        for key in ("text", "entities", "caption", "caption_entities"):
            if key in params:
                message[key] = params[key]
        markup = params.get("reply_markup")
        # A Message only ever carries an inline keyboard; reply keyboards are not echoed.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        if call.method == "sendDocument":
            message["document"] = {
                "file_id": f"doc-{chat_id}-{message_id}",
                "file_unique_id": f"d{chat_id}x{message_id}",
                "file_name": call.filenames.get("document", "file"),
                "file_size": len(call.files.get("document", b"")),
            }
        elif call.method == "sendPhoto":
            message["photo"] = [
                {
                    "file_id": f"photo-{chat_id}-{message_id}-{size}",
                    "file_unique_id": f"p{chat_id}x{message_id}x{size}",
                    "width": size,
                    "height": size * 3 // 4,
                }
                for size in (320, 800)
            ]
        if self.record:
            self._messages[(chat_id, message_id)] = message
        return message

    def _edit(self, method: str, params: dict[str, object]) -> object:
        if params.get("inline_message_id") is not None:
            return True  # inline messages: Telegram answers True
        chat_id, message_id = _int(params.get("chat_id")), _int(params.get("message_id"))
        if chat_id is None or message_id is None:
            raise _Answer(400, EDIT_NOT_FOUND)
        if not self.record:
            # Nothing was kept to check against; answer as if the edit landed.
            return _edited_stub(chat_id, message_id, params)
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise _Answer(400, EDIT_NOT_FOUND)
        edited = dict(message)
        if method == "editMessageText":
            if "text" not in message:
                raise _Answer(400, NO_TEXT)
            edited["text"] = params["text"]
            _replace(edited, "entities", params)
        elif method == "editMessageCaption":
            if "document" not in message and "photo" not in message:
                raise _Answer(400, NO_CAPTION)
            _replace(edited, "caption", params)
            _replace(edited, "caption_entities", params)
        # Every edit replaces the inline keyboard: leaving reply_markup out removes it.
        _replace(edited, "reply_markup", params)
        if all(edited.get(k) == message.get(k) for k in _CONTENT):
            raise _Answer(400, NOT_MODIFIED)
        edited["edit_date"] = int(time.time())
        self._messages[(chat_id, message_id)] = edited
        return edited

    def _delete(self, params: dict[str, object]) -> object:
        chat_id, message_id = _int(params.get("chat_id")), _int(params.get("message_id"))
        if not self.record:
            return True
        if (
            chat_id is None
            or message_id is None
            or not self._messages.pop((chat_id, message_id), None)
        ):
            raise _Answer(400, DELETE_NOT_FOUND)
        return True

    async def _long_poll(self, params: dict[str, object]) -> None:
        # Telegram holds an empty getUpdates for `timeout` seconds; answering at once would spin
        # a polling Updater in a tight loop. Capped: tests never wait for real updates here.
        timeout = params.get("timeout")
        if isinstance(timeout, int) and timeout > 0:
            await asyncio.sleep(min(timeout, 0.05))

    # ------------------------------------------------------------------ faults
    def fail_next(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        error: Fault,
        retry_after: int = 1,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (to ``chat_id``, if given) with an error.

        "429", "403", "400_chat_not_found" and "400_query_too_old" (for answerCallbackQuery)
        are answered with Telegram's status and body;
        "timeout" raises TimedOut and "network" NetworkError, as PTB's HTTP layer would.
        """
        canonical = self.spec.canonical(method)
        if canonical is None:
            raise ValueError(f"no such Bot API method: {method}")
        self._faults.append(_PlannedFault(canonical, chat_id, error, retry_after, times))

    def set_rate_limit(self, per_second: float | None) -> None:
        """Answer sends above ``per_second`` (in any sliding second) with 429, retry_after=1."""
        self._rate = per_second
        self._recent.clear()

    def _take_fault(self, call: RecordedCall) -> None:
        chat_id = _int(call.params.get("chat_id"))
        for fault in self._faults:
            if fault.method != call.method or fault.chat_id not in (None, chat_id):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            call.fault = fault.error
            match fault.error:
                case "timeout":
                    raise TimedOut("Timed out")
                case "network":
                    raise NetworkError("httpx.ConnectError: All connection attempts failed")
                case "429":
                    raise _Answer(
                        429,
                        f"Too Many Requests: retry after {fault.retry_after}",
                        retry_after=fault.retry_after,
                    )
                case "403":
                    raise _Answer(403, "Forbidden: bot was blocked by the user")
                case "400_chat_not_found":
                    raise _Answer(400, "Bad Request: chat not found")
                case "400_query_too_old":
                    raise _Answer(400, QUERY_TOO_OLD)

    def _check_rate(self, call: RecordedCall) -> None:
        if self._rate is None or call.method not in SENDING:
            return
        now = self.monotonic()
        recent = self._recent
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) + 1 > self._rate:
            self.rate_limited += 1
            call.fault = "429"
            raise _Answer(429, "Too Many Requests: retry after 1", retry_after=1)
        recent.append(now)

    # ------------------------------------------------------------------ assertions
    def calls_to(self, method: str, chat_id: int | None = None) -> list[RecordedCall]:
        """Calls of ``method`` that Telegram accepted (faulted ones are in ``attempts_to``)."""
        return [
            c
            for c in self.calls
            if c.method == method
            and c.fault is None
            and (chat_id is None or c.params.get("chat_id") == chat_id)
        ]

    def attempts_to(self, method: str, chat_id: int | None = None) -> int:
        """Every call that reached the double, including those answered with a fault."""
        return sum(
            1
            for c in self.calls
            if c.method == method and (chat_id is None or c.params.get("chat_id") == chat_id)
        )

    def messages_to(self, chat_id: int) -> list[RecordedCall]:
        """What that chat received (sendMessage, sendDocument, sendPhoto), in order."""
        return [
            c
            for c in self.calls
            if c.method in SENDING and c.fault is None and c.params.get("chat_id") == chat_id
        ]

    def last_text(self, chat_id: int) -> str:
        messages = self.messages_to(chat_id)
        if not messages:
            raise AssertionError(f"nothing was sent to chat {chat_id}")
        params = messages[-1].params
        return str(params.get("text", params.get("caption", "")))

    def message_id_of(self, call: RecordedCall) -> int:
        if not isinstance(call.result, dict):
            raise AssertionError(f"{call.method} has no message")
        return int(call.result["message_id"])

    @staticmethod
    def buttons(call: RecordedCall) -> list[list[tuple[str, str]]]:
        """The inline keyboard as rows of (label, callback_data or url)."""
        markup = call.params.get("reply_markup")
        if not isinstance(markup, dict):
            return []
        rows: Iterable[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
        return [
            [(b["text"], str(b.get("callback_data", b.get("url", "")))) for b in row]
            for row in rows
        ]

    def reset(self) -> None:
        """Forget everything recorded, including sent messages, planned faults and the rate."""
        self.calls.clear()
        self.violations.clear()
        self.rate_limited = 0
        self.answered = 0
        self._faults.clear()
        self._recent.clear()
        self._messages.clear()


_CONTENT = ("text", "entities", "caption", "caption_entities", "reply_markup")


def _replace(message: dict[str, Any], key: str, params: dict[str, object]) -> None:
    if params.get(key) is None:
        message.pop(key, None)
    else:
        message[key] = params[key]


def _edited_stub(chat_id: int, message_id: int, params: dict[str, object]) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": message_id,
        "date": int(time.time()),
        "edit_date": int(time.time()),
        "chat": {"id": chat_id, "type": "private", "first_name": "Person"},
        "from": BOT_USER,
        "text": params.get("text", ""),
    }
    _replace(message, "reply_markup", params)
    return message


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _files(request_data: RequestData | None) -> tuple[dict[str, bytes], dict[str, str]]:
    files: dict[str, bytes] = {}
    names: dict[str, str] = {}
    if request_data is None or not request_data.contains_files:
        return files, names
    for part, (filename, content, _mime) in request_data.multipart_data.items():
        names[part] = filename
        files[part] = content if isinstance(content, bytes) else content.read()
    return files, names
