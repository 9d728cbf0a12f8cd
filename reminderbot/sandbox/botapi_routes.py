"""The Bot API routes: ``/bot<token>/<method>`` and ``/file/bot<token>/<path>``.

They speak the Bot API as python-telegram-bot uses it (form, multipart and JSON bodies;
long-polling getUpdates) and refuse, like the offline test double, every call the spec does not
allow. Only this run's random token is accepted: PTB sends forms and multipart, which a web page
elsewhere can make a browser POST, so the secret has to be in the path, as Telegram has it.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from reminderbot.sandbox import api
from reminderbot.sandbox.app_keys import SPEC_KEY, STATE_KEY, TOKEN_KEY
from reminderbot.sandbox.methods import Upload
from reminderbot.sandbox.state import ApiError, Fault, JsonDict, OutageMode

TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
MAX_HANG_SECONDS = 60.0


def _token_matches(request: web.Request) -> bool:
    # As bytes: compare_digest refuses non-ASCII str, and a path can hold anything.
    given = request.match_info["token"].encode()
    return secrets.compare_digest(given, request.app[TOKEN_KEY].encode())


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
    record = state.record_call(method or name, _loggable(raw, uploads), api.chat_id_of(raw))
    outcome = await api.answer(
        state,
        spec,
        method or name,
        raw,
        uploads,
        wire=request.content_type != "application/json",
    )
    if outcome.outage is not None:
        response = await _outage(request, outcome.outage)
    else:
        response = web.json_response(outcome.body(), status=outcome.status)
    record.status = response.status
    if outcome.error is not None:
        record.description = outcome.error.description
        record.retry_after = outcome.error.retry_after
    state.touch()
    return response


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
