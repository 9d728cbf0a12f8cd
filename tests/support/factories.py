"""Small factories for real python-telegram-bot Updates, bound to a bot, like PTB's own
``make_message`` and ``make_command_message``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from telegram import Bot, CallbackQuery, Chat, Message, MessageEntity, Update, User

_update_ids = itertools.count(1)
_message_ids = itertools.count(10_000)
_query_ids = itertools.count(1)
BOT = User(1000, "Reminder", is_bot=True, username="reminder_test_bot")


def make_user(user_id: int, *, first_name: str = "Alex", language_code: str = "en") -> User:
    return User(user_id, first_name, is_bot=False, language_code=language_code)


def _chat(user_id: int, chat_type: str, chat_id: int | None) -> Chat:
    if chat_type == Chat.PRIVATE:
        return Chat(chat_id or user_id, Chat.PRIVATE, first_name="Alex")
    return Chat(chat_id or -100_000 - user_id, chat_type, title="A group")


def _message(
    bot: Bot, user: User, chat: Chat, text: str, entities: list[MessageEntity] | None = None
) -> Message:
    message = Message(
        next(_message_ids), datetime.now(UTC), chat, from_user=user, text=text, entities=entities
    )
    message.set_bot(bot)
    return message


def _update(bot: Bot, **kwargs: object) -> Update:
    update = Update(next(_update_ids), **kwargs)  # type: ignore[arg-type]
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
    """'/start' (with optional args) as the person types it, with its bot_command entity."""
    text = f"{command} {args}".strip()
    entity = MessageEntity(MessageEntity.BOT_COMMAND, 0, len(command))
    user = make_user(user_id, language_code=language_code)
    message = _message(bot, user, _chat(user_id, chat_type, chat_id), text, [entity])
    return _update(bot, message=message)


def text_update(
    bot: Bot,
    user_id: int,
    text: str,
    *,
    chat_type: str = Chat.PRIVATE,
    chat_id: int | None = None,
    language_code: str = "en",
) -> Update:
    user = make_user(user_id, language_code=language_code)
    message = _message(bot, user, _chat(user_id, chat_type, chat_id), text)
    return _update(bot, message=message)


def callback_update(
    bot: Bot,
    user_id: int,
    data: str,
    *,
    message_id: int,
    chat_id: int | None = None,
    message_text: str = "…",
    chat_type: str = Chat.PRIVATE,
) -> Update:
    """A press on a button of the bot's message ``message_id``."""
    user = make_user(user_id)
    chat = _chat(user_id, chat_type, chat_id)
    message = Message(message_id, datetime.now(UTC), chat, from_user=BOT, text=message_text)
    message.set_bot(bot)
    query = CallbackQuery(
        str(next(_query_ids)), user, chat_instance=str(chat.id), message=message, data=data
    )
    query.set_bot(bot)
    return _update(bot, callback_query=query)
