"""The control API's JSON: chats and messages shaped for the page and for tests."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

from reminderbot.sandbox.state import Chat, JsonDict, SandboxState, StoredMessage


def invite_pattern(bot_username: str) -> re.Pattern[str]:
    """t.me/<bot>?start=<payload>: Telegram's deep link, the way /pair invites a partner."""
    return re.compile(
        rf"(?:https?://)?t\.me/{re.escape(bot_username)}\?start=([A-Za-z0-9_-]{{1,64}})"
    )


def _urls(message: JsonDict) -> Iterator[str]:
    for key in ("text", "caption"):
        if isinstance(message.get(key), str):
            yield message[key]
    for key in ("entities", "caption_entities"):
        for entity in message.get(key) or []:
            if entity.get("url"):
                yield entity["url"]
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if button.get("url"):
                yield button["url"]


def invite_payloads(message: JsonDict, bot_username: str) -> list[str]:
    pattern = invite_pattern(bot_username)
    found: list[str] = []
    for text in _urls(message):
        for payload in pattern.findall(text):
            if payload not in found:
                found.append(payload)
    return found


def _file_view(state: SandboxState, file_id: str) -> JsonDict:
    stored = state.files.get(file_id)
    return {
        "file_id": file_id,
        "file_name": stored.filename if stored else None,
        "mime_type": stored.mime_type if stored else None,
        "size": len(stored.data) if stored else None,
        "url": f"/sandbox/files/{file_id}",
    }


def message_view(state: SandboxState, stored: StoredMessage) -> JsonDict:
    message = stored.message
    view: JsonDict = {
        "message_id": stored.message_id,
        "from_bot": stored.from_bot,
        "date": message["date"],
        "text": message.get("text"),
        "caption": message.get("caption"),
        "entities": message.get("entities") or message.get("caption_entities") or [],
        "buttons": (message.get("reply_markup") or {}).get("inline_keyboard", []),
        "reply_keyboard": (stored.reply_keyboard or {}).get("keyboard"),
        "edited": stored.edits > 0,
        "edits": stored.edits,
        "protected": bool(message.get("has_protected_content")),
        "invite_payloads": invite_payloads(message, str(state.bot_user["username"])),
        "document": None,
        "photo": None,
        "message": message,
    }
    document: Any = message.get("document")
    if isinstance(document, dict):
        view["document"] = _file_view(state, document["file_id"])
    photo: Any = message.get("photo")
    if isinstance(photo, list) and photo:
        largest = photo[-1]
        view["photo"] = {
            **_file_view(state, largest["file_id"]),
            "width": largest.get("width"),
            "height": largest.get("height"),
        }
    return view


# A "typing…" indicator lasts five seconds in Telegram unless a message ends it sooner.
CHAT_ACTION_SECONDS = 5.0


def chat_view(state: SandboxState, chat: Chat) -> JsonDict:
    person = chat.person
    action = None
    if chat.action is not None and time.time() - chat.action[1] < CHAT_ACTION_SECONDS:
        action = chat.action[0]
    return {
        "chat_id": person.user_id,
        "label": person.label,
        "user": person.user(),
        "started": person.started,
        "messages": [message_view(state, m) for m in state.messages(chat.person.user_id)],
        "toasts": [
            {
                "callback_query_id": t.callback_query_id,
                "text": t.text,
                "show_alert": t.show_alert,
                "at": t.at,
            }
            for t in chat.toasts
        ],
        "action": action,
    }
