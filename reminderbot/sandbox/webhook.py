"""Webhook delivery: the sandbox POSTs updates to the bot, as Telegram and a load balancer would.

Every instance of the bot sets the same public URL with setWebhook; in real life a load balancer
spreads the POSTs over the instances behind it. Here those instances are
``SandboxState.webhook_targets``: each update goes to the next one in turn, and when one refuses
the connection (it is down) the same update goes to the one after it. An instance that answers
with anything but 2xx has answered: the update stays pending and is sent again later, as Telegram
does. One chat's updates are delivered one at a time and in order; different chats' updates go
out concurrently, up to setWebhook's ``max_connections``.

Delivery goes to this computer only: the sandbox never calls a URL elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp

from reminderbot.sandbox.state import JsonDict, SandboxState, WebhookAttempt, update_chat_id

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram waits longer, but an instance that takes this long locally is stuck.
REQUEST_SECONDS = 10.0
# Telegram retries a failed update later, backing off; the sandbox keeps it short.
FIRST_RETRY_SECONDS = 0.5
LAST_RETRY_SECONDS = 5.0
IDLE_SECONDS = 1.0
NOT_LOCAL = (
    "the sandbox delivers only to instances on this computer; "
    "give their URLs with PUT /sandbox/api/webhook/targets"
)


def is_local_url(url: str) -> bool:
    """An http(s) URL on a loopback address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


class WebhookDelivery:
    """Runs beside the Bot API server while it is up; all state lives in ``SandboxState``."""

    def __init__(self, state: SandboxState, session: aiohttp.ClientSession) -> None:
        self._state = state
        self._session = session
        self._turn = 0  # round robin: where the next update starts
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._failures: dict[int, int] = {}
        self._retry_at: dict[int, float] = {}  # update_id -> time.monotonic()
        self._targets: list[str] = []

    async def run(self) -> None:
        state = self._state
        while True:
            version = state.version
            wait = IDLE_SECONDS
            if state.webhook_url:
                try:
                    wait = self._dispatch()
                except Exception as exc:  # a sandbox bug must not end delivery for good
                    log.error("webhook delivery failed: %s", type(exc).__name__)
            await state.wait_changed(version, wait)

    async def close(self) -> None:
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _dispatch(self) -> float:
        """Start every delivery that may start now; return how long until one may be retried."""
        state = self._state
        targets = list(state.webhook_targets) or [state.webhook_url]
        if not all(is_local_url(t) for t in targets):
            state.webhook_error(NOT_LOCAL)
            return IDLE_SECONDS
        if targets != self._targets:  # a new set of instances is worth trying at once
            self._targets = targets
            self._retry_at.clear()
        now = time.monotonic()
        wait = IDLE_SECONDS
        queued: set[int] = set()  # chats with an earlier update still undelivered
        for update in state.pending_updates():
            update_id = int(update["update_id"])
            chat_id = update_chat_id(update)
            if chat_id is not None:
                if chat_id in queued:
                    continue
                queued.add(chat_id)
            if update_id in self._in_flight:
                continue
            retry_at = self._retry_at.get(update_id, 0.0)
            if retry_at > now:
                wait = min(wait, retry_at - now)
                continue
            if len(self._in_flight) >= state.webhook_max_connections:
                break
            self._in_flight[update_id] = asyncio.create_task(self._deliver(update, targets))
        return wait

    async def _deliver(self, update: JsonDict, targets: list[str]) -> None:
        update_id = int(update["update_id"])
        try:
            attempts = await self._post(update, targets)
        finally:
            self._in_flight.pop(update_id, None)
        delivered = bool(attempts) and attempts[-1].delivered
        if delivered:
            self._failures.pop(update_id, None)
            self._retry_at.pop(update_id, None)
        else:
            failures = self._failures[update_id] = self._failures.get(update_id, 0) + 1
            delay = min(FIRST_RETRY_SECONDS * 2 ** (failures - 1), LAST_RETRY_SECONDS)
            self._retry_at[update_id] = time.monotonic() + delay
        for attempt in attempts:
            self._state.record_webhook_attempt(attempt)
        if delivered:
            self._state.confirm_update(update_id)

    async def _post(self, update: JsonDict, targets: list[str]) -> list[WebhookAttempt]:
        """One round: the next instance in turn, then the others while they refuse to connect."""
        start = self._turn % len(targets)
        self._turn += 1
        headers = {"Content-Type": "application/json"}
        if self._state.webhook_secret:
            headers[SECRET_HEADER] = self._state.webhook_secret
        body = json.dumps(update)
        attempts: list[WebhookAttempt] = []
        for step in range(len(targets)):
            target = targets[(start + step) % len(targets)]
            attempt = WebhookAttempt(int(update["update_id"]), target, time.time())
            attempts.append(attempt)
            try:
                async with self._session.post(target, data=body, headers=headers) as response:
                    await response.read()
                    attempt.status = response.status
                    if not attempt.delivered:
                        attempt.error = (
                            f"Wrong response from the webhook: {response.status} {response.reason}"
                        )
                return attempts
            except aiohttp.ClientConnectorError:
                attempt.error = "Connection refused"  # down: the balancer tries the next one
            except (aiohttp.ClientError, TimeoutError) as exc:
                # It got the request and then failed: Telegram sends the update again later.
                attempt.error = f"Connection failed ({type(exc).__name__})"
                return attempts
        return attempts


@contextlib.asynccontextmanager
async def delivering(state: SandboxState) -> AsyncIterator[WebhookDelivery]:
    """Deliver webhook updates for as long as the context is open."""
    timeout = aiohttp.ClientTimeout(total=REQUEST_SECONDS)
    # A fresh connection per update: a kept-alive one to an instance that has since died would
    # fail as a reset, not as the refused connection that tells "down" from "failed".
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        delivery = WebhookDelivery(state, session)
        task = asyncio.create_task(delivery.run())
        try:
            yield delivery
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await delivery.close()
