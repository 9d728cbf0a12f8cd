"""What each Bot API method does to the sandbox, and the result Telegram would return.

Calls arrive here already validated against the spec. Methods the bot uses get realistic
behaviour (messages stored per chat, edits in place, Telegram's own error wording); every other
method gets a result of its documented return type built from the spec.
"""

from __future__ import annotations

import copy
import json
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from reminderbot.sandbox.state import (
    CANT_INITIATE,
    QUERY_INVALID,
    ApiError,
    CallbackQuery,
    Chat,
    JsonDict,
    SandboxState,
    StoredFile,
    StoredMessage,
    Toast,
)


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    content_type: str
    data: bytes


Params = Mapping[str, Any]
Uploads = Mapping[str, Upload]
Method = Callable[[SandboxState, Params, Uploads], object]

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
EDIT_NOT_FOUND = "Bad Request: message to edit not found"
NO_TEXT = "Bad Request: there is no text in the message to edit"
NO_CAPTION = "Bad Request: there is no caption in the message to edit"
DELETE_NOT_FOUND = "Bad Request: message to delete not found"

# Which parameter carries the file, and what Telegram puts in the Message for it.
MEDIA = {
    "sendDocument": "document",
    "sendPhoto": "photo",
    "sendAudio": "audio",
    "sendVideo": "video",
    "sendAnimation": "animation",
    "sendVoice": "voice",
    "sendVideoNote": "video_note",
    "sendSticker": "sticker",
}
_MEDIA_EXTRAS: dict[str, JsonDict] = {
    "audio": {"duration": 0},
    "video": {"width": 0, "height": 0, "duration": 0},
    "animation": {"width": 0, "height": 0, "duration": 0},
    "voice": {"duration": 0},
    "video_note": {"length": 0, "duration": 0},
    "sticker": {
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    },
}


# ---------------------------------------------------------------------- spec-built results
@cache
def _types() -> dict[str, Any]:
    text = resources.files("reminderbot.botapi").joinpath("api.min.json").read_text("utf-8")
    types: dict[str, Any] = json.loads(text)["types"]
    return types


def minimal(type_name: str, state: SandboxState) -> object:
    """The smallest value of a spec type: every required field, nothing optional."""
    if type_name.startswith("Array of "):
        return []
    scalars: dict[str, object] = {
        "Integer": 0,
        "Float": 0.0,
        "String": "",
        "Boolean": True,
        "True": True,
    }
    if type_name in scalars:
        return scalars[type_name]
    if type_name == "User":
        return dict(state.bot_user)
    kind = _types().get(type_name, {})
    if kind.get("subtypes"):
        return minimal(kind["subtypes"][0], state)
    result: JsonDict = {}
    for field in kind.get("fields", []):
        if field["required"]:
            value = minimal(field["types"][0], state)
            result[field["name"]] = (
                False if value is True and field["types"] == ["Boolean"] else value
            )
    return result


def _get_me(state: SandboxState, params: Params, uploads: Uploads) -> object:
    me = dict(state.bot_user)
    for field in _types()["User"]["fields"]:
        if "Returned only in getMe" in field["description"]:
            me[field["name"]] = False
    # A new bot may be added to groups until BotFather's /setjoingroups says otherwise.
    me["can_join_groups"] = True
    return me


# ---------------------------------------------------------------------- webhook and commands
def _delete_webhook(state: SandboxState, params: Params, uploads: Uploads) -> object:
    state.webhook_url = ""
    state.webhook_secret = None
    state.webhook_last_error = state.webhook_last_error_date = None
    if params.get("drop_pending_updates"):
        state.drop_pending_updates()
    state.touch()
    return True


def _set_webhook(state: SandboxState, params: Params, uploads: Uploads) -> object:
    # An empty url removes the webhook, as in Telegram.
    state.webhook_url = str(params["url"])
    state.webhook_secret = params.get("secret_token") or None
    state.webhook_max_connections = int(params.get("max_connections") or 40)
    if params.get("allowed_updates") is not None:
        state.allowed_updates = list(params["allowed_updates"])
    if params.get("drop_pending_updates"):
        state.drop_pending_updates()
    state.touch()  # wakes the delivery loop
    return True


def _get_webhook_info(state: SandboxState, params: Params, uploads: Uploads) -> object:
    info: JsonDict = {
        "url": state.webhook_url,
        "has_custom_certificate": False,
        "pending_update_count": len(state.pending_updates()),
    }
    if state.webhook_url:
        info["max_connections"] = state.webhook_max_connections
        if state.allowed_updates:
            info["allowed_updates"] = list(state.allowed_updates)
        if state.webhook_last_error is not None:
            info["last_error_message"] = state.webhook_last_error
            info["last_error_date"] = state.webhook_last_error_date
    return info


def _commands_key(params: Params) -> str:
    scope = params.get("scope") or {"type": "default"}
    return f"{json.dumps(scope, sort_keys=True)}/{params.get('language_code', '')}"


def _set_my_commands(state: SandboxState, params: Params, uploads: Uploads) -> object:
    state.commands[_commands_key(params)] = list(params["commands"])
    state.touch()
    return True


def _get_my_commands(state: SandboxState, params: Params, uploads: Uploads) -> object:
    return state.commands.get(_commands_key(params), [])


def _delete_my_commands(state: SandboxState, params: Params, uploads: Uploads) -> object:
    state.commands.pop(_commands_key(params), None)
    state.touch()
    return True


# ---------------------------------------------------------------------- files
def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return 0, 0


def _sniff(upload: Upload) -> str:
    """Telegram looks at the bytes; PTB labels bytes without a file name as octet-stream."""
    if upload.content_type not in ("", "application/octet-stream"):
        return upload.content_type
    if upload.data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if upload.data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return upload.content_type or "application/octet-stream"


def _resolve_file(state: SandboxState, name: str, value: object, uploads: Uploads) -> StoredFile:
    upload = uploads.get(name) if value is None else None
    if isinstance(value, str) and value.startswith("attach://"):
        upload = uploads.get(value.removeprefix("attach://"))
    if upload is not None:
        return state.store_file(upload.filename, _sniff(upload), upload.data)
    if isinstance(value, str) and value in state.files:
        return state.files[value]
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        # The sandbox has no network to fetch from, and neither would Telegram's view of it.
        raise ApiError(400, "Bad Request: failed to get HTTP URL content")
    raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")


def _media_object(field: str, stored: StoredFile) -> object:
    base: JsonDict = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
    }
    if field == "photo":
        width, height = _png_size(stored.data)
        return [{**base, "width": width, "height": height}]
    if field in ("document", "audio", "video", "animation"):
        base["file_name"] = stored.filename
        base["mime_type"] = stored.mime_type
    return {**base, **_MEDIA_EXTRAS.get(field, {})}


def _get_file(state: SandboxState, params: Params, uploads: Uploads) -> object:
    stored = state.files.get(str(params["file_id"]))
    if stored is None:
        raise ApiError(400, "Bad Request: invalid file_id")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "file_path": stored.file_path(),
    }


# ---------------------------------------------------------------------- sending
def _addressed(state: SandboxState, params: Params) -> Chat:
    chat = state.chat(params.get("chat_id"))
    if not chat.person.started:
        raise ApiError(403, CANT_INITIATE)
    return chat


def _apply_markup(stored: StoredMessage, markup: object) -> None:
    """An inline keyboard is part of the Message; a reply keyboard only of the person's screen."""
    stored.message.pop("reply_markup", None)
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        stored.message["reply_markup"] = markup
    elif isinstance(markup, dict) and "keyboard" in markup:
        stored.reply_keyboard = markup


def _content(state: SandboxState, method: str, params: Params, uploads: Uploads) -> JsonDict:
    content: JsonDict = {}
    if "text" in params:
        content["text"] = params["text"]
        if params.get("entities"):
            content["entities"] = params["entities"]
        if params.get("link_preview_options"):
            content["link_preview_options"] = params["link_preview_options"]
    field = MEDIA.get(method)
    if field is not None:
        stored = _resolve_file(state, field, params.get(field), uploads)
        content[field] = _media_object(field, stored)
    if params.get("caption"):
        content["caption"] = params["caption"]
        if params.get("caption_entities"):
            content["caption_entities"] = params["caption_entities"]
    if method == "sendLocation":
        content["location"] = {"latitude": params["latitude"], "longitude": params["longitude"]}
    if method == "sendContact":
        content["contact"] = {
            "phone_number": params["phone_number"],
            "first_name": params["first_name"],
        }
    if method == "sendDice":
        content["dice"] = {"emoji": params.get("emoji", "🎲"), "value": 1}
    return content


def _send(state: SandboxState, method: str, params: Params, uploads: Uploads) -> JsonDict:
    chat = _addressed(state, params)
    content = _content(state, method, params, uploads)
    reply = params.get("reply_parameters")
    replied: StoredMessage | None = None
    if isinstance(reply, dict):
        replied = chat.messages.get(int(reply["message_id"]))
        # In an open world the person's messages were written by the test, not kept here.
        missing = replied is None or replied.deleted
        if missing and not (reply.get("allow_sending_without_reply") or state.open_world):
            raise ApiError(400, "Bad Request: message to be replied not found")
    message: JsonDict = {
        "message_id": chat.new_message_id(),
        "from": dict(state.bot_user),
        "chat": chat.person.chat(),
        "date": int(time.time()),
        **content,
    }
    if replied is not None and not replied.deleted:
        message["reply_to_message"] = replied.message
    if params.get("protect_content"):
        message["has_protected_content"] = True
    stored = StoredMessage(message=message, from_bot=True)
    _apply_markup(stored, params.get("reply_markup"))
    if isinstance(params.get("reply_markup"), dict) and params["reply_markup"].get(
        "remove_keyboard"
    ):
        for earlier in chat.messages.values():
            earlier.reply_keyboard = None
    if state.remember:
        chat.messages[stored.message_id] = stored
    chat.action = None  # a message ends the "typing…" indicator, as in Telegram
    state.touch()
    return message


# ---------------------------------------------------------------------- editing and deleting
def _editable(state: SandboxState, params: Params) -> tuple[Chat, StoredMessage]:
    if params.get("inline_message_id") is not None:
        raise ApiError(400, EDIT_NOT_FOUND)  # the sandbox has no inline messages
    chat = state.chat(params.get("chat_id"))
    stored = chat.messages.get(params.get("message_id"))  # type: ignore[arg-type]
    if stored is None or stored.deleted:
        raise ApiError(400, EDIT_NOT_FOUND)
    if not stored.from_bot:
        raise ApiError(400, "Bad Request: message can't be edited")
    return chat, stored


def _unremembered_edit(state: SandboxState, params: Params) -> JsonDict | None:
    """With nothing kept to check against, an edit of a bot's message answers as if it landed."""
    chat_id, message_id = params.get("chat_id"), params.get("message_id")
    if state.remember or params.get("inline_message_id") is not None:
        return None
    if not isinstance(message_id, int):
        raise ApiError(400, EDIT_NOT_FOUND)
    now = int(time.time())
    edited: JsonDict = {
        "message_id": message_id,
        "from": dict(state.bot_user),
        "chat": state.chat(chat_id).person.chat(),
        "date": now,
        "edit_date": now,
        "text": params.get("text", ""),
    }
    markup = params.get("reply_markup")
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        edited["reply_markup"] = markup
    return edited


def _edit(state: SandboxState, method: str, params: Params, uploads: Uploads) -> JsonDict:
    unremembered = _unremembered_edit(state, params)
    if unremembered is not None:
        return unremembered
    _, stored = _editable(state, params)
    before = stored.message
    after = copy.deepcopy(before)
    if method == "editMessageText":
        if "text" not in before:
            raise ApiError(400, NO_TEXT)
        after["text"] = params["text"]
        after.pop("entities", None)
        if params.get("entities"):
            after["entities"] = params["entities"]
    elif method == "editMessageCaption":
        if not any(field in before for field in MEDIA.values()):
            raise ApiError(400, NO_CAPTION)
        after.pop("caption", None)
        after.pop("caption_entities", None)
        if params.get("caption"):
            after["caption"] = params["caption"]
        if params.get("caption_entities"):
            after["caption_entities"] = params["caption_entities"]
    elif method == "editMessageMedia":
        media = params["media"]
        field = str(media["type"])
        for old in MEDIA.values():
            after.pop(old, None)
        stored_file = _resolve_file(state, field, media.get("media"), uploads)
        after[field] = _media_object(field, stored_file)
    # Telegram drops the inline keyboard of an edited message unless it is sent again.
    after.pop("reply_markup", None)
    markup = params.get("reply_markup")
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        after["reply_markup"] = markup
    if {k: v for k, v in after.items() if k != "edit_date"} == {
        k: v for k, v in before.items() if k != "edit_date"
    }:
        raise ApiError(400, NOT_MODIFIED)
    after["edit_date"] = int(time.time())
    stored.message = after
    stored.edits += 1
    state.touch()
    return after


def _delete_message(state: SandboxState, params: Params, uploads: Uploads) -> object:
    chat = state.chat(params.get("chat_id"))
    if not state.remember:
        return True  # nothing kept to check against: answered as if it went
    stored = chat.messages.get(params.get("message_id"))  # type: ignore[arg-type]
    if stored is None or stored.deleted:
        raise ApiError(400, DELETE_NOT_FOUND)
    stored.deleted = True
    state.touch()
    return True


def _delete_messages(state: SandboxState, params: Params, uploads: Uploads) -> object:
    chat = state.chat(params.get("chat_id"))
    for message_id in params["message_ids"]:
        if message_id in chat.messages:
            chat.messages[message_id].deleted = True
    state.touch()
    return True


# ---------------------------------------------------------------------- buttons and chats
def _answer_callback_query(state: SandboxState, params: Params, uploads: Uploads) -> object:
    query_id = str(params["callback_query_id"])
    query = state.callback_queries.get(query_id)
    if query is None and state.open_world:
        # A press the test built itself: answerable once, as any query; no chat to toast in.
        if state.remember:
            state.callback_queries[query_id] = CallbackQuery(
                id=query_id, chat_id=0, message_id=0, data="", at=time.time(), answered=True
            )
        return True
    # Telegram takes one answer per query: a second one is refused like a late one.
    if query is None or query.answered:
        raise ApiError(400, QUERY_INVALID)
    query.answered = True
    state.chats[query.chat_id].toasts.append(
        Toast(
            callback_query_id=query.id,
            text=str(params.get("text") or ""),
            show_alert=bool(params.get("show_alert")),
            at=time.time(),
        )
    )
    state.touch()
    return True


def _send_chat_action(state: SandboxState, params: Params, uploads: Uploads) -> object:
    chat = _addressed(state, params)
    chat.action = (str(params["action"]), time.time())
    state.touch()
    return True


def _get_chat(state: SandboxState, params: Params, uploads: Uploads) -> object:
    chat = state.chat(params.get("chat_id"))
    info = minimal("ChatFullInfo", state)
    assert isinstance(info, dict)
    return {**info, **chat.person.chat(), "max_reaction_count": 11}


SPECIAL: dict[str, Method] = {
    "getMe": _get_me,
    "deleteWebhook": _delete_webhook,
    "setWebhook": _set_webhook,
    "getWebhookInfo": _get_webhook_info,
    "setMyCommands": _set_my_commands,
    "getMyCommands": _get_my_commands,
    "deleteMyCommands": _delete_my_commands,
    "getFile": _get_file,
    "deleteMessage": _delete_message,
    "deleteMessages": _delete_messages,
    "answerCallbackQuery": _answer_callback_query,
    "sendChatAction": _send_chat_action,
    "getChat": _get_chat,
}
EDITS = frozenset(
    {"editMessageText", "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia"}
)


def call(
    state: SandboxState, method: str, returns: list[str], params: Params, uploads: Uploads
) -> object:
    """Carry out a validated call (not getUpdates); raise ApiError for Telegram's refusals."""
    special = SPECIAL.get(method)
    if special is not None:
        return special(state, params, uploads)
    if method in EDITS:
        return _edit(state, method, params, uploads)
    if "Message" in returns and "chat_id" in params:
        return _send(state, method, params, uploads)
    if not returns:
        return True
    return minimal(returns[0], state)
