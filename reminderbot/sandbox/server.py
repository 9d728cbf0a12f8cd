"""A local Telegram Bot API server, its control API and the sandbox page (aiohttp, loopback only).

``/bot<token>/<method>`` speaks the Bot API as python-telegram-bot uses it (form, multipart and
JSON bodies; long-polling getUpdates or webhook delivery) and refuses, like the offline test
double, every call the spec does not allow. ``/sandbox/api/...`` lets the page and tests act as the
people in the chats and inject faults. ``/`` is the page.

Nothing a web page elsewhere can send changes anything here. A page can make the browser POST a
form to any address, so: the Bot API takes only this run's random token (PTB sends forms and
multipart, so the secret has to be in the path, as Telegram has it), and every change through the
control API needs the ``X-Sandbox-Control`` header, which a browser sends cross-site only after a
CORS preflight that this server never grants. Other Host names are refused (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy

from reminderbot.botapi.spec import BotApiSpec, BotApiViolation
from reminderbot.sandbox import methods
from reminderbot.sandbox.methods import Upload
from reminderbot.sandbox.state import (
    BOT_USER,
    ApiError,
    Fault,
    FaultKind,
    JsonDict,
    OutageMode,
    Person,
    SandboxState,
    is_send,
    retry_after_error,
)
from reminderbot.sandbox.views import chat_view
from reminderbot.sandbox.webhook import delivering, is_local_url

log = logging.getLogger(__name__)

DueNowHook = Callable[[int], Awaitable[str]]

STATE_KEY = web.AppKey("sandbox_state", SandboxState)
SPEC_KEY = web.AppKey("sandbox_spec", BotApiSpec)
HOOK_KEY = web.AppKey("sandbox_due_now", object)
TZ_KEY = web.AppKey("sandbox_timezone", str)
TOKEN_KEY = web.AppKey("sandbox_token", str)

# Every change through the control API carries this header (the page's fetch sets it).
CONTROL_HEADER = "X-Sandbox-Control"

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
# Telegram accepts uploads up to 50 MB.
MAX_BODY = 50 * 1024 * 1024
# getUpdates waits at most this long, whatever the client asks; Telegram's own cap is similar.
MAX_POLL_SECONDS = 50.0
MAX_HANG_SECONDS = 60.0
CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def new_token() -> str:
    """A bot token for one run: the sandbox bot's id, then a secret no web page can guess."""
    return f"{BOT_USER['id']}:{secrets.token_urlsafe(24)}"


def _token_matches(request: web.Request) -> bool:
    # As bytes: compare_digest refuses non-ASCII str, and a path can hold anything.
    given = request.match_info["token"].encode()
    return secrets.compare_digest(given, request.app[TOKEN_KEY].encode())


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.payload(), status=error.status)


# ====================================================================== the Bot API
async def _read_params(request: web.Request) -> tuple[dict[str, str] | JsonDict, dict[str, Upload]]:
    """The call's parameters (raw strings for form bodies) and its uploaded files."""
    uploads: dict[str, Upload] = {}
    form: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ApiError(400, "Bad Request: the request body is not a JSON object")
        form.update(body)
        return form, uploads
    if request.can_read_body:
        data: MultiDictProxy[Any] = await request.post()
        for key, value in data.items():
            if isinstance(value, web.FileField):
                uploads[key] = Upload(value.filename, value.content_type, value.file.read())
            else:
                form[key] = str(value)
    return form, uploads


def _chat_id(params: Mapping[str, object]) -> int | None:
    value = params.get("chat_id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _loggable(params: Mapping[str, object], uploads: Mapping[str, Upload]) -> JsonDict:
    logged: JsonDict = dict(params)
    for name, upload in uploads.items():
        logged[name] = {"upload": upload.filename, "size": len(upload.data)}
    return logged


async def _outage(request: web.Request, fault: Fault) -> web.Response:
    if fault.mode is OutageMode.BAD_GATEWAY:
        return web.Response(
            status=502, text="<html><body>502 Bad Gateway</body></html>", content_type="text/html"
        )
    if fault.mode is OutageMode.HANG:
        left = MAX_HANG_SECONDS if fault.until is None else fault.until - time.monotonic()
        await asyncio.sleep(min(max(left, 0.0), MAX_HANG_SECONDS))
    # Drop the connection without a word: the client sees a reset, not an HTTP answer.
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=502)


def _fault_error(fault: Fault) -> ApiError:
    if fault.kind is FaultKind.RETRY_AFTER:
        return retry_after_error(fault.retry_after)
    if fault.kind is FaultKind.BLOCKED:
        return ApiError(403, "Forbidden: bot was blocked by the user")
    return ApiError(400, "Bad Request: chat not found")


async def _get_updates(state: SandboxState, params: Mapping[str, Any]) -> object:
    if state.webhook_url:
        raise ApiError(409, CONFLICT_WEBHOOK)
    state.poll_generation += 1
    generation = state.poll_generation
    state.touch()  # wakes an older long poll so it can step aside
    offset = params.get("offset")
    limit = int(params.get("limit") or 100)
    allowed = params.get("allowed_updates")
    timeout = min(float(params.get("timeout") or 0), MAX_POLL_SECONDS)
    deadline = time.monotonic() + timeout
    while True:
        version = state.version
        updates = state.take_updates(offset, limit, allowed)
        left = deadline - time.monotonic()
        if updates or left <= 0:
            return updates
        await state.wait_changed(version, left)
        if state.poll_generation != generation:
            raise ApiError(409, CONFLICT_OTHER_POLL)


async def bot_api(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    spec = request.app[SPEC_KEY]
    if not _TOKEN.match(request.match_info["token"]):
        return _error(ApiError(404, "Not Found"))
    if not _token_matches(request):
        return _error(ApiError(401, "Unauthorized"))
    name = request.match_info["method"]
    method = spec.canonical(name)
    try:
        raw, uploads = await _read_params(request)
    except (ApiError, ValueError) as exc:
        error = exc if isinstance(exc, ApiError) else ApiError(400, "Bad Request: invalid JSON")
        record = state.record_call(method or name, {}, None)
        record.status, record.description = error.status, error.description
        return _error(error)
    record = state.record_call(method or name, _loggable(raw, uploads), _chat_id(raw))
    response = await _answer(request, state, spec, method or name, raw, uploads)
    record.status = response.status
    if isinstance(response, web.Response) and response.status != 200 and response.text:
        try:
            body = json.loads(response.text)
        except json.JSONDecodeError:
            body = {}
        record.description = body.get("description")
        record.retry_after = (body.get("parameters") or {}).get("retry_after")
    state.touch()
    return response


async def _answer(
    request: web.Request,
    state: SandboxState,
    spec: BotApiSpec,
    method: str,
    raw: Mapping[str, Any],
    uploads: Mapping[str, Upload],
) -> web.Response:
    chat_id = _chat_id(raw)
    # An outage comes first: there is no server to validate anything.
    outage = state.take_fault(method, chat_id, kinds={FaultKind.OUTAGE})
    if outage is not None:
        return await _outage(request, outage)
    if not spec.has_method(method):
        state.record_violation(method, ["unknown method"], dict(raw))
        return _error(ApiError(404, "Not Found"))
    try:
        params = (
            dict(raw)
            if request.content_type == "application/json"
            else spec.decode_wire(method, raw)
        )
        spec.validate(method, params, files=uploads.keys())
    except BotApiViolation as violation:
        state.record_violation(method, violation.problems, dict(raw))
        return _error(ApiError(400, "Bad Request: " + "; ".join(violation.problems)))
    try:
        fault = state.take_fault(method, chat_id, kinds=set(FaultKind) - {FaultKind.OUTAGE})
        if fault is not None:
            raise _fault_error(fault)
        if is_send(method):
            wait = state.rate_limit.admit(chat_id, time.monotonic())
            if wait is not None:
                raise retry_after_error(wait)
        if method == "getUpdates":
            return _ok(await _get_updates(state, params))
        return _ok(methods.call(state, method, spec.return_types(method), params, uploads))
    except ApiError as error:
        return _error(error)


async def file_download(request: web.Request) -> web.StreamResponse:
    """Where getFile's file_path points, as on api.telegram.org/file/bot<token>/<path>."""
    if not _token_matches(request):
        raise web.HTTPUnauthorized()
    state = request.app[STATE_KEY]
    path = request.match_info["path"]
    for stored in state.files.values():
        if stored.file_path() == path:
            return web.Response(body=stored.data, content_type=stored.mime_type)
    raise web.HTTPNotFound()


# ====================================================================== the control API
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
    toast = next(
        (t for t in state.chats[query.chat_id].toasts if t.callback_query_id == query.id), None
    )
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


@web.middleware
async def local_only(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse other Host names, so a web page cannot reach the sandbox by DNS rebinding."""
    host = (request.host or "").rsplit(":", 1)[0].strip("[]")
    if host not in _LOCAL_HOSTS:
        raise web.HTTPMisdirectedRequest(text="the sandbox answers on localhost only")
    return await handler(request)


_READS = frozenset({"GET", "HEAD"})


@web.middleware
async def control_header_required(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A form on another web site can POST here, but it cannot add a custom header."""
    if (
        request.path.startswith("/sandbox/api/")
        and request.method not in _READS
        and not request.headers.get(CONTROL_HEADER)
    ):
        raise web.HTTPForbidden(text=f"changes need the {CONTROL_HEADER} header")
    return await handler(request)


async def _deliver_webhooks(app: web.Application) -> AsyncIterator[None]:
    async with delivering(app[STATE_KEY]):
        yield


def create_app(
    state: SandboxState | None = None,
    *,
    on_due_now: DueNowHook | None = None,
    display_timezone: str = "UTC",
    token: str | None = None,
) -> web.Application:
    """The sandbox app. ``token`` is the only token the Bot API accepts (else 401); without
    one, a random token is made (read it back as ``app[TOKEN_KEY]``)."""
    ZoneInfo(display_timezone)  # fail now, not on the first clock request
    if token is not None and not _TOKEN.match(token):
        raise ValueError("a bot token looks like 123:ABC")
    app = web.Application(
        client_max_size=MAX_BODY, middlewares=[local_only, control_header_required]
    )
    app[STATE_KEY] = state if state is not None else SandboxState()
    app[SPEC_KEY] = BotApiSpec.load()
    app[HOOK_KEY] = on_due_now
    app[TZ_KEY] = display_timezone
    app[TOKEN_KEY] = token or new_token()
    app.cleanup_ctx.append(_deliver_webhooks)
    r = app.router
    r.add_route("*", r"/bot{token}/{method}", bot_api)
    r.add_get(r"/file/bot{token}/{path:.+}", file_download)
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
    return app


@dataclass
class RunningServer:
    runner: web.AppRunner
    url: str
    state: SandboxState
    token: str  # this run's bot token: the only one the Bot API takes

    @property
    def bot_api_url(self) -> str:
        """What the bot's ``base_url`` is set to; PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def bot_file_url(self) -> str:
        """What the bot's ``base_file_url`` is set to, for downloads after getFile."""
        return f"{self.url}/file/bot"

    async def close(self) -> None:
        await self.runner.cleanup()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def start_server(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    state: SandboxState | None = None,
    on_due_now: DueNowHook | None = None,
    display_timezone: str = "UTC",
    token: str | None = None,
    webhook_targets: Sequence[str] = (),
) -> RunningServer:
    """Serve the sandbox on a loopback address; ``port=0`` picks a free port.

    Without ``token`` a random one is made: read it as ``RunningServer.token``.
    ``webhook_targets`` are the bot instances behind the webhook URL (see webhook.py).
    OSError (a port in use) is raised as it is; the caller words it for people.
    """
    if not _is_loopback(host):
        raise ValueError(f"the sandbox binds to loopback only, not {host!r}")
    if not all(is_local_url(t) for t in webhook_targets):
        raise ValueError("webhook targets must be URLs on this computer")
    state = state if state is not None else SandboxState()
    state.webhook_targets = list(webhook_targets)
    app = create_app(state, on_due_now=on_due_now, display_timezone=display_timezone, token=token)
    # Long polls may be abandoned by a killed bot; shutting down must not wait for them.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return RunningServer(
        runner=runner, url=f"http://{shown}:{bound_port}", state=state, token=app[TOKEN_KEY]
    )
