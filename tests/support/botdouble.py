"""A strict, recording, offline Telegram for tests (in the style of python-telegram-bot's own
suite, which replaces the request object so no test touches the network).

Every call is checked against the Bot API spec exactly as it would go on the wire (the form
values ``RequestData.json_parameters`` plus uploaded files); a call Telegram would refuse fails
the test, and is also remembered in ``violations`` in case the bot's error handler swallowed it.
Answers are realistic: full Message objects, per-chat message ids, and Telegram's own error
bodies for injected faults.

Wiring: ``Bot(token, request=double)`` or ``ApplicationBuilder().request(double)
.get_updates_request(double)``.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from reminderbot.botapi.spec import BotApiSpec, BotApiViolation

BOT_USER = {"id": 1000, "is_bot": True, "first_name": "Reminder", "username": "reminder_test_bot"}
Fault = Literal["429", "403", "400_chat_not_found", "timeout", "network"]
SENDING = {"sendMessage", "sendDocument", "sendPhoto"}


@dataclass
class RecordedCall:
    method: str
    params: dict[str, object]
    files: dict[str, bytes] = field(default_factory=dict)
    filenames: dict[str, str] = field(default_factory=dict)
    at: float = 0.0  # wall-clock time (time.time()) when the call arrived
    result: object = None  # what the double answered (None for a fault)
    fault: str | None = None


@dataclass
class _PlannedFault:
    method: str
    chat_id: int | None
    error: Fault
    retry_after: int
    times: int


class BotDouble(BaseRequest):
    def __init__(self, *, validate: bool = True, record: bool = True) -> None:
        # record=False keeps nothing per call (a memory benchmark must measure the bot, not
        # this double's notebook); ``answered`` still counts every call.
        self.validate = validate
        self.record = record
        self.answered = 0
        self.spec = BotApiSpec.load()
        self.calls: list[RecordedCall] = []
        self.violations: list[str] = []
        self.rate_limited = 0
        self.latency = 0.0
        self._faults: list[_PlannedFault] = []
        self._rate: float | None = None
        self._recent: deque[float] = deque()
        self._next_id: dict[int, int] = {}
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
            import asyncio

            await asyncio.sleep(self.latency)
        api_method = url.rsplit("/", 1)[-1]
        form = request_data.json_parameters if request_data else {}
        files, filenames = _files(request_data)
        canonical = self.spec.canonical(api_method) or api_method
        try:
            params = self.spec.decode_wire(api_method, form)
            if self.validate:
                self.spec.validate(api_method, params, files)
        except BotApiViolation as exc:
            self.violations.append(str(exc))
            raise AssertionError(f"Telegram would refuse this call: {exc}") from exc
        call = RecordedCall(canonical, params, files, filenames, at=time.time())
        self.answered += 1
        if self.record:
            self.calls.append(call)
        status, body = self._answer(call)
        return status, json.dumps(body).encode()

    # ------------------------------------------------------------------ answers
    def _answer(self, call: RecordedCall) -> tuple[int, dict[str, Any]]:
        chat_id = call.params.get("chat_id")
        fault = self._take_fault(call, chat_id if isinstance(chat_id, int) else None)
        if fault is None and self._rate is not None and call.method in SENDING:
            now = time.monotonic()
            while self._recent and self._recent[0] <= now - 1.0:
                self._recent.popleft()
            if len(self._recent) >= self._rate:
                self.rate_limited += 1
                fault = _PlannedFault(call.method, None, "429", 1, 1)
            else:
                self._recent.append(now)
        if fault is not None:
            call.fault = fault.error
            return _fault_body(fault)
        result = self._result(call)
        if result is None:
            call.fault = "400"
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: message to edit not found",
            }
        call.result = result
        return 200, {"ok": True, "result": result}

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
        if method in {"editMessageText", "editMessageReplyMarkup", "editMessageCaption"}:
            return self._edit(params)
        if self.spec.return_types(method) == ["Message"]:
            return self._new_message(call)
        return True

    def _new_message(self, call: RecordedCall) -> dict[str, Any]:
        chat_id = int(call.params["chat_id"])  # type: ignore[call-overload]
        message_id = self._next_id.get(chat_id, 0) + 1
        self._next_id[chat_id] = message_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {
                "id": chat_id,
                "type": "private" if chat_id > 0 else "group",
                "first_name": "Person",
            }
            if chat_id > 0
            else {"id": chat_id, "type": "group", "title": "Group"},
            "from": BOT_USER,
        }
        for key in ("text", "caption", "reply_markup"):
            if key in call.params:
                message[key] = call.params[key]
        if call.method == "sendDocument":
            message["document"] = {
                "file_id": f"doc-{chat_id}-{message_id}",
                "file_unique_id": f"u{message_id}",
                "file_name": call.filenames.get("document", "file"),
            }
        if call.method == "sendPhoto":
            message["photo"] = [
                {
                    "file_id": f"photo-{chat_id}-{message_id}",
                    "file_unique_id": f"p{message_id}",
                    "width": 800,
                    "height": 600,
                }
            ]
        if self.record:
            self._messages[(chat_id, message_id)] = message
        return message

    def _edit(self, params: dict[str, object]) -> object:
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        if not isinstance(chat_id, int) or not isinstance(message_id, int):
            return True  # inline messages: Telegram answers True
        message = self._messages.get((chat_id, message_id))
        if message is None:
            return None  # answered as Telegram does: 400 message to edit not found
        if "text" in params:
            message["text"] = params["text"]
        message.pop("reply_markup", None)
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        message["edit_date"] = int(time.time())
        return message

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
        self._faults.append(_PlannedFault(method, chat_id, error, retry_after, times))

    def set_rate_limit(self, per_second: float | None) -> None:
        self._rate = per_second
        self._recent.clear()

    def _take_fault(self, call: RecordedCall, chat_id: int | None) -> _PlannedFault | None:
        for fault in self._faults:
            if fault.method == call.method and fault.chat_id in (None, chat_id):
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                call.fault = fault.error
                if fault.error == "timeout":
                    raise TimedOut("Timed out")
                if fault.error == "network":
                    raise NetworkError("httpx.ConnectError: connection refused")
                return fault
        return None

    # ------------------------------------------------------------------ assertions
    def calls_to(self, method: str, chat_id: int | None = None) -> list[RecordedCall]:
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
        markup = call.params.get("reply_markup")
        if not isinstance(markup, dict):
            return []
        rows: Iterable[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
        return [
            [(b["text"], str(b.get("callback_data", b.get("url", "")))) for b in row]
            for row in rows
        ]

    def reset(self) -> None:
        """Forget everything recorded, including the store of sent messages."""
        self.calls.clear()
        self.violations.clear()
        self.rate_limited = 0
        self._messages.clear()


def _files(request_data: RequestData | None) -> tuple[dict[str, bytes], dict[str, str]]:
    files: dict[str, bytes] = {}
    names: dict[str, str] = {}
    if request_data is None or not request_data.contains_files:
        return files, names
    for name, value in request_data.multipart_data.items():
        if isinstance(value, tuple):
            filename, content = value[0], value[1]
            names[name] = str(filename)
        else:
            content = value
        files[name] = content if isinstance(content, bytes) else content.read()  # type: ignore[union-attr]
    return files, names


def _fault_body(fault: _PlannedFault) -> tuple[int, dict[str, Any]]:
    match fault.error:
        case "429":
            return 429, {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {fault.retry_after}",
                "parameters": {"retry_after": fault.retry_after},
            }
        case "403":
            return 403, {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            }
        case _:
            return 400, {
                "ok": False,
                "error_code": 400,
                "description": "Bad Request: chat not found",
            }
