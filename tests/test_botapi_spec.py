"""The Bot API validator refuses what Telegram refuses and accepts what PTB really sends."""

from __future__ import annotations

import pytest
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    InputMediaPhoto,
)
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from reminderbot.botapi.spec import BotApiSpec, BotApiViolation


@pytest.fixture(scope="module")
def spec() -> BotApiSpec:
    return BotApiSpec.load()


def problems(
    spec: BotApiSpec, method: str, params: dict[str, object], files: tuple[str, ...] = ()
) -> list[str]:
    with pytest.raises(BotApiViolation) as caught:
        spec.validate(method, params, files)
    assert caught.value.problems, "a violation must say why"
    for problem in caught.value.problems:
        assert problem in str(caught.value)
    return caught.value.problems


def ptb_wire(**params: object) -> RequestData:
    """What python-telegram-bot puts on the wire for these Bot method arguments."""
    return RequestData([RequestParameter.from_input(k, v) for k, v in params.items()])


def keyboard(*buttons: dict[str, object]) -> dict[str, object]:
    return {"inline_keyboard": [list(buttons)]}


# ---------------------------------------------------------------------- the spec itself
def test_load_is_cached_and_knows_methods_case_insensitively(spec: BotApiSpec) -> None:
    assert BotApiSpec.load() is spec
    assert spec.has_method("sendMessage") and spec.has_method("SENDMESSAGE")
    assert not spec.has_method("sendMessages")
    assert spec.return_types("sendmessage") == ["Message"]
    assert spec.return_types("setMyCommands") == ["Boolean"]
    assert spec.return_types("noSuchMethod") == []


def test_good_calls_pass(spec: BotApiSpec) -> None:
    spec.validate("sendMessage", {"chat_id": 42, "text": "x" * 4096})
    spec.validate("sendMessage", {"chat_id": "@channel", "text": "é" * 4096})
    spec.validate("SendMessage", {"chat_id": 42, "text": "hi"})
    spec.validate("answerCallbackQuery", {"callback_query_id": "7", "text": "x" * 200})
    spec.validate("getUpdates", {"limit": 100, "timeout": 0, "allowed_updates": ["message"]})
    spec.validate(
        "setMyCommands",
        {
            "commands": [{"command": "c" * 32, "description": "d" * 256}],
            "scope": {"type": "chat", "chat_id": 42},
        },
    )
    # A reply keyboard may use plain strings for its buttons (the spec says so).
    spec.validate(
        "sendMessage",
        {"chat_id": 1, "text": "t", "reply_markup": {"keyboard": [["a", {"text": "b"}]]}},
    )


# ---------------------------------------------------------------------- refusals
def test_unknown_method(spec: BotApiSpec) -> None:
    assert problems(spec, "sendMesage", {"chat_id": 1, "text": "hi"}) == ["unknown method"]
    with pytest.raises(BotApiViolation):
        spec.decode_wire("sendMesage", {})


def test_missing_required_parameter(spec: BotApiSpec) -> None:
    assert problems(spec, "sendMessage", {"text": "hi"}) == ["chat_id: missing required parameter"]
    # None is how "not given" looks in Python: still missing.
    assert problems(spec, "sendMessage", {"chat_id": None, "text": "hi"}) == [
        "chat_id: missing required parameter"
    ]


def test_unknown_parameter(spec: BotApiSpec) -> None:
    found = problems(spec, "sendMessage", {"chat_id": 1, "text": "hi", "txt": "hi"})
    assert found == ["txt: unknown parameter"]


def test_text_over_4096_characters(spec: BotApiSpec) -> None:
    found = problems(spec, "sendMessage", {"chat_id": 1, "text": "x" * 4097})
    assert found == ["text: 4097 characters, allowed 1-4096"]
    assert problems(spec, "sendMessage", {"chat_id": 1, "text": ""}) == [
        "text: 0 characters, allowed 1-4096"
    ]
    assert problems(spec, "sendMessage", {"chat_id": 1, "text": " \n "}) == [
        "text: empty once whitespace is trimmed"
    ]


def test_length_counts_text_after_html_parsing(spec: BotApiSpec) -> None:
    visible = "<b>" + "x" * 4090 + "</b> &amp;"
    spec.validate("sendMessage", {"chat_id": 1, "text": visible, "parse_mode": "HTML"})
    assert problems(spec, "sendMessage", {"chat_id": 1, "text": visible}) == [
        f"text: {len(visible)} characters, allowed 1-4096"
    ]


def test_other_documented_lengths(spec: BotApiSpec) -> None:
    assert problems(spec, "answerCallbackQuery", {"callback_query_id": "7", "text": "x" * 201}) == [
        "text: 201 characters, allowed 0-200"
    ]
    assert problems(
        spec, "sendDocument", {"chat_id": 1, "document": "file-id", "caption": "x" * 1025}
    ) == ["caption: 1025 characters, allowed 0-1024"]
    found = problems(
        spec, "setMyCommands", {"commands": [{"command": "c" * 33, "description": ""}]}
    )
    assert found == [
        "commands[0].command: 33 characters, allowed 1-32",
        "commands[0].description: 0 characters, allowed 1-256",
    ]


def test_callback_data_over_64_bytes_counts_utf8_bytes(spec: BotApiSpec) -> None:
    just_fits = "é" * 32  # 32 characters, 64 bytes
    spec.validate(
        "sendMessage",
        {
            "chat_id": 1,
            "text": "t",
            "reply_markup": keyboard({"text": "a", "callback_data": just_fits}),
        },
    )
    too_long = just_fits + "a"  # 33 characters, 65 bytes
    found = problems(
        spec,
        "sendMessage",
        {
            "chat_id": 1,
            "text": "t",
            "reply_markup": keyboard({"text": "a", "callback_data": too_long}),
        },
    )
    assert found == ["reply_markup.inline_keyboard[0][0].callback_data: 65 bytes, allowed 1-64"]


def test_wrong_types(spec: BotApiSpec) -> None:
    found = problems(
        spec,
        "sendMessage",
        {"chat_id": [1], "text": 5, "disable_notification": "yes", "message_thread_id": 1.5},
    )
    assert found == [
        "chat_id: expected Integer or String, got Array",
        "text: expected String, got Integer",
        "disable_notification: expected Boolean, got String",
        "message_thread_id: expected Integer, got Float",
    ]
    # Booleans are not integers, however Python sees them; Float takes integers.
    assert problems(spec, "sendMessage", {"chat_id": True, "text": "t"}) == [
        "chat_id: expected Integer or String, got Boolean"
    ]
    spec.validate("sendLocation", {"chat_id": 1, "latitude": 52, "longitude": 13.4})


def test_bad_nested_keyboard_buttons(spec: BotApiSpec) -> None:
    markup = {
        "inline_keyboard": [
            [{"text": "no action"}, {"text": "two", "callback_data": "a", "url": "https://x.org"}],
            [{"callback_data": "no label"}, {"text": "typo", "callbak_data": "a"}],
            {"text": "not a row"},
        ]
    }
    found = problems(spec, "sendMessage", {"chat_id": 1, "text": "t", "reply_markup": markup})
    prefix = "reply_markup.inline_keyboard"
    assert any(
        p.startswith(f"{prefix}[0][0]: InlineKeyboardButton needs exactly one") for p in found
    )
    assert any(
        p.startswith(f"{prefix}[0][1]: InlineKeyboardButton needs exactly one")
        and "['callback_data', 'url']" in p
        for p in found
    )
    assert f"{prefix}[1][0].text: missing required field of InlineKeyboardButton" in found
    assert f"{prefix}[1][1].callbak_data: unknown field of InlineKeyboardButton" in found
    assert f"{prefix}[2]: expected Array of InlineKeyboardButton, got object" in found


def test_reply_markup_of_no_known_kind(spec: BotApiSpec) -> None:
    found = problems(
        spec, "sendMessage", {"chat_id": 1, "text": "t", "reply_markup": {"buttons": []}}
    )
    assert found and all(p.startswith("reply_markup.") for p in found)


def test_abstract_types_pick_their_subtype_by_its_constant(spec: BotApiSpec) -> None:
    commands = [{"command": "start", "description": "d"}]
    assert problems(spec, "setMyCommands", {"commands": commands, "scope": {"type": "chat"}}) == [
        "scope.chat_id: missing required field of BotCommandScopeChat"
    ]
    found = problems(spec, "setMyCommands", {"commands": commands, "scope": {"type": "room"}})
    assert len(found) == 1 and found[0].startswith("scope.type: 'room' is not a BotCommandScope")
    found = problems(
        spec, "setMyCommands", {"commands": commands, "scope": {"type": "default", "chat_id": 1}}
    )
    assert found == ["scope.chat_id: unknown field of BotCommandScopeDefault"]


def test_array_sizes_from_descriptions(spec: BotApiSpec) -> None:
    commands = [{"command": f"c{i}", "description": "d"} for i in range(101)]
    assert problems(spec, "setMyCommands", {"commands": commands}) == [
        "commands: 101 items, allowed 0-100"
    ]
    one = [{"type": "photo", "media": "file-id"}]
    assert problems(spec, "sendMediaGroup", {"chat_id": 1, "media": one}) == [
        "media: 1 items, allowed 2-10"
    ]


def test_every_problem_is_listed(spec: BotApiSpec) -> None:
    found = problems(spec, "sendMessage", {"text": "x" * 5000, "colour": "red"})
    assert sorted(found) == [
        "chat_id: missing required parameter",
        "colour: unknown parameter",
        "text: 5000 characters, allowed 1-4096",
    ]


# ---------------------------------------------------------------------- files
def test_uploaded_file_counts_as_the_parameter(spec: BotApiSpec) -> None:
    spec.validate("sendDocument", {"chat_id": 1}, files=("document",))
    assert problems(spec, "sendDocument", {"chat_id": 1}) == [
        "document: missing required parameter"
    ]
    found = problems(spec, "sendDocument", {"chat_id": 1}, files=("document", "caption", "x"))
    assert found == [
        "caption: cannot be a file (expects String)",
        "x: uploaded file is neither a parameter nor attach://-ed",
    ]


def test_attach_references_need_their_upload(spec: BotApiSpec) -> None:
    media = [{"type": "photo", "media": "attach://a"}, {"type": "photo", "media": "attach://b"}]
    spec.validate("sendMediaGroup", {"chat_id": 1, "media": media}, files=("a", "b"))
    found = problems(spec, "sendMediaGroup", {"chat_id": 1, "media": media}, files=("a",))
    assert found == ["media[1].media: 'attach://b' names no uploaded file"]


# ---------------------------------------------------------------------- the wire
def test_decode_wire_parses_by_spec_type(spec: BotApiSpec) -> None:
    decoded = spec.decode_wire(
        "sendMessage",
        {
            "chat_id": "-1001",
            "text": "123",
            "disable_notification": "true",
            "reply_markup": '{"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]}',
            "extra": "[1]",
        },
    )
    assert decoded == {
        "chat_id": -1001,
        "text": "123",  # a String stays a string, even when it looks like a number
        "disable_notification": True,
        "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]},
        "extra": "[1]",  # unknown: left for validate() to refuse
    }
    assert spec.decode_wire("sendMessage", {"chat_id": "@news"}) == {"chat_id": "@news"}
    assert spec.decode_wire("sendDocument", {"document": "123"}) == {"document": "123"}


def test_decode_wire_refuses_what_is_not_json(spec: BotApiSpec) -> None:
    with pytest.raises(BotApiViolation) as caught:
        spec.decode_wire("sendMessage", {"chat_id": "1", "reply_markup": "{inline", "limit": "x"})
    assert len(caught.value.problems) == 1 and "reply_markup" in caught.value.problems[0]
    with pytest.raises(BotApiViolation):
        spec.decode_wire("getUpdates", {"limit": "ten"})


def test_real_ptb_send_message_with_inline_keyboard(spec: BotApiSpec) -> None:
    markup = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton("Yes", callback_data="consent:yes")],
            [InlineKeyboardButton("Read more", url="https://example.org")],
        ]
    )
    wire = ptb_wire(chat_id=42, text="Hello", reply_markup=markup, disable_notification=True)
    params = spec.decode_wire("sendMessage", wire.json_parameters)
    spec.validate("sendMessage", params, wire.multipart_data.keys())
    assert params["reply_markup"] == markup.to_dict()

    bad = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="é" * 40)]])
    wire = ptb_wire(chat_id=42, text="Hello", reply_markup=bad)
    with pytest.raises(BotApiViolation):
        spec.validate("sendMessage", spec.decode_wire("sendMessage", wire.json_parameters))


def test_real_ptb_send_document_and_media_group_with_files(spec: BotApiSpec) -> None:
    wire = ptb_wire(
        chat_id=42, document=InputFile(b"{}", filename="data.json"), caption="Your data"
    )
    assert wire.contains_files
    params = spec.decode_wire("sendDocument", wire.json_parameters)
    spec.validate("sendDocument", params, wire.multipart_data.keys())

    photos = [InputMediaPhoto(InputFile(b"png", attach=True)) for _ in range(2)]
    wire = ptb_wire(chat_id=42, media=photos)
    params = spec.decode_wire("sendMediaGroup", wire.json_parameters)
    spec.validate("sendMediaGroup", params, wire.multipart_data.keys())
    with pytest.raises(BotApiViolation, match="names no uploaded file"):
        spec.validate("sendMediaGroup", params, ())


def test_real_ptb_set_my_commands_with_scope(spec: BotApiSpec) -> None:
    wire = ptb_wire(
        commands=[BotCommand("start", "Begin"), BotCommand("pause", "Pause reminders")],
        scope=BotCommandScopeChat(42),
        language_code="en",
    )
    spec.validate("setMyCommands", spec.decode_wire("setMyCommands", wire.json_parameters))
