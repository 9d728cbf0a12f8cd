"""The Bot API routes: ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``.

They speak the Bot API as python-telegram-bot uses it (form, multipart and JSON bodies;
long-polling getUpdates) and refuse, like the offline test double, every call the spec does not
allow. Only this run's random token is accepted: PTB sends forms and multipart, which a web page
elsewhere can make a browser POST, so the secret has to be in the path, as Telegram has it.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from reminderbot.botapi.spec import BotApiSpec, BotApiViolation
from reminderbot.sandbox import methods
from reminderbot.sandbox.app_keys import SPEC_KEY, STATE_KEY, TOKEN_KEY
from reminderbot.sandbox.methods import Upload
from reminderbot.sandbox.state import (
    ApiError,
    Fault,
    FaultKind,
    JsonDict,
    OutageMode,
    SandboxState,
    is_send,
    retry_after_error,
)

TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
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


def _token_matches(request: web.Request) -> bool:
    # As bytes: compare_digest refuses non-ASCII str, and a path can hold anything.
    given = request.match_info["token"].encode()
    return secrets.compare_digest(given, request.app[TOKEN_KEY].encode())


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(error: ApiError) -> web.Response:
    return web.json_response(error.payload(), status=error.status)


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
    if not TOKEN_PATTERN.match(request.match_info["token"]):
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


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_route("*", r"/bot{token}/{method}", bot_api)
    router.add_get(r"/file/bot{token}/{path:.+}", file_download)
