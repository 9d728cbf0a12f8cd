"""The sandbox app: a local Telegram Bot API server, its control API and the page (aiohttp,
loopback only), wired and started here.

``botapi_routes`` serves ``/bot<token>/<method>`` as Telegram would; ``control_routes`` lets the
page and tests act as the people in the chats and inject faults (``/sandbox/api/...``), and serves
the page (``/``). The shared state is ``state.SandboxState``; what each method does is in
``methods`` (through ``api.answer``, which the offline test double calls too).

Nothing a web page elsewhere can send changes anything here. A page can make the browser POST a
form to any address, so: the Bot API takes only this run's random token (see botapi_routes), and
every change through the control API needs the ``X-Sandbox-Control`` header, which a browser
sends cross-site only after a CORS preflight that this server never grants. Other Host names are
refused (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from aiohttp import web

from reminderbot.botapi.spec import BotApiSpec
from reminderbot.sandbox import botapi_routes, control_routes
from reminderbot.sandbox.app_keys import (
    HOOK_KEY,
    SPEC_KEY,
    STATE_KEY,
    TOKEN_KEY,
    TZ_KEY,
    DueNowHook,
)
from reminderbot.sandbox.state import BOT_USER, SandboxState
from reminderbot.sandbox.webhook import delivering, is_local_url

__all__ = ["CONTROL_HEADER", "DueNowHook", "RunningServer", "create_app", "start_server"]

# Every change through the control API carries this header (the page's fetch sets it).
CONTROL_HEADER = "X-Sandbox-Control"

# Telegram accepts uploads up to 50 MB.
MAX_BODY = 50 * 1024 * 1024
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def new_token() -> str:
    """A bot token for one run: the sandbox bot's id, then a secret no web page can guess."""
    return f"{BOT_USER['id']}:{secrets.token_urlsafe(24)}"


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
    if token is not None and not botapi_routes.TOKEN_PATTERN.match(token):
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
    botapi_routes.add_routes(app.router)
    control_routes.add_routes(app.router)
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
