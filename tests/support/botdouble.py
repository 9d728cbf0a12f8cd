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

It is a thin adapter over the sandbox's Telegram (``reminderbot.sandbox``): each call goes
through ``sandbox.api.answer``, the same function the sandbox server's Bot API route calls, on a
``SandboxState`` of its own (``double.state``) in which any chat id is someone who has started
the bot. Storage, edits, deletes, faults, flood limits, callback answers and Telegram's error
bodies live there once; this file only translates PTB's RequestData in and the answer out, and
keeps the notebook tests assert on (``calls``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData

from reminderbot.botapi.spec import BotApiSpec
from reminderbot.sandbox import api
from reminderbot.sandbox.methods import Upload
from reminderbot.sandbox.state import FaultKind, OutageMode, SandboxState

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

# fail_next's names for the sandbox's faults; an outage is no answer at all, so PTB's HTTP
# layer would raise: TimedOut for a hang, NetworkError for a dropped connection.
_FAULTS: dict[Fault, tuple[FaultKind, OutageMode]] = {
    "429": (FaultKind.RETRY_AFTER, OutageMode.RESET),
    "403": (FaultKind.BLOCKED, OutageMode.RESET),
    "400_chat_not_found": (FaultKind.CHAT_NOT_FOUND, OutageMode.RESET),
    "400_query_too_old": (FaultKind.QUERY_TOO_OLD, OutageMode.RESET),
    "timeout": (FaultKind.OUTAGE, OutageMode.HANG),
    "network": (FaultKind.OUTAGE, OutageMode.RESET),
}
_FAULT_NAMES = {kind: name for name, (kind, _) in _FAULTS.items() if kind is not FaultKind.OUTAGE}
_OUTAGE_NAMES = {mode: name for name, (kind, mode) in _FAULTS.items() if kind is FaultKind.OUTAGE}
# getUpdates holds an empty answer this long at most: tests never wait for real updates here,
# but answering at once would spin a polling Updater in a tight loop.
_LONG_POLL_SECONDS = 0.05


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


class BotDouble(BaseRequest):
    def __init__(self, *, validate: bool = True, record: bool = True) -> None:
        self.validate = validate
        # record=False keeps nothing per call (a memory benchmark must measure the bot, not
        # this double's notebook); ``answered`` still counts every call.
        self.record = record
        self.answered = 0
        self.spec = BotApiSpec.load()
        self.calls: list[RecordedCall] = []
        self.latency = 0.0
        # The Telegram behind the double; tests may look at what it holds (state.chats).
        self.state = SandboxState([], open_world=True, remember=record, bot_user=BOT_USER)
        self.state.rate_limit.overall_per_second = None  # unlimited until set_rate_limit
        self.state.max_poll_seconds = _LONG_POLL_SECONDS

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
        at = time.time()
        name = url.rsplit("/", 1)[-1]
        canonical = self.spec.canonical(name) or name
        files, filenames, uploads = _files(request_data)
        params: Mapping[str, Any]
        if request_data is None:
            params = {}
        elif self.validate:
            params = request_data.json_parameters  # the form's strings, as on the wire
        else:
            params = request_data.parameters  # benchmarks: PTB's own values, no JSON round trip
        answer = await api.answer(
            self.state,
            self.spec,
            canonical,
            params,
            uploads,
            wire=self.validate,
            validate=self.validate,
        )
        if answer.violation is not None:
            raise BotApiRefused(
                f"Telegram would refuse this call: {answer.violation}"
            ) from answer.violation
        self.answered += 1
        decoded = answer.params if isinstance(answer.params, dict) else dict(answer.params)
        call = RecordedCall(canonical, decoded, files, filenames, at=at)
        if self.record:
            self.calls.append(call)
        if answer.outage is not None:
            call.fault = _OUTAGE_NAMES.get(answer.outage.mode, "502")
            if answer.outage.mode is OutageMode.HANG:
                raise TimedOut("Timed out")
            if answer.outage.mode is OutageMode.RESET:
                raise NetworkError("httpx.ConnectError: All connection attempts failed")
            return 502, b"<html><body>502 Bad Gateway</body></html>"
        if answer.error is not None:
            fault = answer.fault
            call.fault = _FAULT_NAMES.get(fault.kind) if fault else str(answer.error.status)
        else:
            call.result = answer.result
        return answer.status, json.dumps(answer.body()).encode()

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
        kind, mode = _FAULTS[error]
        self.state.add_fault(
            kind,
            method=canonical,
            chat_id=chat_id,
            count=times,
            retry_after=retry_after,
            mode=mode,
        )

    def set_rate_limit(self, per_second: float | None) -> None:
        """Answer sends above ``per_second`` (in any sliding second) with 429, retry_after=1."""
        self.state.rate_limit.overall_per_second = per_second
        self.state.rate_limit.restart()

    @property
    def rate_limited(self) -> int:
        """Sends answered with 429 by the rate limit (not by ``fail_next``)."""
        return self.state.rate_limit.refused

    @property
    def monotonic(self) -> Callable[[], float]:
        """The rate limit's clock; a test may swap in a fake one instead of sleeping."""
        return self.state.monotonic

    @monotonic.setter
    def monotonic(self, clock: Callable[[], float]) -> None:
        self.state.monotonic = clock

    @property
    def violations(self) -> list[str]:
        """Every call Telegram would have refused, as "method: problem; problem"."""
        return [f"{v.method}: " + "; ".join(v.problems) for v in self.state.violations]

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
        """Forget everything recorded, including sent messages, planned faults and the
        rate limit's window (message ids go on counting, as in Telegram)."""
        self.calls.clear()
        self.state.violations.clear()
        self.state.rate_limit.refused = 0
        self.answered = 0
        self.state.clear_faults()
        self.state.rate_limit.restart()
        self.state.forget_messages()


def _files(
    request_data: RequestData | None,
) -> tuple[dict[str, bytes], dict[str, str], dict[str, Upload]]:
    files: dict[str, bytes] = {}
    names: dict[str, str] = {}
    uploads: dict[str, Upload] = {}
    if request_data is None or not request_data.contains_files:
        return files, names, uploads
    for part, (filename, content, mime) in request_data.multipart_data.items():
        data = content if isinstance(content, bytes) else content.read()
        names[part], files[part] = filename, data
        uploads[part] = Upload(filename, mime or "", data)
    return files, names, uploads
