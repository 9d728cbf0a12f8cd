"""What the sandbox Bot API server holds: people, chats, messages, updates, files, faults, calls.

Everything lives in memory and is changed from the event loop only. Every change bumps
``version`` and wakes long-polling readers (the bot's getUpdates and the page), so nobody sleeps
through an update.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

JsonDict = dict[str, Any]

BOT_USER: Final[JsonDict] = {
    "id": 1000,
    "is_bot": True,
    "first_name": "Reminder",
    "username": "reminder_sandbox_bot",
}

# Telegram counts sending methods against the flood limits, not reads, edits or chat actions.
_NOT_SENDS: Final = frozenset({"sendChatAction", "sendChecklist", "sendGift", "sendInvoice"})


# Update types Telegram sends only when asked for by name in allowed_updates.
_NOT_BY_DEFAULT: Final = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


def is_send(method: str) -> bool:
    """Whether a call counts as a message sent (for the rate limit and default faults)."""
    if method in _NOT_SENDS:
        return False
    return method.startswith("send") or method in {"copyMessage", "forwardMessage"}


class ApiError(Exception):
    """An answer the Bot API gives instead of a result; ``description`` is Telegram's wording."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> JsonDict:
        body: JsonDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def retry_after_error(seconds: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)


# Telegram's own descriptions, so code that matches on them behaves as in production.
BLOCKED = "Forbidden: bot was blocked by the user"
CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
# answerCallbackQuery after Telegram's answer window (a backlog, a restart), or a second time.
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass
class Person:
    """A simulated Telegram user with their private chat with the bot (chat id = user id)."""

    user_id: int
    first_name: str
    label: str
    language_code: str = "en"
    # Telegram refuses a bot's message to someone who never wrote to it.
    started: bool = False

    def user(self) -> JsonDict:
        return {
            "id": self.user_id,
            "is_bot": False,
            "first_name": self.first_name,
            "language_code": self.language_code,
        }

    def chat(self) -> JsonDict:
        if self.user_id < 0:  # a group: Telegram's group ids are negative
            return {"id": self.user_id, "type": "group", "title": self.first_name}
        return {"id": self.user_id, "type": "private", "first_name": self.first_name}


def default_people(languages: Sequence[str] = ()) -> list[Person]:
    """The two panes; ``languages`` (Telegram language codes, in pane order) lets an editor
    read a translation as someone whose Telegram is set to it would."""
    people = [
        Person(user_id=111, first_name="Partner A", label="Partner A"),
        Person(user_id=222, first_name="Partner B", label="Partner B"),
    ]
    for person, code in zip(people, languages, strict=False):
        person.language_code = code
        person.label = f"{person.label} ({code})"
    return people


@dataclass
class StoredMessage:
    """One message in a chat, exactly as the Bot API returned or delivered it."""

    message: JsonDict
    from_bot: bool
    edits: int = 0
    deleted: bool = False
    # A reply keyboard is not part of the Message object, but the person sees it.
    reply_keyboard: JsonDict | None = None

    @property
    def message_id(self) -> int:
        return int(self.message["message_id"])


@dataclass
class Toast:
    """What the bot answered to a button press (answerCallbackQuery)."""

    callback_query_id: str
    text: str
    show_alert: bool
    at: float


@dataclass
class CallbackQuery:
    id: str
    chat_id: int
    message_id: int
    data: str
    at: float
    answered: bool = False


@dataclass
class Chat:
    person: Person
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    next_message_id: int = 1
    toasts: list[Toast] = field(default_factory=list)
    action: tuple[str, float] | None = None  # the last sendChatAction and when

    def new_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    filename: str
    mime_type: str
    data: bytes

    def file_path(self) -> str:
        return f"files/{self.file_unique_id}/{self.filename}"


class FaultKind(StrEnum):
    RETRY_AFTER = "retry_after"  # 429 with parameters.retry_after
    BLOCKED = "blocked"  # 403 bot was blocked by the user
    CHAT_NOT_FOUND = "chat_not_found"  # 400 chat not found
    QUERY_TOO_OLD = "query_too_old"  # 400 to answerCallbackQuery: the answer came too late
    OUTAGE = "outage"  # no Bot API answer at all


class OutageMode(StrEnum):
    RESET = "reset"  # the connection is dropped without an answer
    BAD_GATEWAY = "bad_gateway"  # a proxy's 502 page, not a Bot API answer
    HANG = "hang"  # the request is held until the client gives up


@dataclass
class Fault:
    """Answer matching calls with an error, for ``remaining`` calls or until ``until``.

    With no ``method``: an outage hits every call, 429 hits every send, and 403/400 hit every
    call addressed to a chat.
    """

    id: int
    kind: FaultKind
    method: str | None = None
    chat_id: int | None = None
    remaining: int | None = 1
    until: float | None = None  # time.monotonic() deadline
    retry_after: int = 3
    mode: OutageMode = OutageMode.RESET

    def expired(self, now: float) -> bool:
        return (self.remaining is not None and self.remaining <= 0) or (
            self.until is not None and now >= self.until
        )

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.method is not None:
            if self.method.lower() != method.lower():
                return False
        elif (
            (self.kind is FaultKind.RETRY_AFTER and not is_send(method))
            or (self.kind in (FaultKind.BLOCKED, FaultKind.CHAT_NOT_FOUND) and chat_id is None)
            or (self.kind is FaultKind.QUERY_TOO_OLD and method != "answerCallbackQuery")
        ):
            return False
        return self.chat_id is None or self.chat_id == chat_id

    def to_json(self, now: float) -> JsonDict:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "method": self.method,
            "chat_id": self.chat_id,
            "remaining": self.remaining,
            "seconds_left": None if self.until is None else max(0.0, self.until - now),
            "retry_after": self.retry_after,
            "mode": self.mode.value,
        }


@dataclass
class CallRecord:
    """One Bot API call as it arrived, and how it was answered."""

    seq: int
    at: float  # time.time() on arrival
    method: str
    params: JsonDict
    chat_id: int | None
    status: int = 0  # 0 while still being answered (a long poll)
    description: str | None = None
    retry_after: int | None = None

    def to_json(self) -> JsonDict:
        return {
            "seq": self.seq,
            "at": self.at,
            "method": self.method,
            "params": self.params,
            "chat_id": self.chat_id,
            "status": self.status,
            "description": self.description,
            "retry_after": self.retry_after,
        }


@dataclass(frozen=True)
class Violation:
    """A call the real Bot API would refuse: the bot has a bug."""

    at: float
    method: str
    problems: tuple[str, ...]
    params: JsonDict

    def to_json(self) -> JsonDict:
        return {
            "at": self.at,
            "method": self.method,
            "problems": list(self.problems),
            "params": self.params,
        }


@dataclass
class RateLimit:
    """Telegram's flood limits: about 30 sends a second overall; per chat is off by default."""

    overall_per_second: float | None = 30
    per_chat_per_second: float | None = None
    refused: int = 0  # sends answered with 429 so far
    _overall: deque[float] = field(default_factory=deque, repr=False)
    _per_chat: dict[int, deque[float]] = field(default_factory=dict, repr=False)

    def admit(self, chat_id: int | None, now: float) -> int | None:
        """Count one send at ``now``; return seconds to wait instead if it is over a limit."""
        if self.overall_per_second is None and self.per_chat_per_second is None:
            return None
        windows: list[tuple[deque[float], float]] = []
        if self.overall_per_second is not None:
            windows.append((self._overall, self.overall_per_second))
        if self.per_chat_per_second is not None and chat_id is not None:
            windows.append((self._per_chat.setdefault(chat_id, deque()), self.per_chat_per_second))
        wait = 0.0
        for window, limit in windows:
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= limit:
                wait = max(wait, window[0] + 1.0 - now)
        if wait > 0:
            self.refused += 1
            return max(1, math.ceil(wait))
        for window, _ in windows:
            window.append(now)
        return None

    def restart(self) -> None:
        """Forget the sends counted so far (a new limit starts with an empty window)."""
        self._overall.clear()
        self._per_chat.clear()


@dataclass
class WebhookAttempt:
    """One POST of an update to one bot instance: its HTTP status, or why there was none."""

    update_id: int
    target: str
    at: float  # time.time()
    status: int | None = None
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_json(self) -> JsonDict:
        return {
            "update_id": self.update_id,
            "target": self.target,
            "at": self.at,
            "status": self.status,
            "error": self.error,
        }


def update_chat_id(update: Mapping[str, Any]) -> int | None:
    """Whose update this is: Telegram keeps one chat's updates in order, and only those."""
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return int(chat["id"])
        sender = payload.get("from")
        if isinstance(sender, dict) and isinstance(sender.get("id"), int):
            return int(sender["id"])
    return None


def bot_command_entities(text: str) -> list[JsonDict]:
    """Telegram marks a leading /command (optionally /command@bot) as a bot_command entity."""
    if not text.startswith("/") or len(text) < 2:
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": len(command.encode("utf-16-le")) // 2}]


class SandboxState:
    """The whole simulated Telegram as seen by one bot.

    ``open_world`` is for tests that build the people's updates themselves (the offline test
    double): any chat id is someone who has started the bot, a callback query id the state never
    issued may be answered (once), and a reply may quote a message the state never saw.
    ``remember=False`` keeps nothing per call (no messages, files, chats or answered queries),
    so a memory benchmark measures the bot, not this notebook; edits and deletes then answer
    as if they landed.
    """

    def __init__(
        self,
        people: Iterable[Person] | None = None,
        *,
        open_world: bool = False,
        remember: bool = True,
        bot_user: Mapping[str, Any] = BOT_USER,
    ) -> None:
        self.version = 0
        self._changed = asyncio.Event()
        self._waiting = 0  # readers in wait_changed
        self.open_world = open_world
        self.remember = remember
        # Fault deadlines and the flood limits read this clock; a test may swap in a fake one.
        self.monotonic: Callable[[], float] = time.monotonic
        # getUpdates holds an empty answer at most this long (Telegram's own cap is similar).
        self.max_poll_seconds = 50.0
        self._message_seq = itertools.count(1)  # message ids when chats are not remembered
        self.bot_user: JsonDict = dict(bot_user)
        self.chats: dict[int, Chat] = {}
        for person in people if people is not None else default_people():
            self.add_person(person)
        self.updates: list[JsonDict] = []
        self._next_update_id = 1
        self.allowed_updates: list[str] | None = None
        # setWebhook: the public URL every instance sets, and its secret_token.
        self.webhook_url = ""
        self.webhook_secret: str | None = None
        self.webhook_max_connections = 40
        # Where the public URL really leads: the instances behind a load balancer, in turn.
        # Empty means the URL itself (a single instance on this computer).
        self.webhook_targets: list[str] = []
        self.webhook_attempts: list[WebhookAttempt] = []
        self.webhook_last_error: str | None = None
        self.webhook_last_error_date: int | None = None
        self.commands: dict[str, list[JsonDict]] = {}  # by "<scope type>/<language>"
        self.files: dict[str, StoredFile] = {}
        self._file_seq = itertools.count(1)
        self.callback_queries: dict[str, CallbackQuery] = {}
        self._callback_seq = itertools.count(1)
        self.faults: list[Fault] = []
        self._fault_seq = itertools.count(1)
        self.rate_limit = RateLimit()
        self.calls: list[CallRecord] = []
        self.violations: list[Violation] = []
        # Each getUpdates long poll gets a generation; a newer one ends the older (409).
        self.poll_generation = 0

    # ------------------------------------------------------------------ change notification
    def touch(self) -> None:
        self.version += 1
        # A fresh Event only when someone waits on this one: most calls have no reader.
        if self._waiting:
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def wait_changed(self, since: int, seconds: float) -> bool:
        """Wait up to ``seconds`` for ``version`` to move past ``since``; False if it did not."""
        deadline = time.monotonic() + seconds
        while self.version <= since:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._waiting += 1
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                return False
            finally:
                self._waiting -= 1
        return True

    # ------------------------------------------------------------------ people and chats
    def add_person(self, person: Person) -> Chat:
        chat = Chat(person=person)
        self.chats[person.user_id] = chat
        self.touch()
        return chat

    def chat(self, chat_id: object) -> Chat:
        """The chat the bot addresses, or Telegram's 400 chat not found."""
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise ApiError(400, CHAT_NOT_FOUND)
        chat = self.chats.get(chat_id)
        if chat is not None:
            return chat
        if not self.open_world:
            raise ApiError(400, CHAT_NOT_FOUND)
        name = "Group" if chat_id < 0 else "Person"
        chat = Chat(person=Person(user_id=chat_id, first_name=name, label=name, started=True))
        if self.remember:
            self.chats[chat_id] = chat
        else:  # ids unique across all chats, so unique in each, with nothing kept per chat
            chat.next_message_id = next(self._message_seq)
        return chat

    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        return [
            m for m in self.chats[chat_id].messages.values() if include_deleted or not m.deleted
        ]

    def bot_messages(self, chat_id: int) -> list[StoredMessage]:
        return [m for m in self.messages(chat_id) if m.from_bot]

    # ------------------------------------------------------------------ updates
    def push_update(self, kind: str, payload: JsonDict) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self.updates.append({"update_id": update_id, kind: payload})
        self.touch()
        return update_id

    def take_updates(
        self, offset: int | None, limit: int, allowed: list[str] | None
    ) -> list[JsonDict]:
        """getUpdates semantics: ``offset`` confirms (forgets) everything before it."""
        if allowed is not None:
            self.allowed_updates = allowed
        if offset is not None and offset < 0:
            self.updates = self.updates[offset:]
        elif offset is not None:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        # Updates of a type the bot did not ask for are never delivered.
        self.updates = [u for u in self.updates if self._wanted(u)]
        return self.updates[:limit]

    def _wanted(self, update: Mapping[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self.allowed_updates:
            return kind in self.allowed_updates
        return kind not in _NOT_BY_DEFAULT

    def pending_updates(self) -> list[JsonDict]:
        """What a webhook has yet to deliver, oldest first (types not asked for are dropped)."""
        self.updates = [u for u in self.updates if self._wanted(u)]
        return self.updates

    def confirm_update(self, update_id: int) -> None:
        """An instance answered 2xx: Telegram forgets the update."""
        self.updates = [u for u in self.updates if u["update_id"] != update_id]
        self.touch()

    def record_webhook_attempt(self, attempt: WebhookAttempt) -> None:
        self.webhook_attempts.append(attempt)
        if not attempt.delivered:
            self.webhook_last_error = (
                attempt.error or f"Wrong response from the webhook: {attempt.status}"
            )
            self.webhook_last_error_date = int(attempt.at)
        self.touch()

    def webhook_error(self, message: str) -> None:
        if message != self.webhook_last_error:
            self.webhook_last_error = message
            self.webhook_last_error_date = int(time.time())
            self.touch()

    def drop_pending_updates(self) -> None:
        self.updates.clear()
        self.touch()

    # ------------------------------------------------------------------ what people do
    def _incoming(self, chat: Chat, text: str) -> JsonDict:
        person = chat.person
        message: JsonDict = {
            "message_id": chat.new_message_id(),
            "from": person.user(),
            "chat": person.chat(),
            "date": int(time.time()),
            "text": text,
        }
        entities = bot_command_entities(text)
        if entities:
            message["entities"] = entities
        chat.messages[message["message_id"]] = StoredMessage(message=message, from_bot=False)
        if not person.started:
            person.started = True
        # Writing to a bot one had blocked means one unblocked it first.
        self.faults = [
            f
            for f in self.faults
            if not (f.kind is FaultKind.BLOCKED and f.chat_id == person.user_id)
        ]
        return message

    def send_text(self, chat_id: int, text: str) -> JsonDict:
        """The person types ``text`` and sends it; returns the delivered Message."""
        if not text:
            raise ValueError("empty message")
        chat = self.chats[chat_id]
        message = self._incoming(chat, text)
        self.push_update("message", message)
        return message

    def open_deep_link(self, chat_id: int, payload: str) -> JsonDict:
        """The person opens t.me/<bot>?start=<payload>: Telegram sends ``/start <payload>``."""
        return self.send_text(chat_id, f"/start {payload}" if payload else "/start")

    def press_button(self, chat_id: int, message_id: int, callback_data: str) -> CallbackQuery:
        """The person taps an inline button that the message currently shows."""
        chat = self.chats[chat_id]
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted or not stored.from_bot:
            raise LookupError(f"no bot message {message_id} in chat {chat_id}")
        if callback_data not in callback_buttons(stored.message):
            raise LookupError(f"message {message_id} shows no button with that callback_data")
        query = CallbackQuery(
            id=f"{chat_id}{next(self._callback_seq):08d}",
            chat_id=chat_id,
            message_id=message_id,
            data=callback_data,
            at=time.time(),
        )
        self.callback_queries[query.id] = query
        self.push_update(
            "callback_query",
            {
                "id": query.id,
                "from": chat.person.user(),
                "message": stored.message,
                "chat_instance": f"{chat_id}-{self.bot_user['id']}",
                "data": callback_data,
            },
        )
        return query

    # ------------------------------------------------------------------ files
    def store_file(self, filename: str, mime_type: str, data: bytes) -> StoredFile:
        n = next(self._file_seq)
        stored = StoredFile(
            file_id=f"BQACAgSandbox{n:06d}",
            file_unique_id=f"AgAD{n:06d}",
            filename=filename,
            mime_type=mime_type,
            data=data,
        )
        if self.remember:
            self.files[stored.file_id] = stored
        return stored

    # ------------------------------------------------------------------ faults and records
    def add_fault(
        self,
        kind: FaultKind | str,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        count: int | None = 1,
        duration: float | None = None,
        retry_after: int = 3,
        mode: OutageMode | str = OutageMode.RESET,
    ) -> Fault:
        """Answer the next ``count`` matching calls (None: all, until ``duration`` ends)."""
        if count is None and duration is None and FaultKind(kind) is FaultKind.OUTAGE:
            raise ValueError("an outage needs a count or a duration")
        fault = Fault(
            id=next(self._fault_seq),
            kind=FaultKind(kind),
            method=method,
            chat_id=chat_id,
            remaining=count,
            until=None if duration is None else self.monotonic() + duration,
            retry_after=retry_after,
            mode=OutageMode(mode),
        )
        self.faults.append(fault)
        self.touch()
        return fault

    def clear_faults(self, fault_id: int | None = None) -> None:
        self.faults = [f for f in self.faults if fault_id is not None and f.id != fault_id]
        self.touch()

    def take_fault(
        self, method: str, chat_id: int | None, kinds: Collection[FaultKind] = tuple(FaultKind)
    ) -> Fault | None:
        """The first live fault of one of ``kinds`` for this call, counting it as used."""
        if not self.faults:
            return None
        now = self.monotonic()
        self.faults = [f for f in self.faults if not f.expired(now)]
        for fault in self.faults:
            if fault.kind in kinds and fault.matches(method, chat_id):
                if fault.remaining is not None:
                    fault.remaining -= 1
                self.touch()
                return fault
        return None

    def record_call(
        self, method: str, params: Mapping[str, Any], chat_id: int | None
    ) -> CallRecord:
        record = CallRecord(
            seq=len(self.calls) + 1,
            at=time.time(),
            method=method,
            params=dict(params),
            chat_id=chat_id,
        )
        self.calls.append(record)
        return record

    def record_violation(self, method: str, problems: Iterable[str], params: JsonDict) -> None:
        self.violations.append(
            Violation(at=time.time(), method=method, problems=tuple(problems), params=params)
        )
        self.touch()

    def forget_messages(self) -> None:
        """Every chat's messages and toasts, and every callback query, are forgotten; message
        ids go on counting, so an old id never names a new message."""
        for chat in self.chats.values():
            chat.messages.clear()
            chat.toasts.clear()
        self.callback_queries.clear()
        self.touch()

    def calls_to(self, method: str, *, ok: bool | None = None) -> list[CallRecord]:
        return [
            c for c in self.calls if c.method == method and (ok is None or (c.status == 200) == ok)
        ]


def callback_buttons(message: Mapping[str, Any]) -> list[str]:
    markup = message.get("reply_markup") or {}
    return [
        button["callback_data"]
        for row in markup.get("inline_keyboard", [])
        for button in row
        if "callback_data" in button
    ]
