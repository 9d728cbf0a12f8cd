"""What the sandbox's aiohttp app holds, shared by its routes and its start-up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from reminderbot.botapi.spec import BotApiSpec
from reminderbot.sandbox.state import SandboxState

# "Make this person's next reminder due now": the page's demo button (see due_now.py).
DueNowHook = Callable[[int], Awaitable[str]]

STATE_KEY = web.AppKey("sandbox_state", SandboxState)
SPEC_KEY = web.AppKey("sandbox_spec", BotApiSpec)
HOOK_KEY = web.AppKey("sandbox_due_now", object)
TZ_KEY = web.AppKey("sandbox_timezone", str)
TOKEN_KEY = web.AppKey("sandbox_token", str)
