"""Small factories for real python-telegram-bot Updates, bound to a bot, like PTB's own
``make_message`` and ``make_command_message``.

update_id and message_id only ever grow (as on Telegram), so handlers that dedupe or sort by
them see what they would in production. Incoming message ids start far above the double's
per-chat ids for the bot's own messages, so the two never collide.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Literal

from telegram import (
    Bot,
    CallbackQuery,
    Chat,
    Document,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
    User,
)

_update_ids = itertools.count(1)
_message_ids = itertools.count(10_000)
_query_ids = itertools.count(1)
_file_ids = itertools.count(1)
BOT = User(1000, "Reminder", is_bot=True, username="reminder_test_bot")


def make_user(user_id: int, *, first_name: str = "Alex", language_code: str = "en") -> User:
    return User(user_id, first_name, is_bot=False, language_code=language_code)


def make_chat(user: User, chat_type: str = Chat.PRIVATE, chat_id: int | None = None) -> Chat:
    """The person's private chat (id = user id), or a group they are in."""
    if chat_type == Chat.PRIVATE:
        return Chat(chat_id or user.id, Chat.PRIVATE, first_name=user.first_name)
    return Chat(chat_id or -100_000 - user.id, chat_type, title="A group")


def _message(
    bot: Bot,
    user: User,
    chat: Chat,
    *,
    text: str | None = None,
    entities: tuple[MessageEntity, ...] = (),
    reply_to_message: Message | None = None,
    document: Document | None = None,
    caption: str | None = None,
) -> Message:
    message = Message(
        next(_message_ids),
        datetime.now(UTC),
        chat,
        from_user=user,
        text=text,
        entities=entities,
        reply_to_message=reply_to_message,
        document=document,
        caption=caption,
    )
    message.set_bot(bot)
    return message


def _message_update(bot: Bot, message: Message) -> Update:
    update = Update(next(_update_ids), message=message)
    update.set_bot(bot)
    return update


def command_update(
    bot: Bot,
    user_id: int,
    command: str,
    args: str = "",
    *,
    chat_type: str = Chat.PRIVATE,
    chat_id: int | None = None,
    language_code: str = "en",
) -> Update:
    """'/start' (with optional args after a space) as typed, with its bot_command entity."""
    text = f"{command} {args}" if args else command
    entity = MessageEntity(MessageEntity.BOT_COMMAND, 0, len(command))
    user = make_user(user_id, language_code=language_code)
    chat = make_chat(user, chat_type, chat_id)
    return _message_update(bot, _message(bot, user, chat, text=text, entities=(entity,)))


def text_update(
    bot: Bot,
    user_id: int,
    text: str,
    *,
    chat_type: str = Chat.PRIVATE,
    chat_id: int | None = None,
    language_code: str = "en",
    reply_to: Message | None = None,
) -> Update:
    user = make_user(user_id, language_code=language_code)
    chat = make_chat(user, chat_type, chat_id)
    message = _message(bot, user, chat, text=text, reply_to_message=reply_to)
    return _message_update(bot, message)


def document_update(
    bot: Bot,
    user_id: int,
    *,
    file_name: str = "notes.txt",
    mime_type: str = "text/plain",
    file_size: int = 128,
    caption: str | None = None,
    chat_type: str = Chat.PRIVATE,
    chat_id: int | None = None,
    language_code: str = "en",
) -> Update:
    """The person sends a file (the bot would fetch it with getFile)."""
    number = next(_file_ids)
    document = Document(
        f"in-doc-{number}",
        f"in-u{number}",
        file_name=file_name,
        mime_type=mime_type,
        file_size=file_size,
    )
    user = make_user(user_id, language_code=language_code)
    chat = make_chat(user, chat_type, chat_id)
    message = _message(bot, user, chat, document=document, caption=caption)
    return _message_update(bot, message)


def media_update(
    bot: Bot,
    user_id: int,
    kind: str,
    *,
    caption: str | None = None,
    chat_type: str = Chat.PRIVATE,
    chat_id: int | None = None,
    language_code: str = "en",
) -> Update:
    """The person sends something that is not text: 'voice', 'sticker', 'photo', 'video',
    'video_note', 'audio', 'animation', 'document', 'location' or 'contact'. Parsed from the
    wire shape, as PTB would parse it from Telegram."""
    number = next(_file_ids)
    file = {"file_id": f"in-{kind}-{number}", "file_unique_id": f"in-u{kind}{number}"}
    shapes: dict[str, object] = {
        "voice": {**file, "duration": 3},
        "audio": {**file, "duration": 30},
        "video": {**file, "width": 640, "height": 480, "duration": 5},
        "video_note": {**file, "length": 240, "duration": 5},
        "animation": {**file, "width": 320, "height": 240, "duration": 2},
        "document": {**file, "file_name": "scan.pdf"},
        "photo": [{**file, "width": 320, "height": 240}],
        "sticker": {
            **file,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
        },
        "location": {"latitude": 52.52, "longitude": 13.40},
        "contact": {"phone_number": "+15550100", "first_name": "Someone"},
    }
    user = make_user(user_id, language_code=language_code)
    chat = make_chat(user, chat_type, chat_id)
    data: dict[str, object] = {
        "message_id": next(_message_ids),
        "date": int(datetime.now(UTC).timestamp()),
        "chat": chat.to_dict(),
        "from": user.to_dict(),
        kind: shapes[kind],
    }
    if caption is not None:
        data["caption"] = caption
    message = Message.de_json(data, bot)
    assert message is not None
    return _message_update(bot, message)


def callback_update(
    bot: Bot,
    user_id: int,
    data: str,
    *,
    message_id: int,
    chat_id: int | None = None,
    message_text: str = "…",
    markup: InlineKeyboardMarkup | Literal["pressed"] | None = "pressed",
    chat_type: str = Chat.PRIVATE,
    language_code: str = "en",
) -> Update:
    """A press on a button of the bot's message ``message_id``. The message carries the
    pressed button, as Telegram's does (unless ``markup`` says what else it shows)."""
    user = make_user(user_id, language_code=language_code)
    chat = make_chat(user, chat_type, chat_id)
    if markup == "pressed":
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("…", callback_data=data)]])
    message = Message(
        message_id, datetime.now(UTC), chat, from_user=BOT, text=message_text, reply_markup=markup
    )
    message.set_bot(bot)
    query = CallbackQuery(
        str(next(_query_ids)), user, chat_instance=str(chat.id), message=message, data=data
    )
    query.set_bot(bot)
    update = Update(next(_update_ids), callback_query=query)
    update.set_bot(bot)
    return update
