"""The control routes (``/sandbox/api/...``): the page and tests act as the people in the chats,
inject faults, set the flood limits and read what the bot did; and the page itself (``/``).

Every change here needs the ``X-Sandbox-Control`` header (server.py's middleware checks it).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from importlib import resources
from zoneinfo import ZoneInfo

from aiohttp import web

from reminderbot.sandbox.app_keys import HOOK_KEY, STATE_KEY, TZ_KEY
from reminderbot.sandbox.state import JsonDict, OutageMode, Person, SandboxState
from reminderbot.sandbox.views import chat_view
from reminderbot.sandbox.webhook import is_local_url


async def _json_body(request: web.Request) -> JsonDict:
    # JSON only: a web page elsewhere cannot send that cross-origin without our say-so.
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send application/json")
    try:
        body = await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text="invalid JSON") from exc
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    return body


def _chat_arg(request: web.Request) -> int:
    state = request.app[STATE_KEY]
    try:
        chat_id = int(request.match_info["chat_id"])
    except ValueError as exc:
        raise web.HTTPNotFound(text="no such chat") from exc
    if chat_id not in state.chats:
        raise web.HTTPNotFound(text="no such chat")
    return chat_id


def _clock(request: web.Request) -> JsonDict:
    name = request.app[TZ_KEY]
    now = datetime.now(UTC)
    return {
        "utc": now.isoformat(timespec="seconds"),
        "timezone": name,
        "local": now.astimezone(ZoneInfo(name)).isoformat(timespec="seconds"),
    }


async def get_state(request: web.Request) -> web.Response:
    """Everything the page shows; ``since`` (the last version seen) makes unchanged polls cheap."""
    state = request.app[STATE_KEY]
    since = request.query.get("since")
    if since is not None and since.isdigit() and int(since) >= state.version:
        return web.json_response(
            {"version": state.version, "unchanged": True, "clock": _clock(request)}
        )
    now = time.monotonic()
    return web.json_response(
        {
            "version": state.version,
            "unchanged": False,
            "bot": state.bot_user,
            "clock": _clock(request),
            "due_now": request.app[HOOK_KEY] is not None,
            "chats": [chat_view(state, chat) for chat in state.chats.values()],
            "faults": [f.to_json(now) for f in state.faults],
            "rate_limit": {
                "overall_per_second": state.rate_limit.overall_per_second,
                "per_chat_per_second": state.rate_limit.per_chat_per_second,
            },
            "violations": len(state.violations),
        }
    )


async def get_chat(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response(chat_view(state, state.chats[_chat_arg(request)]))


async def post_message(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    chat_id = _chat_arg(request)
    text = (await _json_body(request)).get("text")
    if not isinstance(text, str) or not text.strip():
        raise web.HTTPBadRequest(text="text must be a non-empty string")
    return web.json_response({"message": state.send_text(chat_id, text)})


async def post_start(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    chat_id = _chat_arg(request)
    payload = (await _json_body(request)).get("payload", "")
    if not isinstance(payload, str) or not re.fullmatch(r"[A-Za-z0-9_-]{0,64}", payload):
        raise web.HTTPBadRequest(text="payload: up to 64 of A-Z a-z 0-9 _ -")
    return web.json_response({"message": state.open_deep_link(chat_id, payload)})


async def post_press(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    chat_id = _chat_arg(request)
    body = await _json_body(request)
    message_id, data = body.get("message_id"), body.get("callback_data")
    if not isinstance(message_id, int) or not isinstance(data, str):
        raise web.HTTPBadRequest(text="message_id (int) and callback_data (str) are required")
    try:
        query = state.press_button(chat_id, message_id, data)
    except LookupError as exc:
        raise web.HTTPConflict(text=str(exc)) from exc
    return web.json_response({"callback_query_id": query.id})


async def get_callback(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    query = state.callback_queries.get(request.match_info["query_id"])
    if query is None:
        raise web.HTTPNotFound(text="no such callback query")
    chat = state.chats.get(query.chat_id)
    toasts = chat.toasts if chat is not None else []
    toast = next((t for t in toasts if t.callback_query_id == query.id), None)
    return web.json_response(
        {
            "callback_query_id": query.id,
            "answered": query.answered,
            "text": toast.text if toast else None,
            "show_alert": toast.show_alert if toast else None,
        }
    )


async def post_person(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    user_id = body.get("user_id")
    first_name = body.get("first_name")
    if not isinstance(user_id, int) or user_id <= 0 or user_id in state.chats:
        raise web.HTTPBadRequest(text="user_id must be a new positive integer")
    if not isinstance(first_name, str) or not first_name:
        raise web.HTTPBadRequest(text="first_name is required")
    person = Person(
        user_id=user_id,
        first_name=first_name,
        label=str(body.get("label") or first_name),
        language_code=str(body.get("language_code") or "en"),
    )
    state.add_person(person)
    return web.json_response({"chat_id": user_id}, status=201)


async def post_due_now(request: web.Request) -> web.Response:
    hook = request.app[HOOK_KEY]
    if hook is None:
        raise web.HTTPNotFound(text="no due-now hook in this sandbox")
    try:
        user_id = int(request.match_info["user_id"])
    except ValueError as exc:
        raise web.HTTPNotFound(text="no such person") from exc
    result = await hook(user_id)  # type: ignore[operator]
    return web.json_response({"result": str(result)})


async def get_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    now = time.monotonic()
    return web.json_response([f.to_json(now) for f in state.faults])


async def post_fault(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    try:
        fault = state.add_fault(
            body["kind"],
            method=body.get("method"),
            chat_id=body.get("chat_id"),
            count=body.get("count", 1),
            duration=body.get("duration"),
            retry_after=int(body.get("retry_after", 3)),
            mode=body.get("mode", OutageMode.RESET),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise web.HTTPBadRequest(text=f"invalid fault: {exc}") from exc
    return web.json_response(fault.to_json(time.monotonic()), status=201)


async def delete_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    fault_id = request.match_info.get("fault_id")
    state.clear_faults(int(fault_id) if fault_id and fault_id.isdigit() else None)
    return web.json_response({"ok": True})


async def put_rate_limit(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    body = await _json_body(request)
    for key in ("overall_per_second", "per_chat_per_second"):
        if key in body:
            value = body[key]
            if value is not None and (not isinstance(value, int) or value < 1):
                raise web.HTTPBadRequest(text=f"{key}: a positive integer or null")
            setattr(state.rate_limit, key, value)
    state.touch()
    return web.json_response(
        {
            "overall_per_second": state.rate_limit.overall_per_second,
            "per_chat_per_second": state.rate_limit.per_chat_per_second,
        }
    )


async def get_calls(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    since = int(request.query.get("since", "0") or 0)
    method = request.query.get("method")
    return web.json_response(
        [c.to_json() for c in state.calls if c.seq > since and (not method or c.method == method)]
    )


def _webhook_view(state: SandboxState) -> JsonDict:
    return {
        "url": state.webhook_url,
        "targets": list(state.webhook_targets),
        "pending": len(state.pending_updates()) if state.webhook_url else 0,
        "last_error": state.webhook_last_error,
        "attempts": [a.to_json() for a in state.webhook_attempts],
    }


async def get_webhook(request: web.Request) -> web.Response:
    return web.json_response(_webhook_view(request.app[STATE_KEY]))


async def put_webhook_targets(request: web.Request) -> web.Response:
    """The bot's instances behind the webhook URL, as a load balancer knows them."""
    state = request.app[STATE_KEY]
    targets = (await _json_body(request)).get("targets")
    if not isinstance(targets, list) or not all(
        isinstance(t, str) and is_local_url(t) for t in targets
    ):
        raise web.HTTPBadRequest(text="targets: a list of http URLs on this computer")
    state.webhook_targets = list(targets)
    state.touch()
    return web.json_response(_webhook_view(state))


async def get_violations(request: web.Request) -> web.Response:
    return web.json_response([v.to_json() for v in request.app[STATE_KEY].violations])


async def delete_violations(request: web.Request) -> web.Response:
    request.app[STATE_KEY].violations.clear()
    return web.json_response({"ok": True})


async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(_clock(request))


async def get_file(request: web.Request) -> web.Response:
    """A file the bot sent, for the page: shown inline (photos) or downloaded (documents)."""
    stored = request.app[STATE_KEY].files.get(request.match_info["file_id"])
    if stored is None:
        raise web.HTTPNotFound(text="no such file")
    disposition = "attachment" if request.query.get("download") else "inline"
    safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", stored.filename)
    return web.Response(
        body=stored.data,
        content_type=stored.mime_type,
        headers={"Content-Disposition": f'{disposition}; filename="{safe_name}"'},
    )


# ====================================================================== the page
_STATIC = resources.files("reminderbot.sandbox").joinpath("static")
_CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info.get("name") or "index.html"
    suffix = name[name.rfind(".") :] if "." in name else ""
    if "/" in name or suffix not in _CONTENT_TYPES:
        raise web.HTTPNotFound()
    resource = _STATIC.joinpath(name)
    if not resource.is_file():
        raise web.HTTPNotFound()
    return web.Response(
        text=resource.read_text("utf-8"),
        content_type=_CONTENT_TYPES[suffix],
        charset="utf-8",
        headers={"Cache-Control": "no-cache", "Content-Security-Policy": _CSP},
    )


# The page loads nothing from elsewhere and runs only its own script.
_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'"


def add_routes(router: web.UrlDispatcher) -> None:
    """The control API, the page's files and the page."""
    r = router
    r.add_get("/sandbox/api/state", get_state)
    r.add_get("/sandbox/api/clock", get_clock)
    r.add_get("/sandbox/api/chats/{chat_id}", get_chat)
    r.add_post("/sandbox/api/chats/{chat_id}/messages", post_message)
    r.add_post("/sandbox/api/chats/{chat_id}/start", post_start)
    r.add_post("/sandbox/api/chats/{chat_id}/press", post_press)
    r.add_get("/sandbox/api/callbacks/{query_id}", get_callback)
    r.add_post("/sandbox/api/people", post_person)
    r.add_post("/sandbox/api/people/{user_id}/due-now", post_due_now)
    r.add_get("/sandbox/api/faults", get_faults)
    r.add_post("/sandbox/api/faults", post_fault)
    r.add_delete("/sandbox/api/faults", delete_faults)
    r.add_delete("/sandbox/api/faults/{fault_id}", delete_faults)
    r.add_put("/sandbox/api/rate-limit", put_rate_limit)
    r.add_get("/sandbox/api/calls", get_calls)
    r.add_get("/sandbox/api/webhook", get_webhook)
    r.add_put("/sandbox/api/webhook/targets", put_webhook_targets)
    r.add_get("/sandbox/api/violations", get_violations)
    r.add_delete("/sandbox/api/violations", delete_violations)
    r.add_get("/sandbox/files/{file_id}", get_file)
    r.add_get("/", static_file)
    r.add_get("/static/{name}", static_file)
